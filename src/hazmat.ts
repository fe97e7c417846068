/**
 * weightseal/hazmat: primitives for building protocols, not for applications. One-shot
 * AES-GCM, and raw-mode chunked encryption (key and base nonce from a higher protocol).
 */
import { KeyObject } from 'node:crypto';
import { getBackend, type Backend, type BackendName } from './backend/index.js';
import { NONCE_BYTES } from './cobblestone.js';
import { WeightsealError, invalidArg } from './errors.js';
import { rawOpenBody, rawSealBody } from './format.js';
import { checkAesKey, checkBytes, describe, overlaps } from './validate.js';

export interface GcmOptions {
  /** Which implementation runs it (default: native, else noble). */
  backend?: BackendName | Backend;
}

const EMPTY = new Uint8Array(0);

function prepare(key: unknown, nonce: unknown, data: unknown, aad: unknown, dataName: string) {
  const k = checkAesKey(key);
  const n = checkBytes(nonce, 'nonce');
  if (n.length === 0) throw invalidArg('nonce must not be empty (12 bytes is standard)');
  const d = checkBytes(data, dataName);
  const a = aad === undefined ? EMPTY : checkBytes(aad, 'aad');
  return { k, n, d, a };
}

/** AES-GCM seal: returns ciphertext with the 16-byte tag appended. */
export function gcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array,
  aad?: Uint8Array, opts: GcmOptions = {}): Uint8Array {
  const { k, n, d, a } = prepare(key, nonce, plaintext, aad, 'plaintext');
  const gk = getBackend(opts.backend).importKey(k);
  try {
    const out = new Uint8Array(d.length + 16);
    gk.seal(n, a, d, out);
    return out;
  } finally {
    gk.destroy();
  }
}

/** AES-GCM open: returns the plaintext, or throws ERR_AUTH_FAILED and returns nothing. */
export function gcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array,
  aad?: Uint8Array, opts: GcmOptions = {}): Uint8Array {
  const { k, n, d, a } = prepare(key, nonce, sealed, aad, 'sealed');
  if (d.length < 16) {
    throw new WeightsealError('ERR_TRUNCATED',
      `sealed input is ${d.length} bytes, shorter than the 16-byte tag; pass ciphertext || tag`);
  }
  const gk = getBackend(opts.backend).importKey(k);
  try {
    const out = new Uint8Array(d.length - 16);
    if (overlaps(out, d)) throw new Error('unreachable: fresh output overlaps input');
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
  output?: Uint8Array;
}

function prepareRaw(key: unknown, baseNonce: unknown, data: unknown, dataName: string, opts: unknown) {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
    throw invalidArg(`options must be an object like { backend, output }, got ${describe(opts)}`);
  }
  const o = (opts ?? {}) as RawOptions;
  let k: Uint8Array;
  if (key instanceof KeyObject) {
    if (key.type !== 'secret') throw invalidArg(`key must be a secret KeyObject, got a ${key.type} key`);
    k = new Uint8Array(key.export());
    if (k.length !== 16 && k.length !== 32) {
      k.fill(0);
      throw invalidArg(`key must be a 16- or 32-byte AES key, got a ${k.length}-byte KeyObject`);
    }
  } else {
    k = checkAesKey(key);
  }
  const n = checkBytes(baseNonce, 'baseNonce');
  if (n.length !== NONCE_BYTES) {
    throw invalidArg(`baseNonce must be ${NONCE_BYTES} bytes (the AES-GCM nonce size), got ${n.length}`);
  }
  return { k, owned: k !== key, n, d: checkBytes(data, dataName), backend: getBackend(o.backend), output: o.output };
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
export function rawSeal(key: Uint8Array | KeyObject, baseNonce: Uint8Array, plaintext: Uint8Array,
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
 * tag fails; on failure nothing is returned and opts.output is zeroed.
 */
export function rawOpen(key: Uint8Array | KeyObject, baseNonce: Uint8Array, sealed: Uint8Array,
  opts?: RawOptions): Uint8Array {
  const r = prepareRaw(key, baseNonce, sealed, 'sealed', opts);
  try {
    return rawOpenBody(r.backend, r.k, r.n, r.d, r.output);
  } finally {
    if (r.owned) r.k.fill(0);
  }
}
