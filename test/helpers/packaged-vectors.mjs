// Runs inside a foreign Node (an arm64 Node under qemu-aarch64, this machine's Node under
// qemu-x86_64 -cpu Haswell) against an installed weightseal package, with no test runner:
//   node packaged-vectors.mjs <package dir> <vectors dir> [kernel to force afterwards]
// On the default backend: Wycheproof AES-GCM (128/256-bit keys, 16-byte tags), both C2SP
// Cobblestone suites, and seal/open round trips at chunk-boundary sizes checked against
// node:crypto. Prints one JSON line: what loaded, pass/fail counts with the first failures, and
// what `weightseal doctor` says there.
// Plain JavaScript on purpose: it runs where neither vitest nor TypeScript is installed.
import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';

const [pkg, vectors, force] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(join(pkg, 'dist', 'src', p)).href);
const { info, seal, open } = await load('index.js');
const { gcmOpen, gcmSeal } = await load('hazmat.js');
const { openInline } = await load('format.js');
const { doctor, formatDoctor } = await load('cli/doctor.js');

const counts = { wycheproof: [0, 0], c2sp: [0, 0], roundtrip: [0, 0] };
const failures = [];
function record(suite, ok, what) {
  counts[suite][ok ? 0 : 1]++;
  if (!ok && failures.length < 5) failures.push(`${suite}: ${what}`);
}
const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b) => Buffer.from(b).toString('hex');
function code(f) {
  try {
    f();
    return 'none';
  } catch (e) {
    return e.code ?? String(e);
  }
}

const gcm = JSON.parse(readFileSync(join(vectors, 'aes_gcm_test.json'), 'utf8'));
for (const g of gcm.testGroups) {
  if (g.tagSize !== 128 || (g.keySize !== 128 && g.keySize !== 256)) continue;
  for (const t of g.tests) {
    const key = hex(t.key), iv = hex(t.iv), aad = hex(t.aad), sealed = hex(t.ct + t.tag);
    if (iv.length === 0) continue;
    const what = `tcId ${t.tcId}`;
    if (t.result === 'valid') {
      record('wycheproof', toHex(gcmOpen(key, iv, sealed, aad)) === t.msg, `${what} open`);
      record('wycheproof', toHex(gcmSeal(key, iv, hex(t.msg), aad)) === t.ct + t.tag, `${what} seal`);
    } else {
      record('wycheproof', code(() => gcmOpen(key, iv, sealed, aad)) === 'ERR_AUTH_FAILED', `${what} accepted`);
    }
  }
}

for (const [suite, file] of [['cobblestone-128', 'c2sp_chunked_encryption_aes_128_gcm_test.json'],
  ['cobblestone-256', 'c2sp_chunked_encryption_aes_256_gcm_test.json']]) {
  for (const g of JSON.parse(readFileSync(join(vectors, file), 'utf8')).testGroups) {
    for (const t of g.tests) {
      const ct = new Uint8Array(inflateSync(Buffer.from(t.ct, 'hex')));
      const opts = { suite, context: hex(t.ctx) };
      const what = `${suite} #${t.tcId} ${t.comment}`;
      if (t.result === 'valid') {
        let ok = false;
        try {
          const out = openInline(hex(t.key), ct, opts);
          ok = out.length === t.msgLength &&
            createHash('sha512').update(out).digest('hex') === t.msgSha512.toLowerCase();
        } catch {
          ok = false;
        }
        record('c2sp', ok, what);
      } else {
        const c = code(() => openInline(hex(t.key), ct, opts));
        record('c2sp', c !== 'none' && c.startsWith('ERR_'), `${what} gave ${c}`);
      }
    }
  }
}

// Round trips through the public API, the sealed chunks checked with node:crypto.
for (const suite of ['cobblestone-128', 'cobblestone-256']) {
  for (const n of [0, 1, 16383, 16384, 16385, 3 * 16384 + 100, 1 << 20]) {
    const key = randomBytes(suite === 'cobblestone-128' ? 16 : 32), data = randomBytes(n);
    const sealed = await seal(key, data, { suite, threads: 1 });
    const back = await open(key, sealed, { suite, threads: 1 });
    record('roundtrip', Buffer.from(back).equals(data), `${suite} ${n} bytes`);
  }
}
// One-shot GCM against node:crypto at sizes around the 8- and 16-block groups.
for (const n of [0, 15, 16, 127, 128, 129, 255, 256, 257, 1000, 65537]) {
  for (const keyLen of [16, 32]) {
    const key = randomBytes(keyLen), iv = randomBytes(12), data = randomBytes(n);
    const sealed = gcmSeal(key, iv, data, new Uint8Array(0));
    const d = createDecipheriv(`aes-${keyLen * 8}-gcm`, key, iv);
    d.setAuthTag(sealed.subarray(n));
    let ok;
    try {
      ok = Buffer.concat([d.update(sealed.subarray(0, n)), d.final()]).equals(data);
    } catch {
      ok = false;
    }
    record('roundtrip', ok, `gcm ${keyLen * 8} ${n} bytes vs node:crypto`);
  }
}

const i = info();
const doctorText = formatDoctor(doctor());
// Then WEIGHTSEAL_KERNEL (read per call) forcing a kernel, checked on one message.
let forced = null;
if (force) {
  process.env.WEIGHTSEAL_KERNEL = force;
  const key = randomBytes(32), iv = randomBytes(12), data = randomBytes(5000);
  const sealed = gcmSeal(key, iv, data, new Uint8Array(0));
  forced = { kernel: info().kernel, same: Buffer.from(gcmOpen(key, iv, sealed, new Uint8Array(0))).equals(data) };
}
console.log(JSON.stringify({
  arch: process.arch, backend: i.backend, kernel: i.kernel, source: i.addon.source, reason: i.addon.reason,
  errors: i.addon.errors, kernels: i.kernels, counts, failures, forced, doctor: doctorText,
}));
