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
  TAG_BYTES, checkCommitment, checkPlaintextLength, checkSuite, chunkCount, contextBytes,
  inputKeyBytes, plaintextLengthOfBody, randomSalt, resolveSuite, sealedLength, type Suite,
} from './cobblestone.js';
import { deriveMessageKeys, type Derived } from './derived.js';
import { WeightsealError, invalidArg } from './errors.js';
import { checkBytes, describe, outputTarget, type Target } from './validate.js';

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
  context?: ArrayBufferView | string;
  /** Which AES-GCM implementation runs it (default: native, else noble). */
  backend?: BackendName | Backend;
  /** Where to write the result (at least the output length); must not overlap the input. */
  output?: ArrayBufferView;
}

/** FormatOptions plus the test-only salt hook (see TEST_SALT). */
export type InternalFormatOptions = FormatOptions & { [TEST_SALT]?: Uint8Array };

/** Wipes the derived key (native memory with the addon) and base nonce once no longer needed. */
export function wipeDerived(d: Derived): void {
  d.wipe();
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
  context?: ArrayBufferView | string, salt?: Uint8Array): { header: Uint8Array; derived: Derived } {
  const s = checkSuite(suite);
  const ctx = contextBytes(context);
  let sl: Uint8Array;
  if (salt === undefined) sl = randomSalt();
  else {
    sl = checkBytes(salt, 'salt');
    if (sl.length !== SALT_BYTES) throw invalidArg(`salt must be ${SALT_BYTES} bytes, got ${sl.length}`);
  }
  const k = keyBytes(key, s);
  try {
    const derived = deriveMessageKeys(s, k.bytes, sl, ctx);
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
  context?: ArrayBufferView | string): Derived {
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
    const derived = deriveMessageKeys(s, k.bytes, h.subarray(0, SALT_BYTES), ctx);
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

/**
 * Imports the derived AEAD key into a backend (native to native with the addon) and wipes the
 * derived copy of it; the base nonce stays for the chunks.
 */
export function importDerived(backend: Backend, derived: Derived): GcmKey {
  try {
    return derived.importKey(backend);
  } finally {
    derived.dropKey();
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
  // Memory another thread can read (a SharedArrayBuffer) never holds unverified plaintext:
  // each run decrypts into private scratch and only verified runs are copied out.
  const scratch = out.buffer instanceof SharedArrayBuffer ?
    new Uint8Array(Math.min(out.length, RUN_CHUNKS * CHUNK_BYTES)) : null;
  try {
    for (let r = 0; r < nChunks; r += RUN_CHUNKS) {
      const m = Math.min(RUN_CHUNKS, nChunks - r);
      const ptStart = r * CHUNK_BYTES;
      const ptEnd = Math.min(ptStart + m * CHUNK_BYTES, out.length);
      const inStart = r * SEALED_CHUNK_BYTES;
      const dst = scratch ? scratch.subarray(0, ptEnd - ptStart) : out.subarray(ptStart, ptEnd);
      let bad: number;
      try {
        bad = gk.openChunks(baseNonce, firstIndex + r, sealed.subarray(inStart, inStart + runSealedBytes(ptEnd - ptStart, m)),
          CHUNK_BYTES, m, dst);
      } catch (e) {
        out.fill(0); // the caller checked out is its own (outputTarget): it aliases no input
        throw e;
      }
      if (bad >= 0) {
        out.fill(0);
        const chunk = firstIndex + r + bad;
        throw authFailed(chunk, chunk === finalIndex);
      }
      if (scratch) out.set(dst, ptStart);
    }
  } finally {
    scratch?.fill(0);
  }
}

/**
 * Opens into a Target: straight into its output, or (staged: the output may alias the input)
 * into private memory, copied out only once every chunk verified, so a failure writes nothing.
 */
function openInto(t: Target, gk: GcmKey, baseNonce: Uint8Array, sealed: Uint8Array, n: number): Uint8Array {
  if (!t.staged) {
    openChunkRun(gk, baseNonce, 0, sealed, n, t.out, n - 1);
    return t.out;
  }
  const plain = new Uint8Array(t.out.length);
  try {
    openChunkRun(gk, baseNonce, 0, sealed, n, plain, n - 1);
    t.out.set(plain);
    return t.out;
  } finally {
    plain.fill(0);
  }
}

/**
 * Seals a whole buffer: salt || commitment || chunks. Returns the sealed bytes (a view of
 * opts.output when given). Bad arguments throw ERR_INVALID_ARG saying what to pass.
 */
export function sealInline(key: Uint8Array | KeyObject, plaintext: ArrayBufferView,
  opts?: InternalFormatOptions): Uint8Array {
  const o: InternalFormatOptions = checkOptions(opts);
  const suite = resolveSuite(o.suite, key);
  const checked = checkBytes(plaintext, 'plaintext');
  const backend = getBackend(o.backend);
  checkPlaintextLength(checked.length);
  const { out, input: pt } = outputTarget(o.output, sealedLength(checked.length), checked, 'sealed length');
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
export function openInline(key: Uint8Array | KeyObject, sealed: ArrayBufferView, opts?: FormatOptions): Uint8Array {
  const o = checkOptions(opts);
  const suite = resolveSuite(o.suite, key);
  const input = checkBytes(sealed, 'sealed');
  const backend = getBackend(o.backend);
  const derived = parseHeader(key, input, suite, o.context);
  let gk: GcmKey | undefined;
  try {
    const length = plaintextLengthOfBody(input.length - HEADER_BYTES);
    const t = outputTarget(o.output, length, input, 'plaintext length');
    gk = importDerived(backend, derived);
    return openInto(t, gk, derived.baseNonce, t.input.subarray(HEADER_BYTES), chunkCount(length));
  } finally {
    gk?.destroy();
    wipeDerived(derived);
  }
}

/** Raw mode (spec appendix): the body alone under a supplied key and base nonce. */
export function rawSealBody(backend: Backend, aeadKey: Uint8Array, baseNonce: Uint8Array, plaintext: Uint8Array,
  output: unknown): Uint8Array {
  checkPlaintextLength(plaintext.length);
  const { out, input } = outputTarget(output, sealedLength(plaintext.length, true), plaintext, 'sealed length');
  const gk = backend.importKey(aeadKey);
  try {
    sealChunkRun(gk, baseNonce, 0, input, chunkCount(input.length), out);
    return out;
  } finally {
    gk.destroy();
  }
}

export function rawOpenBody(backend: Backend, aeadKey: Uint8Array, baseNonce: Uint8Array, sealed: Uint8Array,
  output: unknown): Uint8Array {
  const length = plaintextLengthOfBody(sealed.length);
  const t = outputTarget(output, length, sealed, 'plaintext length');
  const gk = backend.importKey(aeadKey);
  try {
    return openInto(t, gk, baseNonce, t.input, chunkCount(length));
  } finally {
    gk.destroy();
  }
}
