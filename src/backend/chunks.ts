/**
 * The chunk-run loop for backends that only have one-message seal/open (noble, node:crypto).
 * The native backend runs the same loop in C++ (native/gcm.cc) in one call.
 */
import type { GcmKey } from './types.js';

export const TAG_BYTES = 16;

/** c2sp.org/chunked-encryption "AEAD usage": base nonce XOR the counter, big-endian. */
export function chunkNonce(base: Uint8Array, index: number, out: Uint8Array): Uint8Array {
  out.set(base);
  // index < 2^38 < 2^53: split into a high and a low 32-bit half for exact arithmetic.
  const lo = index >>> 0;
  const hi = Math.floor(index / 0x100000000);
  const n = out.length;
  for (let i = 0; i < 4; i++) out[n - 1 - i]! ^= (lo >>> (8 * i)) & 0xff;
  for (let i = 0; i < 4; i++) out[n - 5 - i]! ^= (hi >>> (8 * i)) & 0xff;
  return out;
}

const EMPTY = new Uint8Array(0);

export function sealChunksLoop(key: GcmKey, baseNonce: Uint8Array, firstIndex: number,
  plaintext: Uint8Array, chunkSize: number, nChunks: number, out: Uint8Array): void {
  // One private copy of the base nonce for every chunk: the caller's may be shared memory.
  const base = Uint8Array.from(baseNonce);
  const nonce = new Uint8Array(base.length);
  for (let i = 0; i < nChunks; i++) {
    const start = i * chunkSize;
    const len = Math.min(chunkSize, plaintext.length - start);
    const dst = out.subarray(i * (chunkSize + TAG_BYTES), i * (chunkSize + TAG_BYTES) + len + TAG_BYTES);
    key.seal(chunkNonce(base, firstIndex + i, nonce), EMPTY,
      plaintext.subarray(start, start + len), dst);
  }
}

export function openChunksLoop(key: GcmKey, baseNonce: Uint8Array, firstIndex: number,
  sealed: Uint8Array, chunkSize: number, nChunks: number, out: Uint8Array): number {
  const base = Uint8Array.from(baseNonce);
  const nonce = new Uint8Array(base.length);
  for (let i = 0; i < nChunks; i++) {
    const start = i * chunkSize;
    const len = Math.min(chunkSize, out.length - start);
    const src = sealed.subarray(i * (chunkSize + TAG_BYTES), i * (chunkSize + TAG_BYTES) + len + TAG_BYTES);
    if (!key.open(chunkNonce(base, firstIndex + i, nonce), EMPTY, src,
      out.subarray(start, start + len))) {
      return i;
    }
  }
  return -1;
}
