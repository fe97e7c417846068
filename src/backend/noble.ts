/** Pure-JS backend on @noble/ciphers: the portable fallback and the baseline. */
import { gcm } from '@noble/ciphers/aes.js';
import { WeightsealError } from '../errors.js';
import { openChunksLoop, sealChunksLoop } from './chunks.js';
import { readOnce } from './read-once.js';
import type { Backend, GcmKey } from './types.js';

class NobleKey implements GcmKey {
  #key: Uint8Array | null;
  constructor(readonly backend: Backend, key: Uint8Array) {
    this.#key = Uint8Array.from(key);
  }

  #live(iv: Uint8Array): Uint8Array {
    if (!this.#key) throw new WeightsealError('ERR_CLOSED', 'this key was destroyed; import it again');
    if (iv.length < 8) {
      // @noble/ciphers refuses GCM IVs shorter than 8 bytes; the other backends take them.
      throw new WeightsealError('ERR_INVALID_ARG',
        `the noble backend needs an IV of at least 8 bytes (got ${iv.length}); use the native or node backend`);
    }
    return this.#key;
  }

  // noble encrypts into a fresh array (hashing that, never out) and decrypts in two passes
  // over its input, so shared inputs are copied first (read-once.ts).
  seal(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    const key = this.#live(iv);
    out.set(gcm(key, readOnce(iv), readOnce(aad)).encrypt(readOnce(plaintext)));
  }

  open(iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
    const key = this.#live(iv);
    let pt: Uint8Array;
    try {
      pt = gcm(key, readOnce(iv), readOnce(aad)).decrypt(readOnce(sealed));
    } catch {
      out.fill(0);
      return false;
    }
    out.set(pt);
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

export const nobleBackend: Backend = {
  name: 'noble',
  kernel: null,
  importKey(key: Uint8Array): GcmKey {
    return new NobleKey(nobleBackend, key);
  },
};
