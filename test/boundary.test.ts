/**
 * Issue 13, items 3, 4 and 6: what the boundary refuses and what it never writes.
 * - Overlap by address: an output on a second SharedArrayBuffer object over the input's memory
 *   (what postMessage hands a thread) is ERR_INVALID_ARG on every backend, and the input is left
 *   as it was. Without the addon (no address to compare) the result is still right: the input is
 *   read from a private copy and a failed open writes nothing.
 * - Detached and shrunk-resizable views are ERR_INVALID_ARG at every entry point, before and
 *   during an async call; any ArrayBufferView of data (not keys) is read as its bytes.
 * - A shared output never holds unverified plaintext: the backend decrypts into private memory.
 */
import { randomBytes } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { addonStatus } from '../src/backend/addon.js';
import { nodeBackend, type Backend, type GcmKey } from '../src/backend/index.js';
import { CHUNK_BYTES, HEADER_BYTES, sealedLength } from '../src/cobblestone.js';
import { openInline, sealInline } from '../src/format.js';
import { gcmOpen, gcmSeal, rawOpen, rawOpenChunks, rawSeal, rawSealChunks } from '../src/hazmat.js';
import { SealedFile, open, seal } from '../src/index.js';
import { INLINE_BYTES } from '../src/pipeline/options.js';
import { allCases } from './helpers/backends.js';
import { caught } from './helpers/leaks.js';

const byAddress = typeof addonStatus().addon?.viewsOverlap === 'function';
const KEY = new Uint8Array(randomBytes(32));
const NONCE = new Uint8Array(randomBytes(12));
const PT = new Uint8Array(3 * CHUNK_BYTES + 100).map((_, i) => (i * 31) & 0xff);

/** The same memory as `sab`, as a different SharedArrayBuffer object (through a MessagePort). */
async function twin(sab: SharedArrayBuffer): Promise<SharedArrayBuffer> {
  const { port1, port2 } = new MessageChannel();
  const got = new Promise<SharedArrayBuffer>((r) => port2.once('message', r));
  port1.postMessage(sab);
  const other = await got;
  port1.close();
  expect(other).not.toBe(sab);
  return other;
}

function shared(bytes: Uint8Array, extra = 0): Uint8Array {
  const v = new Uint8Array(new SharedArrayBuffer(bytes.length + extra), 0, bytes.length);
  v.set(bytes);
  return v;
}

async function codeOf(run: () => unknown): Promise<string | undefined> {
  return ((await caught(run)) as { code?: string } | undefined)?.code;
}

describe.each(allCases())('overlap by address ($label)', ({ backend }) => {
  const sealedRaw = rawSeal(KEY, NONCE, PT, { backend });
  const sealedFull = sealInline(KEY, PT, { backend });

  // Each: the input in a SharedArrayBuffer, the output on its twin at `shift` bytes in, and
  // what the call should return when it may proceed (no addon: private copy of the input).
  const cases: [string, Uint8Array, number, (input: Uint8Array, out: Uint8Array) => Uint8Array, Uint8Array][] = [
    ['rawSeal', PT, 0, (i, o) => rawSeal(KEY, NONCE, i, { backend, output: o }), sealedRaw],
    ['rawOpen', sealedRaw, 0, (i, o) => rawOpen(KEY, NONCE, i, { backend, output: o }), PT],
    ['rawSealChunks', PT, 16, (i, o) => rawSealChunks(KEY, NONCE, 0, i, { backend, output: o }), sealedRaw],
    ['rawOpenChunks', sealedRaw, 16, (i, o) => rawOpenChunks(KEY, NONCE, 0, i, { backend, output: o }), PT],
    ['sealInline (output at an offset)', PT, 7, (i, o) => sealInline(KEY, i, { backend, output: o }), new Uint8Array(0)],
    ['openInline', sealedFull, 0, (i, o) => openInline(KEY, i, { backend, output: o }), PT],
  ];

  it.each(cases)('%s: an output on a twin SharedArrayBuffer of the input', async (_name, data, shift, call, want) => {
    const input = shared(data, 1024); // room for header and tags: only the overlap is wrong
    const before = input.slice();
    const mem = await twin(input.buffer as SharedArrayBuffer);
    const out = new Uint8Array(mem, shift, mem.byteLength - shift);
    if (byAddress) {
      const e = await caught(() => call(input, out));
      expect((e as { code?: string }).code).toBe('ERR_INVALID_ARG');
      expect(String((e as Error).message)).toMatch(/must not overlap the input/);
      expect(input).toEqual(before); // nothing written, nothing zero-filled
      return;
    }
    // No addon: it cannot tell, so it works from a private copy and the result is right.
    const got = call(input, out);
    if (want.length > 0) expect(Buffer.compare(got, want)).toBe(0);
    else expect(Buffer.compare(openInline(KEY, got.slice(), { backend }), PT)).toBe(0);
  });

  it.runIf(!byAddress)('no addon: a failed open through a twin writes nothing', async () => {
    const input = shared(sealedRaw);
    input[5]! ^= 1;
    const before = input.slice();
    const out = new Uint8Array(await twin(input.buffer as SharedArrayBuffer));
    expect(await codeOf(() => rawOpen(KEY, NONCE, input, { backend, output: out.subarray(0, PT.length) })))
      .toBe('ERR_AUTH_FAILED');
    expect(input).toEqual(before);
  });

  it('SealedFile.readInto refuses a buffer over the sealed bytes it reads', async () => {
    if (!byAddress) return; // a twin cannot be told apart without the addon; documented
    const input = shared(sealedFull);
    const f = await SealedFile.fromBytes(input, KEY, { backend });
    const before = input.slice();
    const out = new Uint8Array(await twin(input.buffer as SharedArrayBuffer), 0, 100);
    expect(await codeOf(() => f.readInto(out, 0))).toBe('ERR_INVALID_ARG');
    expect(input).toEqual(before);
    await f.close();
  });
});

