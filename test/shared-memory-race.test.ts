/**
 * Shared memory written during the call (issue 13; native/gcm.h "read once"). A worker thread
 * keeps toggling bytes of a SharedArrayBuffer while this thread seals or opens through it, on
 * every kernel this CPU runs and on noble and node:crypto:
 *   - gcmOpen / open() over a shared sealed input: a result that verifies must be the
 *     plaintext (the tag only covers the original ciphertext, so anything else was decrypted
 *     from bytes it did not authenticate);
 *   - gcmSeal / seal() over a shared plaintext: the (private) result must open, to the
 *     plaintext give or take the toggled bit;
 *   - GcmKey.seal and rawSeal into a shared output: the tag must be the one for the ciphertext
 *     the backend wrote (the same every call), not for bytes another thread put there.
 * Each case runs for a bounded time (WEIGHTSEAL_RACE_MS, default 1000) and logs its counts;
 * any verified-but-wrong result fails it. The native race test (native/test/race_test.cc)
 * adds preemption at random points, which a JS test cannot.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/index.js';
import { gcmOpen, gcmSeal, rawSeal } from '../src/hazmat.js';
import { isWeightsealError } from '../src/errors.js';
import { open, seal } from '../src/stream-api.js';
import { HEADER_BYTES } from '../src/cobblestone.js';
import { allCases } from './helpers/backends.js';
import { bytes, equal, shared } from './pipeline-helpers.js';

const RUN_MS = Number(process.env.WEIGHTSEAL_RACE_MS ?? 1000);
// Two groups of the widest kernel (512 bytes) and a 100-byte tail every kernel takes through
// its tail path.
const LEN = 2 * 512 + 100;
const KEY = new Uint8Array(randomBytes(32));
const NONCE = new Uint8Array(randomBytes(12));
const AAD = new Uint8Array(randomBytes(20));
const PT = bytes(LEN, 13);

/** One byte in each 16-byte block (varying position within it), so every lane of every group and the tail. */
function blockOffsets(base: number, len: number): number[] {
  const offs: number[] = [];
  for (let b = 0; 16 * b < len; b++) offs.push(base + Math.min(16 * b + ((7 * b) % 16), len - 1));
  return offs;
}

// The toggler: one offset at a time for a slice of the run (so an open still verifies about
// half the time), or all at once (a seal's output, where any read-back shows in the tag).
// Every toggled byte is back to its original value when it stops.
const TOGGLER = `
const { workerData, parentPort } = require('node:worker_threads');
const { buf, ctl, offsets, sliceMs } = workerData;
const mem = new Uint8Array(buf);
const c = new Int32Array(ctl);
const all = sliceMs <= 0;
let n = 0;
parentPort.postMessage('ready');
for (let i = 0; Atomics.load(c, 0) === 0; i = (i + 1) % offsets.length) {
  const set = all ? offsets : [offsets[i]];
  const until = performance.now() + sliceMs;
  do {
    for (let k = 0; k < 512; k++) for (const o of set) Atomics.xor(mem, o, 1);
    n += 512;
  } while ((all || performance.now() < until) && Atomics.load(c, 0) === 0);
}
Atomics.store(c, 1, Math.min(n, 2 ** 31 - 1));
parentPort.postMessage('done');
`;

interface Counts { calls: number; verified: number; rejected: number; wrong: number; toggles: number }

