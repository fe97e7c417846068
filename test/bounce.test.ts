/**
 * bounce(): every source kind into a ring of reused slots, delivered in order as zero-copy
 * views; backpressure from a consumer that never settles; failures after a verified prefix.
 */
import { open as fsOpen, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type FileHandle } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeBackend } from '../src/backend/index.js';
import { bounce, seal } from '../src/stream-api.js';
import { allCases } from './helpers/backends.js';
import { KiB, bytes, code, concat, equal, key, pieces, shared, tamperings } from './pipeline-helpers.js';

const SLOT = 32 * KiB;
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'weightseal-bounce-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });
const handles: FileHandle[] = [];
afterEach(async () => { for (const h of handles.splice(0)) await h.close(); });

/** Collects what onSlot saw: copies of the views, offsets, and whether views were slot memory. */
function collector() {
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let next = 0;
  let sharedViews = true;
  return {
    onSlot: async (view: Uint8Array, offset: number) => {
      expect(offset).toBe(next);
      next += view.length;
      offsets.push(offset);
      parts.push(Uint8Array.from(view));
      if (!(view.buffer instanceof SharedArrayBuffer)) sharedViews = false;
      if (parts.length % 3 === 0) await new Promise((r) => setTimeout(r, 1)); // a consumer that takes its time
    },
    out: () => concat(parts),
    offsets,
    get sharedViews() { return sharedViews; },
  };
}

type Make = (b: Uint8Array) => Promise<Parameters<typeof bounce>[0]>;
const sources: [string, Make][] = [
  ['Uint8Array', async (b) => b],
  ['shared Uint8Array (read in place)', async (b) => shared(b)],
  ['path', async (b) => { const p = join(dir, `src-${Math.random()}`); await writeFile(p, b); return p; }],
  ['FileHandle', async (b) => { const p = join(dir, `fh-${Math.random()}`); await writeFile(p, b); const h = await fsOpen(p, 'r'); handles.push(h); return h; }],
  ['Readable', async (b) => Readable.from([...pieces(b, 40_000)].map((p) => Buffer.from(p)))],
  ['async iterable', async (b) => (async function* () { yield* pieces(b, 70_000, 3); })()],
];

describe.each(allCases())('bounce on $label', ({ label, backend }) => {
  const n = label === 'noble' ? 3 * SLOT + 100 : 9 * SLOT + 16384 + 5;
  describe.each([1, 2])('threads %i', (threads) => {
    it.each(sources)('seals and opens from a %s, in order, in slots', async (_name, make) => {
      const k = key();
      const pt = bytes(n);
      const opts = { backend, threads, slotBytes: SLOT, inflight: 3 };
      const sealedC = collector();
      const src = await make(pt);
      const r1 = await bounce(src, k, { ...opts, mode: 'seal', onSlot: sealedC.onSlot });
      const sealed = sealedC.out();
      expect(r1.bytesOut).toBe(sealed.length);
      const openedC = collector();
      const r2 = await bounce(await make(sealed), k, { ...opts, mode: 'open', onSlot: openedC.onSlot });
      expect(equal(openedC.out(), pt)).toBe(true);
      expect(r2.bytesIn).toBe(sealed.length);
      expect(r2.bytesOut).toBe(n);
      // Body slots are SharedArrayBuffer ring memory, not per-slot allocations (or the shared source).
      expect(openedC.sharedViews).toBe(true);
      expect(openedC.offsets.length).toBe(Math.ceil(n / SLOT));
    });
  });
});

describe('bounce backpressure and failure', () => {
  it('stops reading at the in-flight bound while onSlot never settles', async () => {
    const k = key();
    const piece = 10_000;
    let read = 0;
    const endless = (async function* () {
      for (;;) {
        read += piece;
        yield bytes(piece, read);
      }
    })();
    const ac = new AbortController();
    let calls = 0;
    const inflight = 3;
    const done = bounce(endless, k, {
      mode: 'seal', backend: 'node', threads: 2, slotBytes: SLOT, inflight, signal: ac.signal,
      onSlot: (view) => {
        calls++;
        if (view.length > 56) return new Promise<void>(() => {}); // the header passes; the first body slot never settles
        return undefined;
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    const settled = read;
    await new Promise((r) => setTimeout(r, 200));
    expect(read).toBe(settled); // reads stopped
    expect(read).toBeLessThanOrEqual(inflight * SLOT + piece);
    expect(read).toBeGreaterThanOrEqual(inflight * SLOT);
    expect(calls).toBe(2);
    ac.abort();
    await expect(done).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('delivers only the verified prefix before failing, for each tampering', async () => {
    const k = key();
    const n = 3 * SLOT + 16384 * 2 + 9;
    const pt = bytes(n);
    const sealed = await seal(k, pt, { backend: 'node' });
    for (const t of tamperings(nodeBackend, k, sealed, n)) {
      for (const src of [t.data, Readable.from([...pieces(t.data, 30_000)].map((p) => Buffer.from(p)))]) {
        const c = collector();
        const err = await bounce(src, k, { mode: 'open', backend: 'node', threads: 2, slotBytes: SLOT, onSlot: c.onSlot })
          .then(() => null, (e: unknown) => e);
        expect(code(err), t.name).toBe(t.code);
        const out = c.out();
        expect(out.length, t.name).toBeLessThanOrEqual(t.prefix);
        expect(equal(out, pt.subarray(0, out.length)), t.name).toBe(true);
      }
    }
  });

  it('fails with the consumer error and stops', async () => {
    const k = key();
    const boom = new Error('consumer failed');
    let calls = 0;
    await expect(bounce(bytes(10 * SLOT), k, {
      mode: 'seal', backend: 'node', threads: 2, slotBytes: SLOT,
      onSlot: () => { if (++calls === 3) throw boom; },
    })).rejects.toBe(boom);
    expect(calls).toBe(3);
  });

  it('reports I/O errors with the path, and checks its arguments', async () => {
    const missing = join(dir, 'missing.bin');
    await expect(bounce(missing, key(), { mode: 'open', onSlot: () => {} }))
      .rejects.toMatchObject({ code: 'ERR_IO', path: missing });
    await expect(bounce(bytes(5), key(), { mode: 'x' as never, onSlot: () => {} })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(bounce(bytes(5), key(), { mode: 'seal' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(bounce(42 as never, key(), { mode: 'seal', onSlot: () => {} })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});