/** A view whose buffer was transferred away, and one a resizable buffer no longer covers. */
function dead(): [string, () => Uint8Array][] {
  return [
    ['detached', () => {
      const ab = new ArrayBuffer(64);
      const v = new Uint8Array(ab, 0, 32);
      structuredClone(ab, { transfer: [ab] });
      return v;
    }],
    ['shrunk resizable', () => {
      const ab = new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer & { resize(n: number): void })(64,
        { maxByteLength: 128 });
      const v = new Uint8Array(ab, 16, 32);
      ab.resize(8);
      return v;
    }],
  ];
}

describe.each(dead())('a %s view is ERR_INVALID_ARG, never an empty message', (_kind, make) => {
  const good = new Uint8Array(64);
  const calls: [string, (v: Uint8Array) => unknown][] = [
    ['gcmSeal plaintext', (v) => gcmSeal(KEY, NONCE, v)],
    ['gcmSeal nonce', (v) => gcmSeal(KEY, v, good)],
    ['gcmSeal aad', (v) => gcmSeal(KEY, NONCE, good, v)],
    ['gcmSeal key', (v) => gcmSeal(v, NONCE, good)],
    ['gcmOpen sealed', (v) => gcmOpen(KEY, NONCE, v)],
    ['rawSeal plaintext', (v) => rawSeal(KEY, NONCE, v)],
    ['rawSeal output', (v) => rawSeal(KEY, NONCE, new Uint8Array(0), { output: v })],
    ['rawOpen sealed', (v) => rawOpen(KEY, NONCE, v)],
    ['rawSealChunks plaintext', (v) => rawSealChunks(KEY, NONCE, 0, v)],
    ['rawOpenChunks sealed', (v) => rawOpenChunks(KEY, NONCE, 0, v)],
    ['seal plaintext', (v) => seal(KEY, v)],
    ['seal key', (v) => seal(v, good)],
    ['open sealed', (v) => open(KEY, v)],
    ['sealInline plaintext', (v) => sealInline(KEY, v)],
    ['openInline sealed', (v) => openInline(KEY, v)],
    ['seal context', (v) => seal(KEY, good, { context: v })],
    ['SealedFile.fromBytes', (v) => SealedFile.fromBytes(v, KEY)],
  ];
  it.each(calls)('%s', async (_name, call) => {
    const e = await caught(() => call(make()));
    expect((e as { code?: string }).code).toBe('ERR_INVALID_ARG');
    expect(String((e as Error).message)).toMatch(/detached|shrunk/);
  });
});