/** Runs `call` repeatedly for RUN_MS while a worker toggles `offsets` of `target`. */
async function race(target: Uint8Array, offsets: number[], oneAtATime: boolean,
  call: (c: Counts) => void | Promise<void>): Promise<Counts> {
  const ctl = new SharedArrayBuffer(8);
  const w = new Worker(TOGGLER, {
    eval: true,
    workerData: {
      buf: target.buffer, ctl, offsets: offsets.map((o) => o + target.byteOffset),
      sliceMs: oneAtATime ? RUN_MS / offsets.length : 0,
    },
  });
  await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  const c: Counts = { calls: 0, verified: 0, rejected: 0, wrong: 0, toggles: 0 };
  const end = performance.now() + RUN_MS;
  try {
    while (performance.now() < end) {
      for (let i = 0; i < 16; i++) {
        c.calls++;
        await call(c);
      }
      // Sync calls never reach the event loop on their own; let the runner's IPC through.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    Atomics.store(new Int32Array(ctl), 0, 1);
    await new Promise((resolve) => w.once('message', resolve));
    await w.terminate();
  }
  c.toggles = new Int32Array(ctl)[1]!;
  return c;
}

const log: string[] = [];
function report(label: string, what: string, c: Counts): void {
  const line = `${label.padEnd(15)} ${what.padEnd(34)} ${String(c.calls).padStart(7)} calls ` +
    `${String(c.verified).padStart(7)} verified ${String(c.rejected).padStart(7)} rejected ` +
    `${String(c.wrong).padStart(3)} WRONG (${c.toggles} toggles)`;
  log.push(line);
  console.log(`shared-memory race: ${line}`);
}
afterAll(() => {
  if (log.length) console.log(`shared-memory race summary (${RUN_MS} ms per case):\n  ${log.join('\n  ')}`);
});

/** Reference open with node:crypto on private memory: the plaintext, or null if the tag fails. */
function refOpen(sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  const n = sealed.length - 16;
  const d = createDecipheriv('aes-256-gcm', KEY, NONCE);
  d.setAuthTag(sealed.subarray(n));
  d.setAAD(aad);
  const body = d.update(sealed.subarray(0, n));
  try {
    d.final();
  } catch {
    return null;
  }
  return new Uint8Array(body);
}

/** Equal to PT except maybe bit 0 of the toggled offsets. */
function plaintextUpToToggles(got: Uint8Array | null, offsets: Set<number>): boolean {
  if (!got || got.length !== LEN) return false;
  for (let i = 0; i < LEN; i++) {
    const diff = got[i]! ^ PT[i]!;
    if (diff !== 0 && (diff !== 1 || !offsets.has(i))) return false;
  }
  return true;
}

function sealRef(aad: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', KEY, NONCE);
  c.setAAD(aad);
  return new Uint8Array(Buffer.concat([c.update(PT), c.final(), c.getAuthTag()]));
}

function expectSound(c: Counts, needVerified: boolean): void {
  expect(c.wrong).toBe(0);
  expect(c.calls).toBeGreaterThan(0);
  expect(c.toggles).toBeGreaterThan(0);
  if (needVerified) expect(c.verified).toBeGreaterThan(0);
}

const TIMEOUT = RUN_MS + 30_000;

describe.each(allCases())('shared memory written during calls: $label', ({ label, backend }: { label: string; backend: Backend }) => {
  it('gcmOpen over a shared input never verifies bytes it did not decrypt', async () => {
    const sealed = shared(sealRef(AAD));
    const offs = blockOffsets(0, LEN);
    const c = await race(sealed, offs, true, (c) => {
      let pt: Uint8Array;
      try {
        pt = gcmOpen(KEY, NONCE, sealed, AAD, { backend });
      } catch (e) {
        if (!isWeightsealError(e) || e.code !== 'ERR_AUTH_FAILED') throw e;
        c.rejected++;
        return;
      }
      c.verified++;
      if (!equal(pt, PT)) c.wrong++;
    });
    report(label, 'gcmOpen, shared input', c);
    expectSound(c, true);
  }, TIMEOUT);

  it('gcmSeal over a shared input returns a message that opens', async () => {
    const pt = shared(PT);
    const offs = blockOffsets(0, LEN);
    const offSet = new Set(offs);
    const c = await race(pt, offs, true, (c) => {
      const out = gcmSeal(KEY, NONCE, pt, AAD, { backend });
      const back = refOpen(out, AAD);
      if (back) c.verified++;
      if (!plaintextUpToToggles(back, offSet)) c.wrong++;
    });
    report(label, 'gcmSeal, shared input', c);
    expectSound(c, true);
  }, TIMEOUT);

  it('GcmKey.seal into a shared output tags the ciphertext it wrote', async () => {
    const want = sealRef(AAD);
    const out = shared(new Uint8Array(LEN + 16));
    const gk = backend.importKey(KEY);
    try {
      // Only the ciphertext toggles; the tag bytes are the backend's alone.
      const c = await race(out, blockOffsets(0, LEN), false, (c) => {
        gk.seal(NONCE, AAD, PT, out);
        if (!equal(out.subarray(LEN), want.subarray(LEN))) c.wrong++;
      });
      report(label, 'GcmKey.seal, shared output', c);
      expectSound(c, false);
    } finally {
      gk.destroy();
    }
  }, TIMEOUT);

  it('rawSeal into a shared output tags the ciphertext it wrote', async () => {
    const base = NONCE;
    const want = rawSeal(KEY, base, PT, { backend: 'node' });
    const out = shared(new Uint8Array(want.length));
    const c = await race(out, blockOffsets(0, LEN), false, (c) => {
      rawSeal(KEY, base, PT, { backend, output: out });
      if (!equal(out.subarray(LEN), want.subarray(LEN))) c.wrong++;
    });
    report(label, 'rawSeal, shared output', c);
    expectSound(c, false);
  }, TIMEOUT);

  it('open() over a shared input never verifies bytes it did not decrypt', async () => {
    const sealed = shared(await seal(KEY, PT, { backend: 'node', threads: 1 }));
    const offs = blockOffsets(HEADER_BYTES, LEN);
    const c = await race(sealed, offs, true, async (c) => {
      let pt: Uint8Array;
      try {
        pt = await open(KEY, sealed, { backend, threads: 1 });
      } catch (e) {
        if (!isWeightsealError(e) || e.code !== 'ERR_AUTH_FAILED') throw e;
        c.rejected++;
        return;
      }
      c.verified++;
      if (!equal(pt, PT)) c.wrong++;
    });
    report(label, 'open(), shared input', c);
    expectSound(c, true);
  }, TIMEOUT);

  it('seal() over a shared input returns a message that opens', async () => {
    const pt = shared(PT);
    const offs = blockOffsets(0, LEN);
    const offSet = new Set(offs);
    const c = await race(pt, offs, true, async (c) => {
      const out = await seal(KEY, pt, { backend, threads: 1 });
      let back: Uint8Array | null = null;
      try {
        back = await open(KEY, out, { backend: 'node', threads: 1 });
        c.verified++;
      } catch (e) {
        if (!isWeightsealError(e)) throw e;
      }
      if (!plaintextUpToToggles(back, offSet)) c.wrong++;
    });
    report(label, 'seal(), shared input', c);
    expectSound(c, true);
  }, TIMEOUT);
});
