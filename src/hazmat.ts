/**
 * weightseal/hazmat: primitives for building protocols, not for applications. One-shot
 * AES-GCM, and raw-mode chunked encryption (key and base nonce from a higher protocol).
 */
import { KeyObject } from 'node:crypto';
import { getBackend, type Backend, type BackendName, type GcmKey } from './backend/index.js';
import { WeightsealError, invalidArg } from './errors.js';
import { CHUNK_BYTES, NONCE_BYTES, SEALED_CHUNK_BYTES, TAG_BYTES, chunkCount, plaintextLengthOfBody } from './cobblestone.js';
import { openChunkRun, rawOpenBody, rawSealBody, sealChunkRun } from './format.js';
import { CHUNK_RUN_KEYS, GCM_KEYS, RAW_KEYS } from './option-keys.js';
import { checkOptionsObject } from './options-check.js';
import { aesKeyBytes, checkBytes, checkIndex, describe, outputTarget } from './validate.js';

export interface GcmOptions {
  /** Which implementation runs it (default: native, else noble). */
  backend?: BackendName | Backend;
}

const EMPTY = new Uint8Array(0);

function checkGcmOptions(opts: unknown): GcmOptions {
  return checkOptionsObject<GcmOptions>(opts, GCM_KEYS, 'options');
}

interface Prepared {
  n: Uint8Array;
  d: Uint8Array;
  a: Uint8Array;
  backend: Backend;
  gk: GcmKey;
}

/** Every argument checked first; then the key imported (an exported KeyObject copy wiped at once). */
function prepare(key: unknown, nonce: unknown, data: unknown, aad: unknown, dataName: string,
  opts: unknown): Prepared {
  const n = checkBytes(nonce, 'nonce');
  if (n.length === 0) throw invalidArg('nonce must not be empty (12 bytes is standard)');
  const d = checkBytes(data, dataName);
  const a = aad === undefined ? EMPTY : checkBytes(aad, 'aad');
  const backend = getBackend(checkGcmOptions(opts).backend);
  const { bytes, owned } = aesKeyBytes(key);
  try {
    return { n, d, a, backend, gk: backend.importKey(bytes) };
  } finally {
    if (owned) bytes.fill(0);
  }
}

/** AES-GCM seal: returns ciphertext with the 16-byte tag appended. */
export function gcmSeal(key: Uint8Array | KeyObject, nonce: ArrayBufferView, plaintext: ArrayBufferView,
  aad?: ArrayBufferView, opts?: GcmOptions): Uint8Array {
  const { n, d, a, gk } = prepare(key, nonce, plaintext, aad, 'plaintext', opts);
  try {
    const out = new Uint8Array(d.length + 16);
    gk.seal(n, a, d, out);
    return out;
  } finally {
    gk.destroy();
  }
}

/** AES-GCM open: returns the plaintext, or throws ERR_AUTH_FAILED and returns nothing. */
export function gcmOpen(key: Uint8Array | KeyObject, nonce: ArrayBufferView, sealed: ArrayBufferView,
  aad?: ArrayBufferView, opts?: GcmOptions): Uint8Array {
  const d = checkBytes(sealed, 'sealed');
  if (d.length < 16) {
    prepare(key, nonce, sealed, aad, 'sealed', opts).gk.destroy(); // bad arguments first
    throw new WeightsealError('ERR_TRUNCATED',
      `sealed input is ${d.length} bytes, shorter than the 16-byte tag; pass ciphertext || tag`);
  }
  const { n, a, gk } = prepare(key, nonce, sealed, aad, 'sealed', opts);
  try {
    const out = new Uint8Array(d.length - 16);
    if (!gk.open(n, a, d, out)) {
      throw new WeightsealError('ERR_AUTH_FAILED',
        'authentication failed: wrong key, nonce or AAD, or the data was modified');
    }
    return out;
  } finally {
    gk.destroy();
  }
}

export interface RawOptions {
  /** Which implementation runs it (default: native, else noble). */
  backend?: BackendName | Backend;
  /** Where to write the result (at least the output length); must not overlap the input. */
  output?: ArrayBufferView;
}

function prepareRaw(key: unknown, baseNonce: unknown, data: unknown, dataName: string, opts: unknown,
  keys: readonly string[] = RAW_KEYS) {
  const o = checkOptionsObject<RawOptions>(opts, keys, 'options');
  const n = checkBytes(baseNonce, 'baseNonce');
  if (n.length !== NONCE_BYTES) {
    throw invalidArg(`baseNonce must be ${NONCE_BYTES} bytes (the AES-GCM nonce size), got ${n.length}`);
  }
  const d = checkBytes(data, dataName);
  const backend = getBackend(o.backend);
  const { bytes, owned } = aesKeyBytes(key); // last: nothing can throw before a copy is wiped
  return { k: bytes, owned, n, d, backend, output: o.output };
}

/**
 * Raw-mode chunked encryption, c2sp.org/chunked-encryption "Appendix: raw mode": the body of
 * a Cobblestone message (16 KiB chunks, the final one short and maybe empty, nonce = base
 * nonce XOR chunk counter, no AAD) without the salt || commitment header, under an AES key
 * (16 or 32 bytes) and a 12-byte base nonce that a higher protocol derived.
 *
 * The appendix's rules are the caller's to keep: key and base nonce uniformly random (a KDF
 * output, never a counter), never reused for a second message. This layer gives no key
 * commitment and binds no context. Applications want seal()/open() from `weightseal`.
 */
export function rawSeal(key: Uint8Array | KeyObject, baseNonce: ArrayBufferView, plaintext: ArrayBufferView,
  opts?: RawOptions): Uint8Array {
  const r = prepareRaw(key, baseNonce, plaintext, 'plaintext', opts);
  try {
    return rawSealBody(r.backend, r.k, r.n, r.d, r.output);
  } finally {
    if (r.owned) r.k.fill(0);
  }
}

