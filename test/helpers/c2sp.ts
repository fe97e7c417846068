/**
 * Loader for the Wycheproof c2sp.org/chunked-encryption vectors (test/vectors/
 * c2sp_chunked_encryption_aes_{128,256}_gcm_test.json), applied as
 * test/vectors/c2sp_chunked_encryption.md says: `ct` is hex of a zlib stream, `ctx` is hex,
 * `msgLength`/`msgSha512` describe the message (valid) or the longest valid prefix
 * (PartialPlaintext). Shared by the whole-buffer, random-access, raw and streaming suites.
 *
 * Everything here is independent of src/ except the Suite name: `referenceOpen` decrypts
 * with node:crypto from `aeadKey`/`baseNonce`, so suites can recover a vector's message
 * without trusting the code under test.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import type { Suite } from '../../src/cobblestone.js';
import type { ErrorCode } from '../../src/errors.js';

export type C2spFlag =
  | 'ChunkReordering'
  | 'CounterRollover'
  | 'HeaderFailure'
  | 'InvalidKeySize'
  | 'ModifiedCiphertext'
  | 'PartialPlaintext'
  | 'TrailingData'
  | 'Truncation'
  | 'ValidFinalChunk'
  | 'WrongContext'
  | 'WrongKey';

export interface C2spVector {
  suite: Suite;
  tcId: number;
  comment: string;
  /** `suite #tcId comment`, for test names. */
  label: string;
  valid: boolean;
  flags: readonly C2spFlag[];
  /** The input key as given (InvalidKeySize vectors have the wrong length on purpose). */
  key: Uint8Array;
  ctx: Uint8Array;
  /** The whole sealed message (salt || commitment || chunks), decompressed. */
  ct: Uint8Array;
  /** Derived AEAD key and base nonce; absent on HeaderFailure vectors. */
  aeadKey?: Uint8Array;
  baseNonce?: Uint8Array;
  /** Valid: the message. PartialPlaintext: the longest validly encrypted prefix. */
  msgLength?: number;
  /** Lowercase hex SHA-512 of the bytes msgLength describes. */
  msgSha512?: string;
}

export const HEADER_BYTES = 56;
const CHUNK = 16384;
const TAG = 16;

const FILES: Record<Suite, string> = {
  'cobblestone-128': 'c2sp_chunked_encryption_aes_128_gcm_test.json',
  'cobblestone-256': 'c2sp_chunked_encryption_aes_256_gcm_test.json',
};
const AEADS: Record<Suite, string> = {
  'cobblestone-128': 'AEAD_AES_128_GCM',
  'cobblestone-256': 'AEAD_AES_256_GCM',
};

interface RawTest {
  tcId: number; comment: string; result: string; flags: string[]; key: string; ctx: string; ct: string;
  aeadKey?: string; baseNonce?: string; msgLength?: number; msgSha512?: string;
}
interface RawFile { testGroups: { aead: string; sha: string; tests: RawTest[] }[] }

function hexBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

const cache = new Map<Suite, C2spVector[]>();

/** The vectors of one suite (35 each), or of both when `suite` is omitted (70). */
export function loadC2spVectors(suite?: Suite): C2spVector[] {
  if (suite === undefined) return [...loadC2spVectors('cobblestone-128'), ...loadC2spVectors('cobblestone-256')];
  const hit = cache.get(suite);
  if (hit) return hit;
  const file = JSON.parse(readFileSync(new URL(`../vectors/${FILES[suite]}`, import.meta.url), 'utf8')) as RawFile;
  const out: C2spVector[] = [];
  for (const g of file.testGroups) {
    if (g.aead !== AEADS[suite] || g.sha !== 'SHA-512') throw new Error(`unexpected group ${g.aead}/${g.sha}`);
    for (const t of g.tests) {
      const v: C2spVector = {
        suite,
        tcId: t.tcId,
        comment: t.comment,
        label: `${suite} #${t.tcId} ${t.comment}`,
        valid: t.result === 'valid',
        flags: t.flags as C2spFlag[],
        key: hexBytes(t.key),
        ctx: hexBytes(t.ctx),
        ct: new Uint8Array(inflateSync(Buffer.from(t.ct, 'hex'))),
      };
      if (t.aeadKey !== undefined) v.aeadKey = hexBytes(t.aeadKey);
      if (t.baseNonce !== undefined) v.baseNonce = hexBytes(t.baseNonce);
      if (t.msgLength !== undefined) v.msgLength = t.msgLength;
      if (t.msgSha512 !== undefined) v.msgSha512 = t.msgSha512.toLowerCase();
      out.push(v);
    }
  }
  cache.set(suite, out);
  return out;
}

