/**
 * The fast paths, by behaviour (never by speed): `into` outputs (exact length, no overlap,
 * nothing output-sized allocated per call), the inline threshold, ordinary Buffers read in
 * place by the addon's threads, the event loop kept responsive and abort honoured on one
 * thread, what an abort wipes, and option limits checked before any output.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { addonStatus } from '../src/backend/addon.js';
import { nativeBackend, nodeBackend } from '../src/backend/index.js';
import { supportedKernels } from '../src/backend/native.js';
import { MemorySource } from '../src/io/sources.js';
import { PART_CHUNKS, partsFor } from '../src/pipeline/native-pool.js';
import { DEFAULT_MAX_RING_BYTES, DEFAULT_SLOT_BYTES, INLINE_BYTES, defaultInflight, slotRingBytes } from '../src/pipeline/options.js';
import { poolStats } from '../src/pipeline/pool.js';
import { SealedFile } from '../src/sealed-file.js';
import { bounce, createSealStream, open, plaintextSize, seal, sealedSize } from '../src/stream-api.js';
import { KiB, MiB, bytes, code, equal, key, shared } from './pipeline-helpers.js';

/** The code a promise rejects with (null when it resolves). */
async function codeOf(p: Promise<unknown>): Promise<string | null> {
  return p.then(() => null, (e: unknown) => code(e));
}

const hasPool = typeof addonStatus().addon?.ThreadPool === 'function' && supportedKernels().length > 0;
const native = () => nativeBackend();

afterEach(() => vi.restoreAllMocks());

describe('into', () => {
  const k = key();
  const cases: [string, object][] = [['default backend, threads 1', { threads: 1 }], ['node, threads 2', { backend: nodeBackend, threads: 2 }]];
  if (hasPool) cases.push(['native pool, threads 2', { backend: native(), threads: 2 }]);

  it.each(cases)('writes the output into the caller\'s memory and returns it (%s)', async (_, o) => {
    for (const n of [0, 100, 16 * KiB, INLINE_BYTES + 1, 3 * MiB + 17]) {
      const pt = bytes(n);
      const sealedOut = new Uint8Array(sealedSize(n));
      const got = await seal(k, pt, { ...o, into: sealedOut });
      expect(got).toBe(sealedOut);
      const plainOut = new Uint8Array(plaintextSize(sealedOut.length));
      expect(plainOut.length).toBe(n);
      expect(await open(k, sealedOut, { ...o, into: plainOut })).toBe(plainOut);
      expect(equal(plainOut, pt)).toBe(true);
      expect(equal(await open(k, sealedOut, o), pt)).toBe(true);
    }
  });

  it('refuses a wrong length, an overlap or a non-Uint8Array with ERR_INVALID_ARG, before writing', async () => {
    const pt = bytes(50_000);
    const sealed = await seal(k, pt);
    for (const delta of [-1, 1]) {
      const into = new Uint8Array(sealed.length + delta).fill(7);
      await expect(seal(k, pt, { into })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/exactly \d+ bytes/) });
      expect(into.every((b) => b === 7)).toBe(true);
      await expect(open(k, sealed, { into: new Uint8Array(pt.length + delta) })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    }
    const both = new Uint8Array(pt.length + sealed.length);
    both.set(pt);
    await expect(seal(k, both.subarray(0, pt.length), { into: both.subarray(pt.length - 1, pt.length - 1 + sealed.length) }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/overlap/) });
    await expect(seal(k, pt, { into: new ArrayBuffer(sealed.length) as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    // A sealed input no message has: the input's own error, not a length complaint.
    await expect(open(k, sealed.subarray(0, 56 + 16400), { into: new Uint8Array(10) })).rejects.toMatchObject({ code: 'ERR_TRUNCATED' });
  });

  it('allocates nothing output-sized per call', async () => {
    const n = 8 * MiB;
    const pt = bytes(n);
    const sealedOut = new Uint8Array(sealedSize(n));
    const plainOut = new Uint8Array(n);
    const round = async () => {
      await seal(k, pt, { into: sealedOut });
      await open(k, sealedOut, { into: plainOut });
    };
    await round(); // rings, pools
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 12; i++) await round();
    // Without into, 12 rounds would take 12 x 16 MiB of fresh outputs (no GC can run between awaits of this size).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * MiB);
    expect(equal(plainOut, pt)).toBe(true);
  });

  it('a failed open leaves no plaintext in into', async () => {
    for (const o of [{ threads: 1 }, { threads: 2 }]) {
      const pt = bytes(6 * MiB + 5, 3);
      const sealed = await seal(k, pt, o);
      sealed[sealed.length - 3]! ^= 1; // the final chunk
      const into = new Uint8Array(pt.length).fill(0xaa);
      expect(await codeOf(open(k, sealed, { ...o, into }))).toBe('ERR_AUTH_FAILED');
      expect(into.every((b) => b === 0 || b === 0xaa)).toBe(true);
      const small = await seal(k, pt.subarray(0, 1000));
      small[100]! ^= 1;
      const into2 = new Uint8Array(1000).fill(0xaa);
      expect(await codeOf(open(k, small, { into: into2 }))).toBe('ERR_AUTH_FAILED');
      expect(into2.every((b) => b === 0 || b === 0xaa)).toBe(true);
    }
  });
});

