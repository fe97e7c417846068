/**
 * c2sp "TrailingData": bytes appended after a message's final chunk. Records are framed by
 * length alone, so appended bytes show up as a tag failure where the final chunk was; a trial
 * open of the failed record as a shorter final chunk tells them apart from a modified chunk.
 * Appended bytes that stay within the final chunk's record (or make exactly one more record)
 * are named ERR_TRAILING_DATA; more looks like a modified chunk (docs/errors.md).
 * Shared by the streaming pipeline and SealedFile so both name the failure the same way.
 */
import type { GcmKey } from './backend/types.js';
import { chunkNonce } from './backend/chunks.js';
import { CHUNK_BYTES, TAG_BYTES } from './cobblestone.js';
import { WeightsealError } from './errors.js';

const EMPTY = new Uint8Array(0);

export function trailingData(chunk: number): WeightsealError {
  return new WeightsealError('ERR_TRAILING_DATA',
    `sealed data continues after its final chunk (chunk ${chunk} is a valid short final chunk followed by ` +
      'more bytes): something was appended to the message; no plaintext of that chunk was released',
    { chunk });
}

/**
 * Final-chunk lengths worth a trial when record `index` failed, the stream's last record being
 * `lastIndex` with `lastLength` bytes (tag included): any shorter length in the last record
 * itself, or, in the one before, exactly the length that leaves one extra full record after it.
 * Nothing for a record further from the end: trying every length there would cost 16 K
 * trial opens on every modified chunk (seconds on the node and noble backends), so appended
 * data longer than that reads as ERR_AUTH_FAILED at the real final chunk (docs/errors.md).
 */
export function finalLengths(index: number, recordLength: number, lastIndex: number, lastLength: number): number[] {
  if (index === lastIndex) {
    return Array.from({ length: Math.max(0, Math.min(CHUNK_BYTES, recordLength - TAG_BYTES)) }, (_, i) => i);
  }
  if (index === lastIndex - 1) {
    const len = lastLength - TAG_BYTES;
    if (len >= 0 && len < CHUNK_BYTES) return [len];
  }
  return [];
}

/**
 * Does failed record `index` begin with a valid final chunk of one of `lengths`, followed by
 * more bytes? Error path only, once per stream: at most one trial per byte of the record.
 * `scratch` (at least the record's plaintext size) is zeroed again: a final chunk found here
 * is not released.
 */
export function endsEarly(key: GcmKey, baseNonce: Uint8Array, index: number, record: Uint8Array,
  scratch: Uint8Array, lengths: number[]): boolean {
  const nonce = chunkNonce(baseNonce, index, new Uint8Array(baseNonce.length));
  let found = false;
  for (const len of lengths) {
    // A final chunk is short and must leave at least one byte after its tag.
    if (len + TAG_BYTES >= record.length) continue;
    found = key.open(nonce, EMPTY, record.subarray(0, len + TAG_BYTES), scratch.subarray(0, len));
    if (found) break;
  }
  scratch.fill(0);
  return found;
}
