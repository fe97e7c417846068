/**
 * Node Transform (createSealStream/createOpenStream) and Web TransformStream
 * (sealWebStream/openWebStream): round trips from irregular pieces, tampering through the
 * stream (only the verified prefix comes out, then the error, for good), backpressure.
 */
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { nodeBackend } from '../src/backend/index.js';
import { createOpenStream, createSealStream, open, openWebStream, seal, sealWebStream } from '../src/stream-api.js';
import { allCases } from './helpers/backends.js';
import { KiB, bytes, code, equal, key, pieces, sizesFor, tamperings, throughNode, throughWeb } from './pipeline-helpers.js';

const SLOT = 32 * KiB;

describe.each(allCases())('streams on $label', ({ label, backend }) => {
  const sizes = label === 'noble' ? [0, 1, 16384, 2 * SLOT + 5] : sizesFor(SLOT);
  it.each([1, 2])('Node and Web streams round-trip every size with threads %i', async (threads) => {
    const k = key();
    const opts = { backend, threads, slotBytes: SLOT, context: new Uint8Array([0, 1, 2]) };
    for (const n of sizes) {
      const pt = bytes(n);
      const a = await throughNode(createSealStream(k, opts), pieces(pt, 20_000));
      expect(a.error).toBe(null);
      expect(equal(await open(k, a.out, opts), pt), `node seal ${n}`).toBe(true);
      const b = await throughNode(createOpenStream(k, opts), pieces(a.out, 30_000, 11));
      expect(b.error).toBe(null);
      expect(equal(b.out, pt), `node open ${n}`).toBe(true);
      const c = await throughWeb(sealWebStream(k, opts), pieces(pt, 9_000, 5));
      expect(c.error).toBe(null);
      const d = await throughWeb(openWebStream(k, opts), pieces(c.out, 45_000, 2));
      expect(d.error).toBe(null);
      expect(equal(d.out, pt), `web ${n}`).toBe(true);
    }
  });
});

describe('stream failures', () => {
  const k = key();
  const opts = { backend: 'node' as const, threads: 2, slotBytes: SLOT };

  it('emits nothing unverified, then fails and keeps failing, for each tampering', async () => {
    const n = 3 * SLOT + 2 * 16384 + 33;
    const pt = bytes(n);
    const sealed = await seal(k, pt, opts);
    for (const t of tamperings(nodeBackend, k, sealed, n)) {
      for (const via of ['node', 'web'] as const) {
        const r = via === 'node'
          ? await throughNode(createOpenStream(k, opts), pieces(t.data, 25_000))
          : await throughWeb(openWebStream(k, opts), pieces(t.data, 25_000)); // throughWeb re-reads after the error
        expect(code(r.error), `${via}: ${t.name}`).toBe(t.code);
        if (t.chunk !== undefined) expect((r.error as { chunk?: number }).chunk, t.name).toBe(t.chunk);
        expect(r.out.length, `${via}: ${t.name}`).toBeLessThanOrEqual(t.prefix);
        expect(equal(r.out, pt.subarray(0, r.out.length)), `${via}: ${t.name}`).toBe(true);
      }
    }
  });

  it('a failed Node stream stays failed: later writes and reads error', async () => {
    const s = createOpenStream(k, opts);
    const errors: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    s.write(new Uint8Array(100)); // a bad header
    s.end();
    await new Promise((r) => setTimeout(r, 50));
    expect(code(s.errored)).toBe('ERR_WRONG_KEY_OR_CONTEXT');
    await expect(new Promise((resolve, reject) => s.write(new Uint8Array(1), (e) => (e ? reject(e) : resolve(null)))))
      .rejects.toBeTruthy();
    await expect((async () => { for await (const _ of s) { /* nothing */ } })()).rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
    expect(errors.length).toBe(1);
  });

  it('Node: a reader that stops reading stops the writer (bounded in flight)', async () => {
    const s = createSealStream(k, { ...opts, inflight: 2 });
    let written = 0;
    const piece = 8 * KiB;
    const src = new Readable({
      read() {
        written += piece;
        this.push(bytes(piece, written));
      },
    });
    src.pipe(s); // nobody reads s
    await new Promise((r) => setTimeout(r, 300));
    const at = written;
    await new Promise((r) => setTimeout(r, 200));
    expect(written).toBe(at);
    // Ring (2 slots) + one pushed slot in the readable buffer + writable buffers on both sides.
    expect(written).toBeLessThanOrEqual(8 * SLOT);
    src.destroy();
    s.destroy();
  });

  it('Web: a reader that stops reading stops the writer (bounded in flight)', async () => {
    const t = sealWebStream(k, { ...opts, inflight: 2 });
    let written = 0;
    const piece = 8 * KiB;
    const src = new ReadableStream<Uint8Array>({
      pull(c) {
        written += piece;
        c.enqueue(bytes(piece, written));
      },
    }, { highWaterMark: 0 });
    const reader = src.pipeThrough(t).getReader();
    for (let i = 0; i < 3; i++) await reader.read(); // flowing, then the reader stops
    await new Promise((r) => setTimeout(r, 300));
    const at = written;
    await new Promise((r) => setTimeout(r, 200));
    expect(written).toBe(at);
    expect(written).toBeLessThanOrEqual(8 * SLOT);
    expect(written).toBeGreaterThan(SLOT);
    await reader.cancel();
  });

  it('works inside stream.pipeline with other transforms', async () => {
    const pt = bytes(5 * SLOT + 3);
    const parts: Buffer[] = [];
    const passthrough = () => new Transform({ transform(c, _e, cb) { cb(null, c); } });
    await pipeline(Readable.from([...pieces(pt, 7000)].map((p) => Buffer.from(p))), createSealStream(k, opts), passthrough(),
      createOpenStream(k, opts), new Writable({ write(c: Buffer, _e, cb) { parts.push(c); cb(); } }));
    expect(equal(Buffer.concat(parts), pt)).toBe(true);
  });
});
