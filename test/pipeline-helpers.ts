/** Shared by the pipeline, files, streams, bounce and c2sp-streaming suites. */
import { randomFillSync } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chunkNonce } from '../src/backend/chunks.js';
import type { Backend } from '../src/backend/types.js';
import {
  CHUNK_BYTES, HEADER_BYTES, SALT_BYTES, SEALED_CHUNK_BYTES, TAG_BYTES, contextBytes, deriveKeys,
  type Suite,
} from '../src/cobblestone.js';
import { isWeightsealError } from '../src/errors.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export { CHUNK_BYTES, HEADER_BYTES, SEALED_CHUNK_BYTES, TAG_BYTES };

/** Deterministic, fast pseudo-random bytes (xorshift), so failures reproduce. */
export function bytes(n: number, seed = n): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = (seed * 2654435761) ^ 0x9e3779b9 | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = x;
  }
  for (let i = words.length * 4; i < n; i++) out[i] = i * 31;
  return out;
}

export function key(n: 16 | 32 = 32): Uint8Array {
  return randomFillSync(new Uint8Array(n));
}

/** A copy in SharedArrayBuffer memory (read in place by workers). */
export function shared(b: Uint8Array): Uint8Array {
  const s = new Uint8Array(new SharedArrayBuffer(Math.max(1, b.length)), 0, b.length);
  s.set(b);
  return s;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

export function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Splits into pieces of irregular sizes (1 byte up to `max`), to cross every boundary. */
export function* pieces(b: Uint8Array, max = 50_000, seed = 7): Generator<Uint8Array> {
  let at = 0;
  let x = seed;
  while (at < b.length) {
    x = (x * 1103515245 + 12345) >>> 0;
    const n = 1 + (x % max);
    yield b.subarray(at, Math.min(b.length, at + n));
    at += n;
  }
}

export function sizesFor(slotBytes: number): number[] {
  return [0, 1, 16383, 16384, 16385, slotBytes - 1, slotBytes, slotBytes + 1, 3 * slotBytes,
    3 * slotBytes + 5 * CHUNK_BYTES + 77];
}

/** Everything a transform emits before it ends or fails. */
export interface Drained {
  out: Uint8Array;
  error: unknown;
}

/** Runs `input` through a Node Transform with stream.pipeline; keeps what came out before any error. */
export async function throughNode(t: NodeJS.ReadWriteStream, input: Iterable<Uint8Array>): Promise<Drained> {
  const parts: Uint8Array[] = [];
  let error: unknown = null;
  try {
    await pipeline(Readable.from(input, { objectMode: false }), t, new Writable({
      write(chunk: Buffer, _e, cb) {
        parts.push(new Uint8Array(chunk));
        cb();
      },
    }));
  } catch (e) {
    error = e;
  }
  return { out: concat(parts), error };
}

/** Pipes `input` through a Web TransformStream; keeps what came out before any error. */
export async function throughWeb(t: TransformStream<Uint8Array, Uint8Array>, input: Iterable<Uint8Array>): Promise<Drained> {
  const parts: Uint8Array[] = [];
  const src = ReadableStream.from([...input].map((p) => Uint8Array.from(p)));
  const reader = src.pipeThrough(t).getReader();
  let error: unknown = null;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      parts.push(r.value);
    }
  } catch (e) {
    error = e;
    // c2sp "PartialPlaintext": a failed stream must keep failing rather than end cleanly.
    await reader.read().then(() => { throw new Error('read after failure resolved'); }, (again: unknown) => {
      if (again !== e) throw new Error(`read after failure rejected with a different error: ${String(again)}`);
    });
  }
  return { out: concat(parts), error };
}

export function code(e: unknown): string | null {
  return isWeightsealError(e) ? e.code : e === null ? null : `non-weightseal: ${String(e)}`;
}

/**
 * A valid extra chunk for a sealed message: record `index` sealed under the message's own
 * derived key (what an attacker splicing two messages of one salt would produce).
 */
export function extraChunk(backend: Backend, inputKey: Uint8Array, sealed: Uint8Array, index: number,
  plaintext: Uint8Array, suite: Suite = 'cobblestone-256', context?: Uint8Array | string): Uint8Array {
  const d = deriveKeys(suite, inputKey, sealed.subarray(0, SALT_BYTES), contextBytes(context));
  const gk = backend.importKey(d.key);
  const out = new Uint8Array(plaintext.length + TAG_BYTES);
  gk.seal(chunkNonce(d.baseNonce, index, new Uint8Array(12)), new Uint8Array(0), plaintext, out);
  gk.destroy();
  return out;
}

