/**
 * c2sp.org/chunked-encryption on whole buffers, single-threaded and synchronous: the core the
 * pipeline runs for threads = 1 and small inputs, plus the header helpers it needs to stream.
 * Section names in comments are the spec's (shared/specs/c2sp-chunked-encryption.md).
 *
 * Chunks go through GcmKey.sealChunks/openChunks in bounded runs (RUN_CHUNKS per call) into
 * preallocated output: no allocation per chunk, and a failed run never leaves plaintext of an
 * unverified chunk behind (the whole output is zeroed before the error is thrown).
 */
import { KeyObject } from 'node:crypto';
import { getBackend, type Backend, type BackendName, type GcmKey } from './backend/index.js';
import {
  CHUNK_BYTES, COMMITMENT_BYTES, HEADER_BYTES, MAX_CHUNKS, SALT_BYTES, SEALED_CHUNK_BYTES,
  TAG_BYTES, checkCommitment, checkPlaintextLength, checkSuite, chunkCount, resolveSuite, contextBytes, deriveKeys,
  inputKeyBytes, plaintextLengthOfBody, randomSalt, sealedLength, type Derived, type Suite,
} from './cobblestone.js';
import { WeightsealError, invalidArg } from './errors.js';
import { checkBytes, describe, overlaps } from './validate.js';

/** Chunks per batch call: 4 MiB of plaintext, one native call's worth of work. */
export const RUN_CHUNKS = 256;

/**
 * For test vectors only: an option key under which sealInline takes the 24-byte salt instead
 * of drawing a random one, so output can be compared with Wycheproof `ct` byte for byte.
 * Reusing a salt under one key breaks the scheme; it is not part of any public type.
 */
export const TEST_SALT: unique symbol = Symbol('weightseal.testSalt');

export interface FormatOptions {
  /** 'cobblestone-256' (default, 32-byte key) or 'cobblestone-128' (16-byte key). */
  suite?: Suite;
  /** Bound into the key derivation; must match at open. Bytes, or a string taken as UTF-8. */
  context?: Uint8Array | string;
  /** Which AES-GCM implementation runs it (default: native, else noble). */
  backend?: BackendName | Backend;
  /** Where to write the result (at least the output length); must not overlap the input. */
  output?: Uint8Array;
}

/** FormatOptions plus the test-only salt hook (see TEST_SALT). */
export type InternalFormatOptions = FormatOptions & { [TEST_SALT]?: Uint8Array };

/** Zeroes the derived key and base nonce once they are no longer needed. */
export function wipeDerived(d: Derived): void {
  d.key.fill(0);
  d.baseNonce.fill(0);
}

function checkOptions(opts: unknown): FormatOptions {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null) {
    throw invalidArg(`options must be an object like { suite, context, backend }, got ${describe(opts)}`);
  }
  return opts as FormatOptions;
}

/** Input key bytes, and whether they are our own copy (exported from a KeyObject) to wipe. */
function keyBytes(key: unknown, suite: Suite): { bytes: Uint8Array; owned: boolean } {
  return { bytes: inputKeyBytes(key, suite), owned: key instanceof KeyObject };
}

/**
 * A fresh header for sealing: salt || commitment ("Key derivation"). The caller owns
 * `derived` and must wipeDerived() it when the stream ends.
 */
export function createHeader(key: Uint8Array | KeyObject, suite: Suite = 'cobblestone-256',
  context?: Uint8Array | string, salt?: Uint8Array): { header: Uint8Array; derived: Derived } {
  const s = checkSuite(suite);
  const ctx = contextBytes(context);
  let sl = randomSalt();
  if (salt !== undefined) {
    sl = checkBytes(salt, 'salt');
    if (sl.length !== SALT_BYTES) throw invalidArg(`salt must be ${SALT_BYTES} bytes, got ${sl.length}`);
  }
  const k = keyBytes(key, s);
  try {
    const derived = deriveKeys(s, k.bytes, sl, ctx);
    const header = new Uint8Array(HEADER_BYTES);
    header.set(sl, 0);
    header.set(derived.commitment, SALT_BYTES);
    return { header, derived };
  } finally {
    if (k.owned) k.bytes.fill(0);
  }
}

/**
 * Checks a received header and returns the derived key material. "Key derivation": the
 * commitment is compared (constant time) before any chunk is decrypted; a mismatch is
 * ERR_WRONG_KEY_OR_CONTEXT. A header shorter than 56 bytes is ERR_TRUNCATED.
 */
