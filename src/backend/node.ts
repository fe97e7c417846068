/**
 * node:crypto backend (Node's bundled OpenSSL). It allocates per call, which is what a user of
 * node:crypto pays, so it is the realistic "what you'd write without weightseal" baseline.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { WeightsealError } from '../errors.js';
import { openChunksLoop, sealChunksLoop, TAG_BYTES } from './chunks.js';
import { readOnce } from './read-once.js';
import type { Backend, GcmKey } from './types.js';

const MAX_IV_BYTES = 255;

class NodeKey implements GcmKey {
  #key: Uint8Array | null;
  readonly #alg: CipherGCMTypes;
  constructor(readonly backend: Backend, key: Uint8Array) {
    this.#key = Uint8Array.from(key);
    this.#alg = key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
  }

  #live(iv: Uint8Array): Uint8Array {
    if (!this.#key) throw new WeightsealError('ERR_CLOSED', 'this key was destroyed; import it again');
    if (iv.length > MAX_IV_BYTES) {
      // Node's GCM refuses IVs of 256 bytes or more; the native and noble backends take them.
      throw new WeightsealError('ERR_INVALID_ARG',
        `the node backend takes IVs of at most ${MAX_IV_BYTES} bytes (got ${iv.length}); use the native or noble backend`);
    }
    return this.#key;
  }

  // OpenSSL may load its input twice, so shared inputs are copied first (read-once.ts); it
  // writes (and hashes) Node's fresh output buffers, which are copied to out once.
  seal(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    const c = createCipheriv(this.#alg, this.#live(iv), readOnce(iv), { authTagLength: TAG_BYTES });
    if (aad.length) c.setAAD(readOnce(aad));
    const body = c.update(readOnce(plaintext));
    const tail = c.final();
    out.set(body);
    out.set(tail, body.length);
    out.set(c.getAuthTag(), plaintext.length);
  }

  open(iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
    const n = sealed.length - TAG_BYTES;
    const input = readOnce(sealed);
    const d = createDecipheriv(this.#alg, this.#live(iv), readOnce(iv), { authTagLength: TAG_BYTES });
    d.setAuthTag(input.subarray(n));
    if (aad.length) d.setAAD(readOnce(aad));
    const body = d.update(input.subarray(0, n));
    try {
      d.final();
    } catch {
      body.fill(0);
      out.fill(0);
      return false;
    }
    out.set(body);
    return true;
  }

  sealChunks(baseNonce: Uint8Array, firstIndex: number, plaintext: Uint8Array,
    chunkSize: number, nChunks: number, out: Uint8Array): void {
    sealChunksLoop(this, baseNonce, firstIndex, plaintext, chunkSize, nChunks, out);
  }

  openChunks(baseNonce: Uint8Array, firstIndex: number, sealed: Uint8Array,
    chunkSize: number, nChunks: number, out: Uint8Array): number {
    return openChunksLoop(this, baseNonce, firstIndex, sealed, chunkSize, nChunks, out);
  }

  destroy(): void {
    this.#key?.fill(0);
    this.#key = null;
  }
}

export const nodeBackend: Backend = {
  name: 'node',
  kernel: null,
  importKey(key: Uint8Array): GcmKey {
    return new NodeKey(nodeBackend, key);
  },
};