export interface Tamper {
  name: string;
  data: Uint8Array;
  code: string;
  /** Plaintext bytes a streaming opener may release before failing (the verified prefix). */
  prefix: number;
  chunk?: number;
}

/**
 * Each way a sealed message (of `ptLength` plaintext bytes, at least 3 chunks) can be broken,
 * with the code it must be rejected with and how much verified plaintext may come first.
 */
export function tamperings(backend: Backend, inputKey: Uint8Array, sealed: Uint8Array, ptLength: number): Tamper[] {
  const n = Math.floor(ptLength / CHUNK_BYTES) + 1;
  const body = (k: number) => HEADER_BYTES + k * SEALED_CHUNK_BYTES;
  const flip = (at: number) => {
    const d = Uint8Array.from(sealed);
    d[at]! ^= 0x10;
    return d;
  };
  const lastLen = sealed.length - body(n - 1);
  const t: Tamper[] = [
    { name: 'flipped salt bit', data: flip(3), code: 'ERR_WRONG_KEY_OR_CONTEXT', prefix: 0 },
    { name: 'flipped commitment bit', data: flip(SALT_BYTES + 5), code: 'ERR_WRONG_KEY_OR_CONTEXT', prefix: 0 },
    { name: 'flipped bit in chunk 0', data: flip(body(0) + 9), code: 'ERR_AUTH_FAILED', prefix: 0, chunk: 0 },
    { name: 'flipped bit in tag 1', data: flip(body(1) + CHUNK_BYTES + 3), code: 'ERR_AUTH_FAILED', prefix: CHUNK_BYTES, chunk: 1 },
    { name: 'flipped bit in final chunk', data: flip(sealed.length - 1), code: 'ERR_AUTH_FAILED',
      prefix: (n - 1) * CHUNK_BYTES, chunk: n - 1 },
    { name: 'cut inside the header', data: sealed.subarray(0, 40), code: 'ERR_TRUNCATED', prefix: 0 },
    { name: 'cut after the header', data: sealed.subarray(0, HEADER_BYTES), code: 'ERR_TRUNCATED', prefix: 0 },
    { name: 'swapped chunks 0 and 1', data: concat([sealed.subarray(0, body(0)), sealed.subarray(body(1), body(2)),
      sealed.subarray(body(0), body(1)), sealed.subarray(body(2))]), code: 'ERR_AUTH_FAILED', prefix: 0, chunk: 0 },
    { name: 'chunk 0 duplicated over chunk 1', data: concat([sealed.subarray(0, body(1)), sealed.subarray(body(0), body(1)),
      sealed.subarray(body(2))]), code: 'ERR_AUTH_FAILED', prefix: CHUNK_BYTES, chunk: 1 },
    { name: 'appended garbage', data: concat([sealed, bytes(20, 3)]), code: 'ERR_TRAILING_DATA',
      prefix: (n - 1) * CHUNK_BYTES, chunk: n - 1 },
    { name: 'appended extra valid chunk', data: concat([sealed, extraChunk(backend, inputKey, sealed, n, bytes(CHUNK_BYTES, 9))]),
      code: 'ERR_TRAILING_DATA', prefix: (n - 1) * CHUNK_BYTES, chunk: n - 1 },
  ];
  // Truncation at every chunk boundary: the short final chunk is missing.
  for (let k = 1; k < n; k++) {
    t.push({ name: `cut at chunk boundary ${k}`, data: sealed.subarray(0, body(k)), code: 'ERR_TRUNCATED', prefix: k * CHUNK_BYTES });
  }
  // Inside a tag: a final record shorter than a tag; and a cut inside the final chunk's tag.
  t.push({ name: 'cut 7 bytes into a record', data: sealed.subarray(0, body(1) + 7), code: 'ERR_TRUNCATED', prefix: CHUNK_BYTES });
  t.push({ name: 'cut inside the final tag', data: sealed.subarray(0, sealed.length - 5),
    code: lastLen - 5 < TAG_BYTES ? 'ERR_TRUNCATED' : 'ERR_AUTH_FAILED', prefix: (n - 1) * CHUNK_BYTES });
  return t;
}
