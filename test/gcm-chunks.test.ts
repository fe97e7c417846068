/**
 * The batch entry point against sealing one chunk at a time with node:crypto, including
 * short and empty final chunks, a counter offset past one byte, and failure reporting.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkNonce } from '../src/backend/chunks.js';
import { allCases } from './helpers/backends.js';

const CHUNK = 16384;

function referenceRun(key: Uint8Array, base: Uint8Array, first: number, pt: Uint8Array, n: number): Buffer {
  const parts: Buffer[] = [];
  const nonce = new Uint8Array(12);
  for (let i = 0; i < n; i++) {
    const c = createCipheriv('aes-256-gcm', key, chunkNonce(base, first + i, nonce));
    parts.push(c.update(pt.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, pt.length))), c.final(), c.getAuthTag());
  }
  return Buffer.concat(parts);
}

describe.each(allCases())('chunk runs on $label', ({ label, backend }) => {
  const key = randomBytes(32), base = randomBytes(12);
  const gk = backend.importKey(key);
  const runs: [number, number, number][] = label === 'noble'
    ? [[0, 0, 1], [5, CHUNK, 2], [255, 3 * CHUNK + 7, 4]]
    : [[0, 0, 1], [0, 100, 1], [1, CHUNK, 2], [254, 5 * CHUNK + 1, 6], [2 ** 32 - 3, 256 * CHUNK, 257],
       [2 ** 38 - 2, CHUNK - 1, 1]];

  it.each(runs)('first %i, %i bytes, %i chunks', (first, len, n) => {
    const pt = randomBytes(len);
    const out = new Uint8Array(len + 16 * n);
    gk.sealChunks(base, first, pt, CHUNK, n, out);
    expect(Buffer.from(out).equals(referenceRun(key, base, first, pt, n))).toBe(true);
    const back = new Uint8Array(len);
    expect(gk.openChunks(base, first, out, CHUNK, n, back)).toBe(-1);
    expect(Buffer.compare(back, pt)).toBe(0);
  });

  it('reports the first failing chunk, keeps the verified prefix, zero-fills the bad chunk', () => {
    const n = 5, len = 4 * CHUNK + 99;
    const pt = randomBytes(len);
    const sealed = new Uint8Array(len + 16 * n);
    gk.sealChunks(base, 10, pt, CHUNK, n, sealed);
    for (const bad of [0, 2, 4]) {
      const t = Uint8Array.from(sealed);
      t[bad * (CHUNK + 16) + 3]! ^= 1;
      const back = new Uint8Array(len).fill(0xee);
      expect(gk.openChunks(base, 10, t, CHUNK, n, back)).toBe(bad);
      expect(Buffer.compare(back.subarray(0, bad * CHUNK), pt.subarray(0, bad * CHUNK))).toBe(0);
      expect(back.subarray(bad * CHUNK, Math.min((bad + 1) * CHUNK, len)).every((b) => b === 0)).toBe(true);
    }
    // The right bytes under the wrong counter (a reordered run) fail at chunk 0.
    expect(gk.openChunks(base, 11, sealed, CHUNK, n, new Uint8Array(len))).toBe(0);
  });
});