export function parseHeader(key: Uint8Array | KeyObject, header: Uint8Array, suite: Suite = 'cobblestone-256',
  context?: Uint8Array | string): Derived {
  const s = checkSuite(suite);
  const ctx = contextBytes(context);
  const k = keyBytes(key, s);
  try {
    const h = checkBytes(header, 'header');
    if (h.length < HEADER_BYTES) {
      throw new WeightsealError('ERR_TRUNCATED',
        `sealed data is truncated: ${h.length} bytes, shorter than the ${HEADER_BYTES}-byte header ` +
          '(24-byte salt || 32-byte commitment); pass the whole sealed message');
    }
    const derived = deriveKeys(s, k.bytes, h.subarray(0, SALT_BYTES), ctx);
    try {
      checkCommitment(derived.commitment, h.subarray(SALT_BYTES, SALT_BYTES + COMMITMENT_BYTES));
    } catch (e) {
      wipeDerived(derived);
      throw e;
    }
    return derived;
  } finally {
    if (k.owned) k.bytes.fill(0);
  }
}

/** Imports the derived AEAD key into a backend and wipes the JS copy of it. */
export function importDerived(backend: Backend, derived: Derived): GcmKey {
  try {
    return backend.importKey(derived.key);
  } finally {
    derived.key.fill(0);
  }
}

function checkRange(firstIndex: number, nChunks: number): void {
  // "Message chunking": the counter must never reach 2^38.
  if (firstIndex + nChunks > MAX_CHUNKS) {
    throw new WeightsealError('ERR_TOO_LARGE',
      'chunk counter would reach 2^38, the c2sp.org/chunked-encryption limit (4 PiB - 1 per message)');
  }
}

/** Sealed length of chunks [0, nChunks) of a run holding `plaintextBytes`. */
function runSealedBytes(plaintextBytes: number, nChunks: number): number {
  return plaintextBytes + nChunks * TAG_BYTES;
}

/**
 * Seals chunks firstIndex .. firstIndex + nChunks - 1 of a message: chunk i of the run is
 * plaintext [i*16 KiB, min((i+1)*16 KiB, len)). Pass nChunks = chunkCount(len) when the run
 * ends the message (its final chunk is short, maybe empty), len / 16 KiB otherwise.
 */
export function sealChunkRun(gk: GcmKey, baseNonce: Uint8Array, firstIndex: number, plaintext: Uint8Array,
  nChunks: number, out: Uint8Array): void {
  checkRange(firstIndex, nChunks);
  for (let r = 0; r < nChunks; r += RUN_CHUNKS) {
    const m = Math.min(RUN_CHUNKS, nChunks - r);
    const ptStart = r * CHUNK_BYTES;
    const ptEnd = Math.min(ptStart + m * CHUNK_BYTES, plaintext.length);
    const outStart = r * SEALED_CHUNK_BYTES;
    gk.sealChunks(baseNonce, firstIndex + r, plaintext.subarray(ptStart, ptEnd), CHUNK_BYTES, m,
      out.subarray(outStart, outStart + runSealedBytes(ptEnd - ptStart, m)));
  }
}

export function authFailed(chunk: number, final: boolean): WeightsealError {
  return new WeightsealError('ERR_AUTH_FAILED',
    `chunk ${chunk} failed authentication: the sealed data was modified, reordered or spliced` +
      (final ? ', or (as this is the final chunk) truncated or extended with trailing bytes' :
        ', or more than 16 KiB was appended after its final chunk') +
      '; no plaintext of it was released',
    { chunk });
}

/**
 * Opens chunks firstIndex .. firstIndex + nChunks - 1 into out (exactly their plaintext
 * length). Throws ERR_AUTH_FAILED with the failing chunk's index (when it is `finalIndex`,
 * the message's final chunk, the error also suggests truncation or appended bytes); out is
 * then all zero: nothing unverified remains.
 */
export function openChunkRun(gk: GcmKey, baseNonce: Uint8Array, firstIndex: number, sealed: Uint8Array,
  nChunks: number, out: Uint8Array, finalIndex = -1): void {
  checkRange(firstIndex, nChunks);
  for (let r = 0; r < nChunks; r += RUN_CHUNKS) {
    const m = Math.min(RUN_CHUNKS, nChunks - r);
    const ptStart = r * CHUNK_BYTES;
    const ptEnd = Math.min(ptStart + m * CHUNK_BYTES, out.length);
    const inStart = r * SEALED_CHUNK_BYTES;
    let bad: number;
    try {
      bad = gk.openChunks(baseNonce, firstIndex + r, sealed.subarray(inStart, inStart + runSealedBytes(ptEnd - ptStart, m)),
        CHUNK_BYTES, m, out.subarray(ptStart, ptEnd));
    } catch (e) {
      out.fill(0);
      throw e;
    }
    if (bad >= 0) {
      out.fill(0);
      const chunk = firstIndex + r + bad;
      throw authFailed(chunk, chunk === finalIndex);
    }
  }
}