describe.skipIf(!hasPool)('native threads on ordinary memory', () => {
  const k = key();

  it('runs inputs up to INLINE_BYTES inline and larger ones on the pool', async () => {
    const o = { backend: native(), threads: 2 };
    let done = poolStats().completed;
    await open(k, await seal(k, bytes(INLINE_BYTES), o), o);
    expect(poolStats().completed).toBe(done);
    done = poolStats().completed;
    await open(k, await seal(k, bytes(INLINE_BYTES + 1), o), o);
    expect(poolStats().completed).toBeGreaterThan(done);
  });

  it('reads an ordinary (non-shared) Buffer in place: no copy into slots', async () => {
    const readAt = vi.spyOn(MemorySource.prototype, 'readAt');
    const read = vi.spyOn(MemorySource.prototype, 'read');
    const pt = Buffer.from(bytes(9 * MiB + 3));
    expect(pt.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    const sealed = await seal(k, pt, { backend: native(), threads: 2 });
    expect(equal(await open(k, sealed, { backend: native(), threads: 2 }), pt)).toBe(true);
    expect(readAt).not.toHaveBeenCalled();
    // Only open's 56-byte header is read out (to check the commitment); chunks are read in place.
    expect(read.mock.calls.every(([dst]) => dst.length <= 56)).toBe(true);
  });

  it('splits a slot into parts of at least PART_CHUNKS chunks, at most one per thread', () => {
    expect(partsFor(1, 8)).toBe(1);
    expect(partsFor(PART_CHUNKS * 3, 8)).toBe(3);
    expect(partsFor(256, 64)).toBe(256 / PART_CHUNKS);
    expect(partsFor(256, 2)).toBe(2);
  });

  it('a worker thread that ends with pool jobs in flight tears down cleanly', async () => {
    const { Worker } = await import('node:worker_threads');
    const code = `
      const { createRequire } = require('node:module');
      const addon = createRequire(${JSON.stringify(addonStatus().path)})(${JSON.stringify(addonStatus().path)});
      const pool = new addon.ThreadPool(2);
      const k = new addon.NativeKey(new Uint8Array(32), addon.info().best);
      const n = 256, pt = new Uint8Array(n * 16384), out = new Uint8Array(pt.length + n * 16);
      for (let i = 0; i < 4; i++) pool.run(0, k, new Uint8Array(12), 0, pt, 16384, n, out, 2);
      require('node:worker_threads').parentPort.postMessage('submitted');`;
    for (let i = 0; i < 3; i++) {
      const w = new Worker(code, { eval: true });
      await new Promise((r) => w.once('message', r));
      expect(await w.terminate()).toBe(1);
    }
  });

  it('bounce over an ordinary Buffer delivers every byte in order at 2 threads', async () => {
    const pt = Buffer.from(bytes(10 * MiB + 77, 9));
    const out = new Uint8Array(sealedSize(pt.length));
    const r = await bounce(pt, k, { mode: 'seal', threads: 2, backend: native(), onSlot: (v, at) => { out.set(v, at); } });
    expect(r.bytesOut).toBe(out.length);
    expect(equal(await open(k, out), pt)).toBe(true);
  });
});

/** Resolves with how many times a 1 ms interval fired while `work` ran. */
async function ticksDuring(work: Promise<unknown>): Promise<number> {
  let ticks = 0;
  const t = setInterval(() => { ticks++; }, 1);
  try {
    await work.catch(() => {});
  } finally {
    clearInterval(t);
  }
  return ticks;
}

describe('one thread stays responsive', () => {
  const k = key();
  const o = { threads: 1, backend: nodeBackend, slotBytes: 256 * KiB };
  const pt = bytes(24 * MiB, 4);

  it('whole-buffer seal and open yield to the event loop between slots', async () => {
    expect(await ticksDuring(seal(k, pt, o))).toBeGreaterThan(2);
    const sealed = await seal(k, pt, o);
    expect(await ticksDuring(open(k, sealed, o))).toBeGreaterThan(2);
  });

  it('abort() from a timer stops a whole-buffer seal and open with ERR_ABORTED', async () => {
    for (const op of ['seal', 'open'] as const) {
      const input = op === 'seal' ? pt : await seal(k, pt, o);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 5);
      const into = new Uint8Array(op === 'seal' ? sealedSize(pt.length) : pt.length).fill(0xaa);
      const p = op === 'seal' ? seal(k, input, { ...o, signal: ac.signal, into }) : open(k, input, { ...o, signal: ac.signal, into });
      expect(await codeOf(p)).toBe('ERR_ABORTED');
      // Aborting stopped it part-way: the output's tail was never written (nor wiped).
      expect(into[into.length - 1]).toBe(0xaa);
      if (op === 'open') expect(into.every((b) => b === 0 || b === 0xaa)).toBe(true);
    }
  });

  it('SealedFile.fromBytes().read yields between windows and honours its signal', async () => {
    const sealed = await seal(k, pt, o);
    const f = await SealedFile.fromBytes(sealed, k, { backend: nodeBackend });
    try {
      expect(await ticksDuring(f.read(0, pt.length))).toBeGreaterThan(1);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 5);
      expect(await codeOf(f.read(0, pt.length, { signal: ac.signal }))).toBe('ERR_ABORTED');
      const done = new AbortController();
      done.abort();
      expect(await codeOf(f.readInto(new Uint8Array(10), 0, { signal: done.signal }))).toBe('ERR_ABORTED');
      await expect(f.read(0, 1, 'fast' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
      expect(equal(await f.read(5, 100), pt.subarray(5, 105))).toBe(true);
    } finally {
      await f.close();
    }
  });
});

describe('limits, checked before any output', () => {
  const k = key();

  it('refuses a ring over maxRingBytes with ERR_INVALID_ARG, emitting nothing', async () => {
    let slots = 0;
    const onSlot = () => { slots++; };
    for (const o of [{ slotBytes: 1024 * MiB }, { inflight: 520 }, { slotBytes: 64 * MiB, inflight: 4 }]) {
      await expect(bounce(bytes(100), k, { mode: 'seal', onSlot, ...o })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG', message: expect.stringMatching(/maxRingBytes/) });
      expect(() => createSealStream(k, o)).toThrow(/maxRingBytes/);
    }
    expect(slots).toBe(0);
    await expect(seal(k, bytes(10), { maxRingBytes: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('raising maxRingBytes allows large slots, and a short input takes a ring its own size', async () => {
    const o = { slotBytes: 1024 * MiB, maxRingBytes: 8192 * MiB, threads: 1 };
    const before = process.memoryUsage().arrayBuffers;
    const out: Uint8Array[] = [];
    await bounce(bytes(10), k, { mode: 'seal', ...o, onSlot: (v) => { out.push(Uint8Array.from(v)); } });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * MiB);
    expect(equal(await open(k, Buffer.concat(out)), bytes(10))).toBe(true);
  });

  it('clamps threads to the cores and keeps the default ring within its bound on 64 cores', async () => {
    const pt = bytes(2 * MiB);
    expect(equal(await open(k, await seal(k, pt, { threads: 1000 })), pt)).toBe(true);
    expect(poolStats().threads).toBeLessThanOrEqual(4 * (await import('node:os')).availableParallelism());
    for (const cores of [1, 2, 8, 64, 256]) {
      expect(defaultInflight(cores, DEFAULT_SLOT_BYTES) * slotRingBytes(DEFAULT_SLOT_BYTES)).toBeLessThanOrEqual(DEFAULT_MAX_RING_BYTES);
      expect(defaultInflight(cores, DEFAULT_SLOT_BYTES)).toBeGreaterThanOrEqual(2);
    }
  });
});

describe('shared memory still works in place', () => {
  it('seals a SharedArrayBuffer input at 2 threads', async () => {
    const k = key();
    const pt = shared(bytes(5 * MiB + 1));
    expect(equal(await open(k, await seal(k, pt, { threads: 2 })), pt)).toBe(true);
  });
});