/**
 * Opens a raw-mode body (see rawSeal). ERR_TRUNCATED for a length no message has (it ends on
 * a chunk boundary or inside a tag), ERR_AUTH_FAILED with `.chunk` for the first chunk whose
 * tag fails; on failure nothing is returned and opts.output is zeroed. A shared output
 * (SharedArrayBuffer) never holds unverified plaintext, not even during the call: chunks are
 * decrypted privately and copied out once verified.
 */
export function rawOpen(key: Uint8Array | KeyObject, baseNonce: ArrayBufferView, sealed: ArrayBufferView,
  opts?: RawOptions): Uint8Array {
  const r = prepareRaw(key, baseNonce, sealed, 'sealed', opts);
  try {
    return rawOpenBody(r.backend, r.k, r.n, r.d, r.output);
  } finally {
    if (r.owned) r.k.fill(0);
  }
}

export interface ChunkRunOptions extends RawOptions {
  /**
   * Whether the run ends the message (default true): its last chunk is the final one, shorter
   * than 16 KiB and maybe empty. A run that does not end the message holds whole chunks only.
   */
  final?: boolean;
}

function runArgs(firstIndex: unknown, opts: unknown): { first: number; final: boolean } {
  const first = checkIndex(firstIndex, 'firstIndex');
  const final = (opts as ChunkRunOptions | undefined)?.final ?? true;
  if (typeof final !== 'boolean') throw invalidArg(`final must be a boolean, got ${describe(final)}`);
  return { first, final };
}

/**
 * PROTOCOL / TEST HOOK, not for applications. Seals chunks firstIndex, firstIndex + 1, ... of a
 * raw-mode body (see rawSeal) and returns their sealed records, so a higher protocol can seal
 * a message in pieces and tests can reach the counter limit without 4 PiB of input.
 * rawSeal(k, n, pt) equals rawSealChunks(k, n, 0, pt).
 *
 * "Message chunking": the counter must never reach 2^38 (the nonce's low 38 bits never wrap
 * into the base nonce). A run that would use chunk index 2^38 or beyond throws ERR_TOO_LARGE
 * before any output is written. Sealing a chunk index twice under one key and base nonce
 * reuses a GCM nonce: keeping each index to one run is the caller's job.
 */
export function rawSealChunks(key: Uint8Array | KeyObject, baseNonce: Uint8Array, firstIndex: number,
  plaintext: ArrayBufferView, opts?: ChunkRunOptions): Uint8Array {
  const r = prepareRaw(key, baseNonce, plaintext, 'plaintext', opts, CHUNK_RUN_KEYS);
  try {
    const { first, final } = runArgs(firstIndex, opts);
    let n: number;
    if (final) {
      n = chunkCount(r.d.length);
    } else {
      n = r.d.length / CHUNK_BYTES;
      if (!Number.isInteger(n) || n === 0) {
        throw invalidArg(`a run that does not end the message holds whole 16 KiB chunks, got ${r.d.length} bytes; ` +
          'pass a multiple of 16384 bytes, or final: true for the message\'s last run');
      }
    }
    const { out, input } = outputTarget(r.output, r.d.length + n * TAG_BYTES, r.d, 'sealed length');
    const gk = r.backend.importKey(r.k);
    try {
      sealChunkRun(gk, r.n, first, input, n, out);
    } finally {
      gk.destroy();
    }
    return out;
  } finally {
    if (r.owned) r.k.fill(0);
  }
}

/**
 * PROTOCOL / TEST HOOK, not for applications. Opens records sealed by rawSealChunks at the same
 * firstIndex and `final`. ERR_TOO_LARGE (before anything is decrypted) for a run that would
 * reach chunk index 2^38, ERR_TRUNCATED for a length no run has, ERR_AUTH_FAILED with `.chunk`
 * (the message's chunk index) for the first chunk whose tag fails; on failure nothing is
 * returned and opts.output is zeroed (a shared output only ever receives verified plaintext).
 */
export function rawOpenChunks(key: Uint8Array | KeyObject, baseNonce: Uint8Array, firstIndex: number,
  sealed: ArrayBufferView, opts?: ChunkRunOptions): Uint8Array {
  const r = prepareRaw(key, baseNonce, sealed, 'sealed', opts, CHUNK_RUN_KEYS);
  try {
    const { first, final } = runArgs(firstIndex, opts);
    let n: number, length: number;
    if (final) {
      length = plaintextLengthOfBody(r.d.length);
      n = chunkCount(length);
    } else {
      n = r.d.length / SEALED_CHUNK_BYTES;
      if (!Number.isInteger(n) || n === 0) {
        throw new WeightsealError('ERR_TRUNCATED',
          `a run that does not end the message holds whole records of ${SEALED_CHUNK_BYTES} bytes, got ` +
            `${r.d.length} bytes; pass whole records, or final: true for the message's last run`);
      }
      length = n * CHUNK_BYTES;
    }
    const t = outputTarget(r.output, length, r.d, 'plaintext length');
    // Staged (the output may alias the input): decrypt privately, write the output once verified.
    const plain = t.staged ? new Uint8Array(length) : t.out;
    const gk = r.backend.importKey(r.k);
    try {
      openChunkRun(gk, r.n, first, t.input, n, plain, final ? first + n - 1 : -1);
      if (plain !== t.out) t.out.set(plain);
    } finally {
      gk.destroy();
      if (plain !== t.out) plain.fill(0);
    }
    return t.out;
  } finally {
    if (r.owned) r.k.fill(0);
  }
}

