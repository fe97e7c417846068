/**
 * Whole-buffer seal and open of small inputs (up to INLINE_BYTES) on the calling thread, in
 * one synchronous stretch: no ring, no threads, no promise per slot. What remains per call is
 * the format's own work (key derivation, commitment, one key import) and the cipher.
 */
import { randomFillSync } from 'node:crypto';
import { addonStatus } from '../backend/addon.js';
import type { Backend } from '../backend/types.js';
import { CHUNK_BYTES, HEADER_BYTES, SALT_BYTES, chunkCount, plaintextLengthOfBody, type Derived } from '../cobblestone.js';
import { authFailed, createHeader, importDerived, openChunkRun, parseHeader, sealChunkRun, wipeDerived } from '../format.js';
import { workerResolvable } from './pool.js';
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

/**
 * The native kernel's one-shot call when the backend is the addon's (no key object: the
 * schedule lives on the native stack for the call), else null.
 */
function oneShot(backend: Backend): ((op: number, d: Derived, src: Uint8Array, n: number, dst: Uint8Array) => number) | null {
  const run = addonStatus().addon?.runOnce;
  if (!run || backend.name !== 'native' || !backend.kernel || !workerResolvable(backend)) return null;
  const kernel = backend.kernel;
  return (op, d, src, n, dst) => run(op, d.key, kernel, d.baseNonce, 0, src, CHUNK_BYTES, n, dst);
}

/** Seals `pt` into `out` (exactly sealedLength(pt.length) bytes). */
export function sealSmall(keys: Keys, backend: Backend, pt: Uint8Array, out: Uint8Array): void {
  const { header, derived } = createHeader(keys.key!, keys.suite, keys.context, keys.salt ?? freshSalt());
  try {
    out.set(header, 0);
    const once = oneShot(backend);
    if (once) {
      once(0, derived, pt, chunkCount(pt.length), out.subarray(HEADER_BYTES));
      return;
    }
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
    const once = oneShot(backend);
    if (once) {
      let bad: number;
      try {
        bad = once(1, derived, sealed.subarray(HEADER_BYTES), n, out);
      } catch (e) {
        out.fill(0);
        throw e;
      }
      if (bad >= 0) {
        out.fill(0);
        throw authFailed(bad, bad === n - 1);
      }
      return out;
    }
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