function outputFor(given: unknown, length: number, input: Uint8Array, what: string): Uint8Array {
  if (given === undefined) return new Uint8Array(length);
  const out = checkBytes(given, 'output');
  if (out.length < length) {
    throw invalidArg(`output must hold at least ${length} bytes (the ${what}), got ${out.length}`);
  }
  const view = out.subarray(0, length);
  if (overlaps(view, input)) throw invalidArg('output must not overlap the input; pass a separate buffer');
  return view;
}

/**
 * Seals a whole buffer: salt || commitment || chunks. Returns the sealed bytes (a view of
 * opts.output when given). Bad arguments throw ERR_INVALID_ARG saying what to pass.
 */
export function sealInline(key: Uint8Array | KeyObject, plaintext: Uint8Array,
  opts?: InternalFormatOptions): Uint8Array {
  const o: InternalFormatOptions = checkOptions(opts);
  const suite = resolveSuite(o.suite, key);
  const pt = checkBytes(plaintext, 'plaintext');
  const backend = getBackend(o.backend);
  checkPlaintextLength(pt.length);
  const out = outputFor(o.output, sealedLength(pt.length), pt, 'sealed length');
  const { header, derived } = createHeader(key, suite, o.context, o[TEST_SALT]);
  const gk = importDerived(backend, derived);
  try {
    out.set(header, 0);
    sealChunkRun(gk, derived.baseNonce, 0, pt, chunkCount(pt.length), out.subarray(HEADER_BYTES));
    return out;
  } finally {
    gk.destroy();
    wipeDerived(derived);
  }
}

/**
 * Opens a whole sealed buffer. In order: ERR_TRUNCATED for a missing header,
 * ERR_WRONG_KEY_OR_CONTEXT when the commitment does not match (nothing decrypted yet),
 * ERR_TRUNCATED for a body length no message has, then ERR_AUTH_FAILED (with `.chunk`) for
 * the first chunk whose tag fails. On any failure no plaintext is returned and opts.output
 * is zeroed.
 */
export function openInline(key: Uint8Array | KeyObject, sealed: Uint8Array, opts?: FormatOptions): Uint8Array {
  const o = checkOptions(opts);
  const suite = resolveSuite(o.suite, key);
  const input = checkBytes(sealed, 'sealed');
  const backend = getBackend(o.backend);
  const derived = parseHeader(key, input, suite, o.context);
  let gk: GcmKey | undefined;
  try {
    const length = plaintextLengthOfBody(input.length - HEADER_BYTES);
    const out = outputFor(o.output, length, input, 'plaintext length');
    gk = importDerived(backend, derived);
    const n = chunkCount(length);
    openChunkRun(gk, derived.baseNonce, 0, input.subarray(HEADER_BYTES), n, out, n - 1);
    return out;
  } finally {
    gk?.destroy();
    wipeDerived(derived);
  }
}

/** Raw mode (spec appendix): the body alone under a supplied key and base nonce. */
export function rawSealBody(backend: Backend, aeadKey: Uint8Array, baseNonce: Uint8Array, plaintext: Uint8Array,
  output: unknown): Uint8Array {
  checkPlaintextLength(plaintext.length);
  const out = outputFor(output, sealedLength(plaintext.length, true), plaintext, 'sealed length');
  const gk = backend.importKey(aeadKey);
  try {
    sealChunkRun(gk, baseNonce, 0, plaintext, chunkCount(plaintext.length), out);
    return out;
  } finally {
    gk.destroy();
  }
}

export function rawOpenBody(backend: Backend, aeadKey: Uint8Array, baseNonce: Uint8Array, sealed: Uint8Array,
  output: unknown): Uint8Array {
  const length = plaintextLengthOfBody(sealed.length);
  const out = outputFor(output, length, sealed, 'plaintext length');
  const gk = backend.importKey(aeadKey);
  try {
    const n = chunkCount(length);
    openChunkRun(gk, baseNonce, 0, sealed, n, out, n - 1);
    return out;
  } finally {
    gk.destroy();
  }
}
