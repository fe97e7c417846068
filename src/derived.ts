/**
 * One message's derived key material (c2sp.org/chunked-encryption "Key derivation"), kept
 * where JS cannot leave copies of it. With the addon, HKDF-Expand runs in native memory
 * (native/hkdf.cc): the AEAD key never exists in the JS heap, a native backend imports it
 * native to native, and destroy wipes it. Without the addon (or without OpenSSL HMAC in the
 * process) the key is derived with node:crypto into an off-heap buffer that is wiped; the
 * digest buffers node:crypto hands back are wiped too, but what OpenSSL and V8 copy on the
 * way, and what the noble backend keeps in its key schedule, are beyond our reach (README).
 */
import { addonStatus, type Addon, type DerivedKeysHandle } from './backend/addon.js';
import type { Backend, GcmKey } from './backend/types.js';
import {
  COMMITMENT_BYTES, NONCE_BYTES, SUITES, derivationInfo, derivedLength, hkdfExpandSha512, type Suite,
} from './cobblestone.js';

/** An AEAD key and base nonce to run chunks under, wherever the key bytes live. */
export interface KeyMaterial {
  readonly keyBytes: number;
  /** Not secret (GCM nonces are public); wiped with the key all the same. */
  readonly baseNonce: Uint8Array;
  /** Imports the key into a backend: native to native where it can, else via a copy wiped at once. */
  importKey(backend: Backend): GcmKey;
  /** Copies the key into dst (exactly keyBytes long), for a pool key slot; the caller wipes dst. */
  writeKey(dst: Uint8Array): void;
  /** Wipes key and base nonce; further use throws. */
  wipe(): void;
}

export interface Derived extends KeyMaterial {
  /** What the header carries after the salt. */
  readonly commitment: Uint8Array;
  /** Whether the key lives in native memory (the addon derived it). */
  readonly native: boolean;
  /** Wipes the key only, once it is imported; the base nonce stays for the chunks. */
  dropKey(): void;
}

/** Memory V8 does not move: a wipe reaches the only copy (small typed arrays live on the heap). */
export const offHeap = (n: number): Uint8Array => new Uint8Array(new ArrayBuffer(n));

function closed(): Error {
  return new Error('unreachable: derived key used after wipe');
}

/** Imports key bytes that only `write` can produce: native-to-native, else through a wiped copy. */
function importVia(backend: Backend, keyBytes: number, write: (dst: Uint8Array) => void,
  handle: DerivedKeysHandle | null): GcmKey {
  if (handle && backend.importNative) return backend.importNative(handle);
  const tmp = offHeap(keyBytes);
  try {
    write(tmp);
    return backend.importKey(tmp);
  } finally {
    tmp.fill(0);
  }
}

class NativeDerived implements Derived {
  readonly native = true;
  readonly baseNonce = offHeap(NONCE_BYTES);
  readonly commitment = offHeap(COMMITMENT_BYTES);
  #h: DerivedKeysHandle | null;
  constructor(ctor: NonNullable<Addon['DerivedKeys']>, readonly keyBytes: number, inputKey: Uint8Array,
    info: Uint8Array) {
    this.#h = new ctor(inputKey, info, keyBytes, this.baseNonce, this.commitment);
  }

  #handle(): DerivedKeysHandle {
    if (!this.#h) throw closed();
    return this.#h;
  }

  importKey(backend: Backend): GcmKey {
    const h = this.#handle();
    return importVia(backend, this.keyBytes, (dst) => h.writeKey(dst), h);
  }

  writeKey(dst: Uint8Array): void {
    this.#handle().writeKey(dst);
  }

  dropKey(): void {
    this.#h?.destroy();
    this.#h = null;
  }

  wipe(): void {
    this.dropKey();
    this.baseNonce.fill(0);
  }
}

class JsDerived implements Derived {
  readonly native = false;
  readonly baseNonce: Uint8Array;
  readonly commitment: Uint8Array;
  #key: Uint8Array | null;
  constructor(readonly keyBytes: number, inputKey: Uint8Array, info: Uint8Array, length: number) {
    // One off-heap buffer holds all three; views into it, so one wipe covers the key.
    const okm = hkdfExpandSha512(inputKey, info, length);
    this.#key = okm.subarray(0, keyBytes);
    this.baseNonce = okm.subarray(keyBytes, keyBytes + NONCE_BYTES);
    this.commitment = offHeap(COMMITMENT_BYTES);
    this.commitment.set(okm.subarray(keyBytes + NONCE_BYTES));
    okm.fill(0, keyBytes + NONCE_BYTES);
  }

  importKey(backend: Backend): GcmKey {
    if (!this.#key) throw closed();
    const key = this.#key;
    return importVia(backend, this.keyBytes, (dst) => dst.set(key), null);
  }

  writeKey(dst: Uint8Array): void {
    if (!this.#key) throw closed();
    dst.set(this.#key);
  }

  dropKey(): void {
    this.#key?.fill(0);
    this.#key = null;
  }

  wipe(): void {
    this.dropKey();
    this.baseNonce.fill(0);
  }
}

/** Whether derivation runs in native memory in this process. */
export function nativeDerivation(): boolean {
  return typeof addonStatus().addon?.DerivedKeys === 'function';
}

/** "Key derivation" for one message; the caller wipes the result. */
export function deriveMessageKeys(suite: Suite, inputKey: Uint8Array, salt: Uint8Array,
  context: Uint8Array): Derived {
  const info = derivationInfo(suite, salt, context);
  const { keyBytes } = SUITES[suite];
  const ctor = addonStatus().addon?.DerivedKeys;
  if (ctor) return new NativeDerived(ctor, keyBytes, inputKey, info);
  return new JsDerived(keyBytes, inputKey, info, derivedLength(suite));
}

/** Caller-supplied key bytes (hazmat raw mode) as KeyMaterial; wipe() zeroes our copies. */
export function rawKeyMaterial(key: Uint8Array, baseNonce: Uint8Array): KeyMaterial {
  const k = offHeap(key.length);
  k.set(key);
  const n = offHeap(baseNonce.length);
  n.set(baseNonce);
  let live = true;
  return {
    keyBytes: k.length,
    baseNonce: n,
    importKey: (backend) => {
      if (!live) throw closed();
      return backend.importKey(k);
    },
    writeKey: (dst) => {
      if (!live) throw closed();
      dst.set(k);
    },
    wipe: () => {
      live = false;
      k.fill(0);
      n.fill(0);
    },
  };
}
