/**
 * weightseal/hazmat: primitives for building protocols, not for applications. One-shot
 * AES-GCM here; raw-mode chunked encryption (key and base nonce from a higher protocol) is
 * added by the streaming engine.
 */
import { getBackend, type Backend, type BackendName } from './backend/index.js';
import { WeightsealError, invalidArg } from './errors.js';
import { checkAesKey, checkBytes, overlaps } from './validate.js';

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