describe('a buffer transferred while an async call reads it', () => {
  it('seal() keeps the lent input attached (pipeline/pin.ts): the transfer copies, the message is whole', async () => {
    // Above the inline limit: smaller inputs are sealed in one synchronous call, before any transfer can happen.
    const pt = new Uint8Array(INLINE_BYTES + 8 * CHUNK_BYTES).fill(3);
    const p = seal(KEY, pt, { threads: 1, slotBytes: CHUNK_BYTES, inflight: 1 });
    await Promise.resolve();
    const moved = structuredClone(pt.buffer, { transfer: [pt.buffer] });
    expect(pt.length).toBe(moved.byteLength);
    const back = await open(KEY, await p);
    expect(back.length).toBe(pt.length);
    expect(back.every((b) => b === 3)).toBe(true);
  });

  it('a SealedFile over transferred bytes refuses to read', async () => {
    const sealed = sealInline(KEY, PT);
    const f = await SealedFile.fromBytes(sealed, KEY);
    structuredClone(sealed.buffer, { transfer: [sealed.buffer as ArrayBuffer] });
    await expect(f.read(0, 10)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await f.close();
  });
});

describe.each(allCases())('any ArrayBufferView is read as its bytes ($label)', ({ backend }) => {
  const weights = new Float32Array(1000).map((_, i) => Math.sin(i));
  const bytes = new Uint8Array(weights.buffer);

  it('gcmSeal/gcmOpen take a Float32Array and a DataView', () => {
    const a = gcmSeal(KEY, NONCE, weights, undefined, { backend });
    expect(Buffer.compare(a, gcmSeal(KEY, NONCE, bytes, undefined, { backend }))).toBe(0);
    const dv = new DataView(a.buffer, a.byteOffset, a.byteLength);
    expect(Buffer.compare(gcmOpen(KEY, NONCE, dv, undefined, { backend }), bytes)).toBe(0);
  });

  it('raw and whole-buffer calls take views, outputs included, at odd offsets', () => {
    const inner = new DataView(bytes.buffer, 4, 400);
    const out = new Float64Array(100);
    const sealed = rawSeal(KEY, NONCE, inner, { backend, output: new DataView(out.buffer, 8, 400 + 16) });
    expect(Buffer.compare(sealed, rawSeal(KEY, NONCE, bytes.subarray(4, 404), { backend }))).toBe(0);
    const s = sealInline(KEY, weights, { backend });
    expect(Buffer.compare(openInline(KEY, new DataView(s.buffer), { backend }), bytes)).toBe(0);
    expect(s.length).toBe(sealedLength(bytes.length));
  });

  it('seal() and open() take views too', async () => {
    const s = await seal(KEY, weights, { backend, threads: 1, context: new DataView(new ArrayBuffer(3)) });
    expect(Buffer.compare(await open(KEY, new Int16Array(s.buffer, s.byteOffset, s.length / 2),
      { backend, threads: 1, context: new Uint8Array(3) }),
      bytes)).toBe(0);
  });
});

/** Wraps a backend and records every output buffer it is handed. */
function spying(inner: Backend): { backend: Backend; outputs: Uint8Array[] } {
  const outputs: Uint8Array[] = [];
  const backend: Backend = {
    name: inner.name, kernel: inner.kernel,
    importKey(key: Uint8Array): GcmKey {
      const gk = inner.importKey(key);
      return {
        backend,
        seal: (iv, aad, pt, out) => gk.seal(iv, aad, pt, out),
        open: (iv, aad, s, out) => { outputs.push(out); return gk.open(iv, aad, s, out); },
        sealChunks: (n, f, pt, c, k, out) => gk.sealChunks(n, f, pt, c, k, out),
        openChunks: (n, f, s, c, k, out) => { outputs.push(out); return gk.openChunks(n, f, s, c, k, out); },
        destroy: () => gk.destroy(),
      };
    },
  };
  return { backend, outputs };
}

describe('a shared output never holds unverified plaintext (item 6)', () => {
  const sealedRaw = rawSeal(KEY, NONCE, PT);
  const sealedFull = sealInline(KEY, PT);
  const opens: [string, (b: Backend, out: Uint8Array) => unknown][] = [
    ['rawOpen', (b, out) => rawOpen(KEY, NONCE, sealedRaw, { backend: b, output: out })],
    ['rawOpenChunks', (b, out) => rawOpenChunks(KEY, NONCE, 0, sealedRaw, { backend: b, output: out })],
    ['openInline', (b, out) => openInline(KEY, sealedFull, { backend: b, output: out })],
    ['SealedFile.readInto', async (b, out) => {
      const f = await SealedFile.fromBytes(sealedFull, KEY, { backend: b });
      await f.readInto(out, 0);
      await f.close();
    }],
  ];

  it.each(opens)('%s decrypts privately, then copies verified bytes out', async (_name, run) => {
    const { backend, outputs } = spying(nodeBackend);
    const out = new Uint8Array(new SharedArrayBuffer(PT.length));
    await run(backend, out);
    expect(Buffer.compare(out, PT)).toBe(0);
    expect(outputs.length).toBeGreaterThan(0);
    for (const o of outputs) expect(o.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });

  it('a failed rawOpen into a shared output leaves it all zero', async () => {
    const bad = sealedRaw.slice();
    bad[HEADER_BYTES]! ^= 1;
    const out = new Uint8Array(new SharedArrayBuffer(PT.length)).fill(9);
    expect(await codeOf(() => rawOpen(KEY, NONCE, bad, { output: out }))).toBe('ERR_AUTH_FAILED');
    expect(out.every((b) => b === 0)).toBe(true);
  });
});
