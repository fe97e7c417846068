/**
 * The one interface every AES-GCM backend implements: `native` (the addon's kernels), `noble`
 * (@noble/ciphers, pure JS) and `node` (node:crypto, i.e. OpenSSL). Callers hand in output
 * buffers so the hot path allocates nothing (STYLE habit 4). Arguments are already validated.
 */
import type { DerivedKeysHandle } from './addon.js';

export type BackendName = 'native' | 'noble' | 'node';
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'noble', 'node'];

export interface Backend {
  readonly name: BackendName;
  /** The native kernel in use (`vaes512`, `vaes256`, `aesni`), or null for JS backends. */
  readonly kernel: string | null;
  /** Expands a 16- or 32-byte AES key. The result holds key material: destroy() it. */
  importKey(key: Uint8Array): GcmKey;
  /**
   * Native backends only: imports a derived key held in native memory (src/derived.ts)
   * without it ever passing through JS.
   */
  importNative?(handle: DerivedKeysHandle): GcmKey;
}

export interface GcmKey {
  readonly backend: Backend;
  /** Writes ciphertext || tag to out (plaintext.length + 16). out may start at plaintext. */
  seal(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void;
  /**
   * Opens ciphertext || tag into out (sealed.length - 16). Returns false on a bad tag, with out
   * zero-filled: no unverified plaintext is left behind.
   */
  open(iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean;
  /**
   * Seals a run of chunks of c2sp.org/chunked-encryption: chunk i is plaintext
   * [i*chunkSize, min((i+1)*chunkSize, len)), nonce baseNonce XOR (firstIndex + i), no AAD;
   * out holds chunk || tag per chunk. (nChunks-1)*chunkSize <= len <= nChunks*chunkSize.
   */
  sealChunks(baseNonce: Uint8Array, firstIndex: number, plaintext: Uint8Array,
    chunkSize: number, nChunks: number, out: Uint8Array): void;
  /**
   * Opens such a run. Returns -1 when every tag verifies, else the index within the run of
   * the first chunk that failed; that chunk's output is zero-filled and later ones untouched.
   */
  openChunks(baseNonce: Uint8Array, firstIndex: number, sealed: Uint8Array,
    chunkSize: number, nChunks: number, out: Uint8Array): number;
  /** Wipes the expanded key (native memory for the addon). Further use throws. */
  destroy(): void;
}
