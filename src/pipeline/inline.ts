/**
 * Whole-buffer seal and open of small inputs (up to INLINE_BYTES) on the calling thread, in
 * one synchronous stretch: no ring, no threads, no promise per slot. What remains per call is
 * the format's own work (key derivation and commitment in native memory, one native-to-native
 * key import) and the cipher.
 */
import { randomFillSync } from 'node:crypto';
import type { Backend } from '../backend/types.js';
import { HEADER_BYTES, SALT_BYTES, chunkCount, plaintextLengthOfBody } from '../cobblestone.js';
import { createHeader, importDerived, openChunkRun, parseHeader, sealChunkRun, wipeDerived } from '../format.js';
import type { Keys } from './engine.js';

/**
 * Salts come from a pool refilled 128 at a time: one randomFillSync call costs several
 * microseconds whatever its size, a noticeable part of sealing 4 KiB. Each salt is cut out
 * of the pool and its bytes there zeroed, so none is handed out twice.
 */
const SALTS = 128;
const pool = new Uint8Array(SALTS * SALT_BYTES);
let next = SALTS;

export function freshSalt(): Uint8Array {
  if (next === SALTS) {
    randomFillSync(pool);
    next = 0;
  }
  const at = next++ * SALT_BYTES;
  const salt = pool.slice(at, at + SALT_BYTES);
  pool.fill(0, at, at + SALT_BYTES);
  return salt;
}

/** Seals `pt` into `out` (exactly sealedLength(pt.length) bytes). */
export function sealSmall(keys: Keys, backend: Backend, pt: Uint8Array, out: Uint8Array): void {
  const { header, derived } = createHeader(keys.key!, keys.suite, keys.context, keys.salt ?? freshSalt());
  try {
    const gk = importDerived(backend, derived);
    try {
      out.set(header, 0);
      sealChunkRun(gk, derived.baseNonce, 0, pt, chunkCount(pt.length), out.subarray(HEADER_BYTES));
    } finally {
      gk.destroy();
    }
  } finally {
    wipeDerived(derived);
  }
}

/**
 * Opens `sealed` into `into` (exactly its plaintext length) or a fresh buffer. Throws in the
 * format's order: ERR_TRUNCATED header, ERR_WRONG_KEY_OR_CONTEXT, ERR_TRUNCATED body, then
 * ERR_AUTH_FAILED for the first bad chunk, with the output all zero.
 */
export function openSmall(keys: Keys, backend: Backend, sealed: Uint8Array,
  output: (length: number) => Uint8Array): Uint8Array {
  const derived = parseHeader(keys.key!, sealed, keys.suite, keys.context);
  try {
    const length = plaintextLengthOfBody(sealed.length - HEADER_BYTES);
    const out = output(length);
    const n = chunkCount(length);
    const gk = importDerived(backend, derived);
    try {
      openChunkRun(gk, derived.baseNonce, 0, sealed.subarray(HEADER_BYTES), n, out, n - 1);
    } finally {
      gk.destroy();
    }
    return out;
  } finally {
    wipeDerived(derived);
  }
}