export function hasFlag(v: C2spVector, flag: C2spFlag): boolean {
  return v.flags.includes(flag);
}

export function sha512Hex(bytes: Uint8Array): string {
  return createHash('sha512').update(bytes).digest('hex');
}

/** Whether `bytes` are exactly what msgLength/msgSha512 describe. */
export function matchesMessage(v: C2spVector, bytes: Uint8Array): boolean {
  return v.msgLength !== undefined && bytes.length === v.msgLength && sha512Hex(bytes) === v.msgSha512;
}

/** Whether raw mode applies (the appendix): not a HeaderFailure, aeadKey/baseNonce given. */
export function rawApplies(v: C2spVector): v is C2spVector & { aeadKey: Uint8Array; baseNonce: Uint8Array } {
  return !hasFlag(v, 'HeaderFailure') && v.aeadKey !== undefined && v.baseNonce !== undefined;
}

/**
 * The WeightsealError codes a rejection of an invalid vector may sensibly carry, from its
 * flags: the header failures have one code each; a cut or extended body either has a length
 * no message has (ERR_TRUNCATED) or a final chunk that fails (ERR_AUTH_FAILED); any other
 * modification fails a chunk's tag. `raw`: the body alone (no header checks apply).
 */
export function rejectionCodes(v: C2spVector, raw = false): ErrorCode[] {
  if (hasFlag(v, 'InvalidKeySize')) return ['ERR_INVALID_ARG'];
  if (!raw && hasFlag(v, 'HeaderFailure')) {
    return hasFlag(v, 'Truncation') ? ['ERR_TRUNCATED'] : ['ERR_WRONG_KEY_OR_CONTEXT'];
  }
  if (hasFlag(v, 'Truncation') || hasFlag(v, 'TrailingData')) return ['ERR_TRUNCATED', 'ERR_AUTH_FAILED'];
  return ['ERR_AUTH_FAILED'];
}

/** The body without the 56-byte salt || commitment header (for raw mode). */
export function rawBody(v: C2spVector): Uint8Array {
  return v.ct.subarray(HEADER_BYTES);
}

/** The first 24 bytes of ct: the salt to inject to re-encrypt a vector byte for byte. */
export function vectorSalt(v: C2spVector): Uint8Array {
  return v.ct.subarray(0, 24);
}

/**
 * The message of a valid vector, decrypted chunk by chunk with node:crypto from aeadKey and
 * baseNonce (independent of the code under test), then checked against msgSha512.
 */
export function referenceOpen(v: C2spVector): Uint8Array {
  if (!v.valid || !rawApplies(v)) throw new Error(`${v.label}: reference decryption needs a valid vector`);
  const body = rawBody(v);
  const alg = v.aeadKey.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
  const n = Math.floor(body.length / (CHUNK + TAG)) + 1;
  const msg = new Uint8Array(body.length - n * TAG);
  const nonce = new Uint8Array(12);
  for (let i = 0; i < n; i++) {
    nonce.set(v.baseNonce);
    for (let b = 0, x = i; b < 5; b++, x = Math.floor(x / 256)) nonce[11 - b]! ^= x & 0xff;
    const start = i * (CHUNK + TAG);
    const end = Math.min(start + CHUNK + TAG, body.length);
    const d = createDecipheriv(alg, v.aeadKey, nonce);
    d.setAuthTag(body.subarray(end - TAG, end));
    msg.set(Buffer.concat([d.update(body.subarray(start, end - TAG)), d.final()]), i * CHUNK);
  }
  if (!matchesMessage(v, msg)) throw new Error(`${v.label}: reference decryption does not match msgSha512`);
  return msg;
}
