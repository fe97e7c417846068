/**
 * The output cache (src/output-memory.ts, native/output_cache.cc): outputs without `into`
 * reuse memory of outputs the caller dropped, never one still alive, always fully rewritten,
 * within the limit, across worker threads, and nothing of a failed open survives in it.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { addonStatus } from '../src/backend/addon.js';
import { open, seal } from '../src/index.js';
import { freshOutput, outputCacheStats, setOutputCacheLimit } from '../src/output-memory.js';
import { CHUNK_BYTES, HEADER_BYTES, SEALED_CHUNK_BYTES } from '../src/cobblestone.js';

const MiB = 2 ** 20;
const addon = addonStatus().addon;
const hasCache = typeof addon?.outputBuffer === 'function';

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Collects garbage until `done()` (finalizers of external buffers run on a later loop turn). */
async function collectUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !done(); i++) {
    gc();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 5));
  }
  expect(done()).toBe(true);
}

const stats = () => outputCacheStats()!;

/** Empties the cache (limit 0 unmaps every idle block), then sets `limit`. */
function reset(limit = 512 * MiB): void {
  setOutputCacheLimit(0);
  setOutputCacheLimit(limit);
}

/** Waits until earlier tests' outputs are collected, then empties the cache. */
async function fresh(): Promise<void> {
  setOutputCacheLimit(512 * MiB);
  await collectUntil(() => stats().liveBytes === 0);
  reset();
}

