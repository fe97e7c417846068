// Child process for test/key-memory.test.ts: runs one library call, collects garbage, then
// scans its own memory (/proc/self/maps, /proc/self/mem) for the message's derived AES key.
// It is given only an 8-byte anchor and the SHA-256 of the key, never the key itself, so the
// only full copies it can find are ones the library (or the "keep" control) left behind.
// argv: mode inputKeyHex saltHex anchorHex sha256Hex; prints one JSON line.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('../..', import.meta.url);
register(pathToFileURL(join(root.pathname, 'src/pipeline/ts-hooks.mjs')).href, import.meta.url);
const src = (f) => import(pathToFileURL(join(root.pathname, 'src', f)).href);
const { seal, open } = await src('index.ts');
const { TEST_SALT } = await src('format.ts');
const { deriveKeys } = await src('cobblestone.ts');

const [mode, keyHex, saltHex, anchorHex, hashHex] = process.argv.slice(2);
const inputKey = new Uint8Array(Buffer.from(keyHex, 'hex'));
const salt = new Uint8Array(Buffer.from(saltHex, 'hex'));
const plain = new Uint8Array(5 * 16384 + 77).fill(7);
const kept = [];

if (mode === 'seal' || mode === 'seal-threads') {
  const threads = mode === 'seal' ? 1 : 2;
  await seal(inputKey, plain, { threads, slotBytes: 16384, [TEST_SALT]: salt });
} else if (mode === 'open') {
  const sealed = await seal(inputKey, plain, { threads: 1, [TEST_SALT]: salt });
  await open(inputKey, sealed, { threads: 1 });
} else if (mode === 'keep') {
  // Control: the library call, then a deliberately kept copy of the derived key.
  await seal(inputKey, plain, { threads: 1, [TEST_SALT]: salt });
  kept.push(deriveKeys('cobblestone-256', inputKey, salt, new Uint8Array(0)));
} else if (mode === 'js-derive') {
  // The old code path: HKDF in JS, its result dropped (not wiped) as the old seal() did.
  const d = deriveKeys('cobblestone-256', inputKey, salt, new Uint8Array(0));
  d.baseNonce.fill(0);
} else {
  throw new Error(`unknown mode ${mode}`);
}
// Let pool workers receive their stream-close broadcast, then collect garbage.
await new Promise((r) => setTimeout(r, 200));
for (let i = 0; i < 4; i++) {
  globalThis.gc();
  await new Promise((r) => setImmediate(r));
}

const anchor = Buffer.from(anchorHex, 'hex');
const CHUNK = 8 << 20;
const buf = Buffer.alloc(CHUNK + 64);
const fd = openSync('/proc/self/mem', 'r');
let found = 0;
let scanned = 0;
for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
  const m = /^([0-9a-f]+)-([0-9a-f]+) (r)/.exec(line);
  if (!m || line.endsWith('[vvar]') || line.endsWith('[vsyscall]')) continue;
  const start = parseInt(m[1], 16);
  const end = parseInt(m[2], 16);
  // Windows overlap by 31 bytes, so a key across a window edge is seen whole once.
  for (let at = start; at < end; at += CHUNK) {
    const want = Math.min(CHUNK + 31, end - at);
    let got;
    try {
      got = readSync(fd, buf, 0, want, at);
    } catch {
      break; // an unreadable mapping (guard pages, device memory)
    }
    scanned += got;
    for (let i = buf.indexOf(anchor, 0); i >= 0 && i + 32 <= got; i = buf.indexOf(anchor, i + 1)) {
      if (createHash('sha256').update(buf.subarray(i, i + 32)).digest('hex') === hashHex) found++;
    }
  }
}
closeSync(fd);
buf.fill(0);
process.stdout.write(JSON.stringify({ mode, found, scannedMiB: Math.round(scanned / 2 ** 20), kept: kept.length }) + '\n');
