/**
 * Item 5 of issue 13: no derived key in process memory after a call. A child process seals
 * (or opens) under a known input key and salt, collects garbage, and scans every readable
 * mapping of its own memory for the message's derived AES key (helpers/memscan-child.mjs).
 * The control keeps a copy on purpose and must be found, so the scan can fail.
 */
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addonStatus } from '../src/backend/addon.js';
import { supportedKernels } from '../src/backend/native.js';
import { nativeDerivation } from '../src/derived.js';

const CHILD = fileURLToPath(new URL('./helpers/memscan-child.mjs', import.meta.url));
const canScan = process.platform === 'linux' && existsSync('/proc/self/mem');
const native = addonStatus().addon !== null && nativeDerivation();

interface Scan { mode: string; found: number; scannedMiB: number }

/** The cobblestone-256 key for (input key, salt, empty context), computed here, not in the child. */
function derivedKey(inputKey: Buffer, salt: Buffer): Buffer {
  const info = Buffer.concat([Buffer.from('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0'), salt]);
  return createHmac('sha512', inputKey).update(info).update(Buffer.from([1])).digest().subarray(0, 32);
}

function scan(mode: string, env: Record<string, string> = {}): Promise<Scan> {
  const inputKey = randomBytes(32);
  const salt = randomBytes(24);
  const key = derivedKey(inputKey, salt);
  const args = [inputKey, salt, key.subarray(0, 8)].map((b) => b.toString('hex'));
  args.push(createHash('sha256').update(key).digest('hex'));
  key.fill(0);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', CHILD, mode, ...args], {
      env: { ...process.env, WEIGHTSEAL_QUIET: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`memscan child (${mode}) exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as Scan);
    });
  });
}

describe.runIf(canScan)('derived keys in process memory (/proc/self/mem scan)', () => {
  it('the scan finds a derived key the caller keeps (control: the scan can fail)', async () => {
    const r = await scan('keep');
    expect(r.scannedMiB).toBeGreaterThan(10);
    expect(r.found).toBeGreaterThan(0);
  });

  it('reports what the JS reference derivation (the old seal() path) leaves behind', async () => {
    const r = await scan('js-derive');
    // Not asserted: whether a dropped heap copy survives depends on the collector. Seen: found 2.
    console.log(`JS HKDF, result dropped unwiped: ${r.found} copies of the derived key in ${r.scannedMiB} MiB`);
  });

  it.runIf(native).each(supportedKernels())('seal() on %s leaves no copy of the derived key', async (kernel) => {
    const r = await scan('seal', { WEIGHTSEAL_KERNEL: kernel });
    expect(r.scannedMiB).toBeGreaterThan(10);
    expect(r.found).toBe(0);
  });

  it.runIf(native)('seal() on 2 pool threads (key slot, worker import) leaves no copy', async () => {
    expect((await scan('seal-threads')).found).toBe(0);
  });

  it.runIf(native)('open() leaves no copy', async () => {
    expect((await scan('open')).found).toBe(0);
  });

  it('without the addon (noble): reported, not asserted (README: what JS cannot wipe)', async () => {
    const r = await scan('seal', { WEIGHTSEAL_DISABLE_NATIVE: '1' });
    console.log(`noble fallback seal(): ${r.found} copies of the derived key in ${r.scannedMiB} MiB`);
  });
});

it.skipIf(native)('native key derivation needs the addon (skipped checks above say so)', () => {
  expect(native).toBe(false);
});
