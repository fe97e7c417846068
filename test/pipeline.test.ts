/**
 * The slot pipeline through its whole-buffer entry points (seal/open), on every backend,
 * inline (threads 1) and fanned out to workers (threads 2): round trips at the sizes that
 * break chunk and slot arithmetic, agreement with the single-threaded format.ts, in-place
 * reads of shared memory, option checks, and failure behaviour.
 */
import { describe, expect, it } from 'vitest';
import { nodeBackend } from '../src/backend/index.js';
import { sealedLength } from '../src/cobblestone.js';
import { TEST_SALT, openInline, sealInline } from '../src/format.js';
import { poolStats } from '../src/pipeline/pool.js';
import { open, seal } from '../src/stream-api.js';
import { allCases } from './helpers/backends.js';
import { KiB, MiB, bytes, code, equal, key, shared, sizesFor, tamperings } from './pipeline-helpers.js';

const SLOT = 64 * KiB;

describe.each(allCases())('seal/open pipeline on $label', ({ label, backend }) => {
  const fast = label !== 'noble';

  describe.each([1, 2])('threads %i', (threads) => {
    const opts = { backend, threads, slotBytes: SLOT };

    it('round-trips the sizes around chunk and slot boundaries', async () => {
      const k = key();
      for (const n of sizesFor(SLOT)) {
        const pt = bytes(n);
        const before = Uint8Array.from(pt);
        const sealed = await seal(k, pt, opts);
        expect(sealed.length).toBe(sealedLength(n));
        expect(equal(pt, before)).toBe(true); // input untouched
        expect(equal(openInline(k, sealed, { backend }), pt)).toBe(true);
        expect(equal(await open(k, sealed, opts), pt)).toBe(true);
      }
    });

    it('matches format.ts byte for byte under an injected salt, from plain and shared memory', async () => {
      const k = key(16);
      const salt = bytes(24, 1);
      for (const n of [0, 5 * 16384, 3 * SLOT + 1000]) {
        const pt = bytes(n, 2);
        const want = sealInline(k, pt, { suite: 'cobblestone-128', context: 'ctx', backend, [TEST_SALT]: salt });
        const o = { ...opts, suite: 'cobblestone-128' as const, context: 'ctx', [TEST_SALT]: salt };
        expect(equal(await seal(k, pt, o), want)).toBe(true);
        const sp = shared(pt);
        expect(equal(await seal(k, sp, o), want)).toBe(true);
        expect(equal(sp, pt)).toBe(true);
        expect(equal(await open(k, shared(want), o), pt)).toBe(true);
      }
    });

    it('round-trips random sizes up to 64 MiB with the default slot size', async () => {
      const k = key();
      // noble runs at ~40 MB/s: one random size near the top of the range is its share.
      const sizes = fast ? [64 * MiB, 4 * MiB, 4 * MiB + 16384, 1 + Math.floor(Math.random() * 24 * MiB)] :
        [64 * MiB - Math.floor(Math.random() * MiB)];
      for (const n of sizes) {
        const pt = bytes(n, n ^ 5);
        const o = { backend, threads };
        const sealed = await seal(k, n % 2 ? pt : shared(pt), o);
        expect(sealed.length).toBe(sealedLength(n));
        expect(equal(await open(k, sealed, o), pt), `size ${n}`).toBe(true);
      }
    });

    it('rejects every tampering with its code and returns nothing', async () => {
      const k = key();
      const n = 2 * SLOT + 3 * 16384 + 100; // the final chunk sits in the third slot
      const pt = bytes(n);
      const sealed = await seal(k, pt, opts);
      // noble pays ~2 s per full-record trailing-data check: only the cheap cases there.
      const cases = tamperings(nodeBackend, k, sealed, n).filter((t) => fast ||
        !/chunk 0|tag 1|swapped|duplicated/.test(t.name));
      for (const t of cases) {
        const err = await open(k, t.data, opts).then(() => null, (e: unknown) => e);
        expect(code(err), t.name).toBe(t.code);
        if (t.chunk !== undefined) expect((err as { chunk?: number }).chunk, t.name).toBe(t.chunk);
      }
    });

    it('refuses a wrong key, a wrong context and a wrong suite at the commitment', async () => {
      const k = key();
      const sealed = await seal(k, bytes(50_000), { ...opts, context: 'model-a' });
      for (const [kk, o] of [[key(), { context: 'model-a' }], [k, { context: 'model-b' }], [k, {}]] as const) {
        await expect(open(kk, sealed, { ...opts, ...o })).rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
      }
      await expect(open(k.subarray(0, 16), sealed, { ...opts, suite: 'cobblestone-128', context: 'model-a' }))
        .rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
    });
  });
});

describe('pipeline options and lifecycle', () => {
  const k = key();

  it('checks options with messages that say what to pass', async () => {
    const bad: [unknown, RegExp][] = [
      [{ slotBytes: 1000 }, /slotBytes must be an integer in 16384/],
      [{ slotBytes: 16384 * 3 + 1 }, /multiple of 16 KiB/],
      [{ threads: 0 }, /threads must be an integer/],
      [{ inflight: 1.5 }, /inflight must be an integer/],
      [{ backend: 'openssl' }, /backend must be one of/],
      [{ suite: 'aes' }, /suite must be/],
      [{ context: 5 }, /context must be/],
      ['fast', /options must be an object/],
    ];
    for (const [o, msg] of bad) {
      await expect(seal(k, bytes(10), o as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(msg) });
    }
    await expect(seal(key(16), bytes(10), { suite: 'cobblestone-256' })).rejects.toThrow(/32-byte key, got 16 bytes.*cobblestone-128/);
    // Without a suite a 16-byte key means cobblestone-128 (README: Key handling).
    const k16 = key(16);
    expect(await open(k16, await seal(k16, bytes(10)))).toEqual(bytes(10));
    await expect(seal(k, 'text' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('keeps workers usable for other streams after a failure', async () => {
    const o = { backend: 'node' as const, threads: 2, slotBytes: 16 * KiB };
    const pt = bytes(300_000);
    const sealed = await seal(k, pt, o);
    const bad = Uint8Array.from(sealed);
    bad[bad.length - 1]! ^= 1;
    const done = poolStats().completed;
    await expect(open(k, bad, o)).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    const results = await Promise.all([open(k, sealed, o), seal(k, pt, o), open(k, sealed, o)]);
    expect(equal(results[0], pt) && equal(results[2], pt)).toBe(true);
    expect(poolStats().completed).toBeGreaterThan(done);
  });

  it('aborts with ERR_ABORTED', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(seal(k, bytes(100), { signal: ac.signal, backend: 'node' })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('accepts a secret KeyObject and leaves it usable', async () => {
    const { createSecretKey } = await import('node:crypto');
    const ko = createSecretKey(Buffer.from(k));
    const pt = bytes(40_000);
    const sealed = await seal(ko, pt, { backend: 'node', threads: 2, slotBytes: 16 * KiB });
    expect(equal(await open(k, sealed, { backend: 'node' }), pt)).toBe(true);
    expect(equal(await open(ko, sealed, { backend: 'node', threads: 2, slotBytes: 16 * KiB }), pt)).toBe(true);
  });
});
