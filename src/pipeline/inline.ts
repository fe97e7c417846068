/**
 * Whole-buffer seal and open of small inputs (up to INLINE_BYTES) on the calling thread, in
 * one synchronous stretch: no ring, no threads, no promise per slot. On the native backend the
 * whole message is one addon call (native/message.cc: derivation, commitment and chunks, the
 * key never in JS memory); other backends derive, import and run the chunks from here.
 */
import { KeyObject, randomFillSync } from 'node:crypto';
import { addonStatus } from '../backend/addon.js';
import type { Backend } from '../backend/types.js';
import {
  HEADER_BYTES, SALT_BYTES, SUITES, chunkCount, contextBytes, derivationInfo, inputKeyBytes,
  plaintextLengthOfBody, wrongKeyOrContext, type Suite,
} from '../cobblestone.js';
import {
  authFailed, createHeader, importDerived, openChunkRun, parseHeader, sealChunkRun, wipeDerived,
} from '../format.js';
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

/** The addon's one-call message functions, when the backend is native and the addon has them. */
function oneCall(backend: Backend) {
  const a = backend.kernel ? addonStatus().addon : null;
  return a?.sealMessage && a.openMessage ? { seal: a.sealMessage, open: a.openMessage, kernel: backend.kernel! } : null;
}

/** Input key bytes and the derivation info for one message; `wipe` zeroes our own copies. */
function material(keys: Keys, salt: Uint8Array) {
  const suite: Suite = keys.suite ?? 'cobblestone-256';
  const bytes = inputKeyBytes(keys.key, suite);
  const owned = keys.key instanceof KeyObject; // an exported copy, ours to wipe
  return { bytes, keyBytes: SUITES[suite].keyBytes, info: derivationInfo(suite, salt, contextBytes(keys.context)),
    wipe: () => { if (owned) bytes.fill(0); } };
}

/** Seals `pt` into `out` (exactly sealedLength(pt.length) bytes). */
export function sealSmall(keys: Keys, backend: Backend, pt: Uint8Array, out: Uint8Array): void {
  const salt = keys.salt ?? freshSalt();
  const native = oneCall(backend);
  if (native) {
    const m = material(keys, salt);
    try {
      out.set(salt, 0);
      native.seal(m.bytes, m.info, m.keyBytes, native.kernel, pt, out);
    } finally {
      m.wipe();
    }
    return;
  }
  const { header, derived } = createHeader(keys.key!, keys.suite, keys.context, salt);
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
  const native = oneCall(backend);
  if (native && sealed.length >= HEADER_BYTES) {
    const length = plaintextLengthOfBody(sealed.length - HEADER_BYTES);
    const out = output(length);
    // Memory another thread can read never holds unverified plaintext: a shared output gets
    // only what verified, through private scratch.
    const dst = out.buffer instanceof SharedArrayBuffer ? new Uint8Array(length) : out;
    // The salt is read once, into the derivation info; the commitment once, by the addon.
    const m = material(keys, sealed.subarray(0, SALT_BYTES));
    let bad: number;
    try {
      bad = native.open(m.bytes, m.info, m.keyBytes, native.kernel, sealed, dst);
    } finally {
      m.wipe();
    }
    if (bad === -2) throw wrongKeyOrContext();
    if (bad >= 0) throw authFailed(bad, bad === chunkCount(length) - 1);
    if (dst !== out) {
      out.set(dst);
      dst.fill(0);
    }
    return out;
  }
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
