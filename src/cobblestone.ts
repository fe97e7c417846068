/**
 * c2sp.org/chunked-encryption ("Cobblestone"): key derivation, commitment and chunk
 * arithmetic as pure functions. Section names below are the spec's.
 *
 * Sealed message = salt (24) || commitment (32) || chunk_0 || tag_0 || ... || chunk_n || tag_n,
 * every chunk 16 KiB except the final one, which is shorter and may be empty.
 */
import { createHmac, KeyObject, randomFillSync } from 'node:crypto';
import { WeightsealError, invalidArg } from './errors.js';
import { checkBytes, describe, keyTypeMessage } from './validate.js';

export type Suite = 'cobblestone-256' | 'cobblestone-128';
export const DEFAULT_SUITE: Suite = 'cobblestone-256';

export const SUITES: Record<Suite, { aead: string; keyBytes: 16 | 32 }> = {
  'cobblestone-256': { aead: 'AEAD_AES_256_GCM', keyBytes: 32 },
  'cobblestone-128': { aead: 'AEAD_AES_128_GCM', keyBytes: 16 },
};

export const CHUNK_BYTES = 16384;
export const TAG_BYTES = 16;
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
export const SALT_BYTES = 24;
export const COMMITMENT_BYTES = 32;
export const HEADER_BYTES = SALT_BYTES + COMMITMENT_BYTES;
export const NONCE_BYTES = 12;
/** "Message chunking": the counter must stay below 2^38 (4 PiB - 1 byte of plaintext). */
export const MAX_CHUNKS = 2 ** 38;
export const MAX_PLAINTEXT_BYTES = MAX_CHUNKS * CHUNK_BYTES - 1;

const PREFIX = new TextEncoder().encode('c2sp.org/chunked-encryption@v1+');

export function checkSuite(suite: unknown = DEFAULT_SUITE): Suite {
  if (suite !== 'cobblestone-256' && suite !== 'cobblestone-128') {
    throw invalidArg(`suite must be 'cobblestone-256' or 'cobblestone-128', got ${String(suite)}`);
  }
  return suite;
}

/**
 * The suite for a call: the one given, else the key's length decides (16 bytes:
 * cobblestone-128, anything else: cobblestone-256, whose check then names a wrong length).
 * The command follows the same rule, so a 16-byte key never needs `suite` spelled out.
 */
export function resolveSuite(suite: unknown, key: unknown): Suite {
  if (suite !== undefined) return checkSuite(suite);
  const n = key instanceof KeyObject && key.type === 'secret' ? key.symmetricKeySize :
    key instanceof Uint8Array ? key.length : 0;
  return n === 16 ? 'cobblestone-128' : DEFAULT_SUITE;
}

/** Keys come as bytes or a secret KeyObject, sized for the suite's AEAD. */
export function inputKeyBytes(key: unknown, suite: Suite): Uint8Array {
  let bytes: Uint8Array;
  if (key instanceof KeyObject) {
    if (key.type !== 'secret') throw invalidArg(`key must be a secret KeyObject, got a ${key.type} key`);
    bytes = new Uint8Array(key.export());
  } else if (key instanceof Uint8Array) {
    bytes = checkBytes(key, 'key'); // detached or shrunk: ERR_INVALID_ARG, not "0 bytes"
  } else {
    throw invalidArg(keyTypeMessage('key', key));
  }
  const want = SUITES[suite].keyBytes;
  if (bytes.length !== want) {
    const other = bytes.length === 16 ? " (use suite 'cobblestone-128' for a 16-byte key)" :
      bytes.length === 32 ? " (use suite 'cobblestone-256' for a 32-byte key)" :
      bytes.length === 24 ? ' (AES-192 is not supported; use a 32-byte key, e.g. crypto.randomBytes(32))' : '';
    if (key instanceof KeyObject) bytes.fill(0);
    throw invalidArg(`${suite} needs a ${want}-byte key, got ${bytes.length} bytes${other}`);
  }
  return bytes;
}

/** Context is bound into the key derivation; a string is taken as UTF-8. */
export function contextBytes(context: unknown): Uint8Array {
  if (context === undefined) return new Uint8Array(0);
  if (typeof context === 'string') return new TextEncoder().encode(context);
  if (ArrayBuffer.isView(context)) return checkBytes(context, 'context');
  throw invalidArg(`context must be a Uint8Array or a string, got ${describe(context)}`);
}

export interface Derived {
  key: Uint8Array;
  baseNonce: Uint8Array;
  commitment: Uint8Array;
}

/** The HKDF info of "Key derivation": prefix || aead || 0x00 || salt || context (no secret in it). */
export function derivationInfo(suite: Suite, salt: Uint8Array, context: Uint8Array): Uint8Array {
  if (salt.length !== SALT_BYTES) throw invalidArg(`salt must be ${SALT_BYTES} bytes`);
  const name = new TextEncoder().encode(SUITES[suite].aead);
  const info = new Uint8Array(PREFIX.length + name.length + 1 + SALT_BYTES + context.length);
  info.set(PREFIX, 0);
  info.set(name, PREFIX.length);
  info.set(salt, PREFIX.length + name.length + 1);
  info.set(context, PREFIX.length + name.length + 1 + SALT_BYTES);
  return info;
}