if (!hasCache) {
  it.skip(`the native addon${addon ? ' (an older build without the output cache)' : ''} is not loaded: outputs are plain allocations`, () => {});
} else {
  const original = addon!.outputCache!().limitBytes;
  afterAll(() => {
    setOutputCacheLimit(original);
  });

  describe('output cache', () => {
    beforeEach(fresh);

    it('hands a dropped output\'s memory to the next call, rewritten to the right bytes', async () => {
      const key = randomBytes(32);
      const a = randomBytes(3 * MiB), b = randomBytes(3 * MiB);
      let sealed: Uint8Array | null = await seal(key, a);
      const want = Buffer.from(sealed);
      sealed = null;
      const before = stats();
      await collectUntil(() => stats().cachedBytes > 0);
      const again = await seal(key, b);
      expect(stats().hits).toBe(before.hits + 1);
      // Every byte of the recycled block was rewritten: it opens to b, and no chunk of a's
      // ciphertext survives in it.
      expect(Buffer.from(await open(key, again, { into: new Uint8Array(b.length) })).equals(b)).toBe(true);
      for (let at = HEADER_BYTES; at + SEALED_CHUNK_BYTES <= want.length; at += SEALED_CHUNK_BYTES) {
        expect(want.compare(Buffer.from(again.buffer, again.byteOffset, again.length), at,
          at + SEALED_CHUNK_BYTES, at, at + SEALED_CHUNK_BYTES)).not.toBe(0);
      }
    });

    it('never gives a live output\'s memory to another call', async () => {
      const key = randomBytes(32);
      const pts = [0, 1, 2, 3].map(() => randomBytes(2 * MiB));
      const outs: Uint8Array[] = [];
      const hits = stats().hits;
      for (const pt of pts) {
        outs.push(await seal(key, pt));
        gc();
        await new Promise((r) => setImmediate(r));
      }
      for (let i = 0; i < outs.length; i++) {
        for (let j = i + 1; j < outs.length; j++) expect(addon!.viewsOverlap!(outs[i]!, outs[j]!)).toBe(false);
      }
      for (const [i, out] of outs.entries()) {
        expect(Buffer.from(await open(key, out, { into: new Uint8Array(pts[i]!.length) })).equals(pts[i]!)).toBe(true);
      }
      // All alive: none could be served from the cache.
      expect(stats().hits).toBe(hits);
    });

    it('keeps no more idle memory than its limit, and none at 0', async () => {
      reset(3 * MiB);
      let outs: Uint8Array[] | null = [0, 1, 2, 3, 4, 5].map(() => freshOutput(MiB));
      const live = stats().liveBytes;
      expect(live).toBeGreaterThanOrEqual(6 * MiB);
      outs = null;
      await collectUntil(() => stats().liveBytes === 0);
      expect(stats().cachedBytes).toBeGreaterThan(0);
      expect(stats().cachedBytes).toBeLessThanOrEqual(3 * MiB);
      // An output larger than the whole limit is freed, not kept.
      let big: Uint8Array | null = freshOutput(4 * MiB);
      const cached = stats().cachedBytes;
      big = null;
      await collectUntil(() => stats().liveBytes === 0);
      expect(stats().cachedBytes).toBe(cached);
      void big;
      setOutputCacheLimit(0);
      expect(outputCacheStats()).toBeNull();
      expect(addon!.outputCache!().cachedBytes).toBe(0);
      const plain = freshOutput(MiB);
      expect(plain.length).toBe(MiB);
    });

    it.each([
      ['inline (512 KiB)', 512 * 1024],
      ['on the threads (3 MiB)', 3 * MiB],
    ])('a failed open %s leaves none of its plaintext in the memory it returns to the cache', async (_, size) => {
      const key = randomBytes(32);
      const pt = randomBytes(size);
      // A verified prefix the open will have written, then a bad final chunk.
      const bad = Buffer.from(await seal(key, pt));
      bad[bad.length - 1]! ^= 1;
      await fresh();
      await expect(open(key, bad, { threads: 2 })).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
      await collectUntil(() => stats().liveBytes === 0 && stats().cachedBytes > 0);
      // Take every cached block back and look for any chunk of the plaintext in it.
      const blocks: Uint8Array[] = [];
      for (let n = stats().cachedBlocks; n > 0; n--) blocks.push(freshOutput(size));
      expect(stats().hits).toBeGreaterThan(0);
      for (const block of blocks) {
        for (let at = 0; at + CHUNK_BYTES <= size; at += CHUNK_BYTES) {
          expect(pt.compare(Buffer.from(block.buffer, block.byteOffset, block.length), at, at + CHUNK_BYTES,
            at, at + CHUNK_BYTES)).not.toBe(0);
        }
      }
    });

    it('cannot be moved to another thread: postMessage copies, the output stays attached', async () => {
      const out = freshOutput(MiB);
      out.fill(7);
      const { port1, port2 } = new MessageChannel();
      const got = new Promise<Uint8Array>((r) => port2.once('message', r));
      port1.postMessage(out, [out.buffer as ArrayBuffer]);
      const copy = await got;
      port1.close();
      expect(out.length).toBe(MiB);
      expect(out.buffer.byteLength).toBeGreaterThanOrEqual(MiB);
      expect(copy[MiB - 1]).toBe(7);
      expect(addon!.viewsOverlap!(out, copy)).toBe(false);
    });
  });

  describe('output cache in worker threads', () => {
    beforeEach(fresh);

    // Workers take and give back blocks at once (one process-wide cache behind a mutex), and
    // end with outputs still alive: the runtime's teardown gives those back too.
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      require('node:v8').setFlagsFromString('--expose-gc');
      const collect = require('node:vm').runInNewContext('gc');
      const addon = require(workerData.path);
      (async () => {
        for (let i = 0; i < 20; i++) {
          const b = addon.outputBuffer(${MiB} + i * 4096);
          b.fill(workerData.id);
          for (let j = 0; j < b.length; j += 4096) if (b[j] !== workerData.id) throw new Error('shared block');
          collect();
          await new Promise((r) => setImmediate(r));
        }
        globalThis.kept = [0, 1, 2].map(() => addon.outputBuffer(${2 * MiB}).fill(workerData.id));
        parentPort.postMessage('done');
      })();
    `;

    it('four workers share the cache safely and give back what they held at exit', async () => {
      const path = addonStatus().path!;
      const before = stats();
      await Promise.all([1, 2, 3, 4].map((id) => new Promise<void>((resolve, reject) => {
        const w = new Worker(source, { eval: true, workerData: { path, id } });
        w.once('message', () => void w.terminate());
        w.once('error', reject);
        w.once('exit', () => resolve());
      })));
      await collectUntil(() => stats().liveBytes === 0);
      const after = stats();
      expect(after.hits + after.misses - before.hits - before.misses).toBe(4 * 23);
      expect(after.hits).toBeGreaterThan(before.hits);
      // The 2 MiB blocks the workers still held came back at their teardown.
      expect(after.cachedBytes).toBeGreaterThanOrEqual(4 * 3 * 2 * MiB);
      const reused = freshOutput(2 * MiB);
      expect(stats().hits).toBe(after.hits + 1);
      reused.fill(0);
    });
  });
}