/** Bytes of key || base nonce || commitment for a suite. */
export function derivedLength(suite: Suite): number {
  return SUITES[suite].keyBytes + NONCE_BYTES + COMMITMENT_BYTES;
}

/**
 * "Key derivation": key || base nonce || commitment = HKDF-Expand(SHA-512, prk = input key,
 * info = prefix || aead || 0x00 || salt || context). The JS reference, returning the key as
 * bytes: the library derives through src/derived.ts, which keeps the key in native memory.
 */
export function deriveKeys(suite: Suite, inputKey: Uint8Array, salt: Uint8Array,
  context: Uint8Array): Derived {
  const info = derivationInfo(suite, salt, context);
  const { keyBytes } = SUITES[suite];
  const okm = hkdfExpandSha512(inputKey, info, derivedLength(suite));
  const out = {
    key: okm.slice(0, keyBytes),
    baseNonce: okm.slice(keyBytes, keyBytes + NONCE_BYTES),
    commitment: okm.slice(keyBytes + NONCE_BYTES),
  };
  okm.fill(0);
  return out;
}

/**
 * RFC 5869 HKDF-Expand with HMAC-SHA-512 into `okm` (off-heap when the caller made it so).
 * Written out because the spec keys it with the input key itself (16 or 32 bytes), which
 * library versions that insist on prk >= HashLen refuse. Each block is wiped after use; what
 * node:crypto and V8 copy on the way (the digest Buffer's backing store is freed, not wiped)
 * is beyond reach here, which is why the addon derives in native memory when it can.
 */
export function hkdfExpandSha512(prk: Uint8Array, info: Uint8Array, length: number,
  okm: Uint8Array = new Uint8Array(new ArrayBuffer(length))): Uint8Array {
  let t: Uint8Array = new Uint8Array(0);
  const counter = new Uint8Array(1);
  for (let i = 1, filled = 0; filled < length; i++) {
    counter[0] = i;
    const next = createHmac('sha512', prk).update(t).update(info).update(counter).digest();
    t.fill(0);
    t = next;
    okm.set(t.subarray(0, Math.min(t.length, length - filled)), filled);
    filled += t.length;
  }
  t.fill(0);
  return okm;
}

export function randomSalt(): Uint8Array {
  return randomFillSync(new Uint8Array(SALT_BYTES));
}

/** Constant-time commitment check; the caller has not decrypted anything yet. */
export function checkCommitment(expected: Uint8Array, got: Uint8Array): void {
  let diff = expected.length ^ got.length;
  for (let i = 0; i < expected.length; i++) diff |= expected[i]! ^ (got[i] ?? 0);
  if (diff !== 0) throw wrongKeyOrContext();
}

export function wrongKeyOrContext(): WeightsealError {
  return new WeightsealError('ERR_WRONG_KEY_OR_CONTEXT',
    'key commitment mismatch: this message was sealed under a different key, suite or context ' +
      '(or its header was modified); check the key and the context it was sealed with');
}

/** Number of chunks for a plaintext length: the final chunk is always short, maybe empty. */
export function chunkCount(plaintextBytes: number): number {
  return Math.floor(plaintextBytes / CHUNK_BYTES) + 1;
}

/** Length of a sealed body (no header) for a plaintext length. */
export function sealedBodyLength(plaintextBytes: number): number {
  return plaintextBytes + chunkCount(plaintextBytes) * TAG_BYTES;
}

export function sealedLength(plaintextBytes: number, raw = false): number {
  return (raw ? 0 : HEADER_BYTES) + sealedBodyLength(plaintextBytes);
}

/**
 * Plaintext length of a sealed body of `bodyBytes` (header removed), or ERR_TRUNCATED for
 * lengths no message has ("Implementation notes"): a body ending on a full chunk boundary
 * lost its final chunk, and a final record shorter than a tag was cut inside it.
 */
export function plaintextLengthOfBody(bodyBytes: number): number {
  const full = Math.floor(bodyBytes / SEALED_CHUNK_BYTES);
  const rest = bodyBytes - full * SEALED_CHUNK_BYTES;
  if (rest < TAG_BYTES) {
    throw new WeightsealError('ERR_TRUNCATED',
      `sealed data is truncated: ${bodyBytes} bytes after the header ${rest === 0 ?
        'end on a chunk boundary, so the final (short) chunk is missing' :
        'end inside an authentication tag'}; the file was cut short in transfer or on disk ` +
        '(or had bytes appended)');
  }
  if (full + 1 > MAX_CHUNKS) {
    throw new WeightsealError('ERR_TOO_LARGE', 'sealed data exceeds the 2^38-chunk limit of c2sp.org/chunked-encryption');
  }
  return full * CHUNK_BYTES + rest - TAG_BYTES;
}

export function checkPlaintextLength(n: number): void {
  if (n > MAX_PLAINTEXT_BYTES) {
    throw new WeightsealError('ERR_TOO_LARGE',
      `message of ${n} bytes exceeds the c2sp.org/chunked-encryption limit of 2^38 chunks (4 PiB - 1)`);
  }
}
