/**
 * The work one slot takes: one synchronous batch call (GcmKey.sealChunks/openChunks) over the
 * slot, run either inline on the main thread or in a pool worker. Kept free of any threading
 * so both paths share it byte for byte.
 */
import type { GcmKey } from '../backend/types.js';
import { CHUNK_BYTES, SEALED_CHUNK_BYTES } from '../cobblestone.js';
import { endsEarly, finalLengths } from '../trailing.js';

export const OP_SEAL = 0;
export const OP_OPEN = 1;
/** The benchmark's baseline: the same pipeline with memcpy in place of the cipher. */
export const OP_COPY = 2;
export type OpCode = typeof OP_SEAL | typeof OP_OPEN | typeof OP_COPY;

/** Outcome of opening a slot: every tag verified, or the first chunk (within the slot) that failed. */
export interface SlotResult {
  /** -1 when every chunk verified; else the index within the slot of the first bad chunk. */
  fail: number;
  /**
   * The failing record starts with a valid final (short) chunk at its index followed by more
   * data: c2sp "TrailingData" rather than a modified chunk.
   */
  trailing: boolean;
}

export const OK: SlotResult = Object.freeze({ fail: -1, trailing: false });

let memcpy: ((dst: Uint8Array, src: Uint8Array) => void) | null = null;

/** Uses the addon's memcpy for the copy baseline when it is loaded (same call path as kernels). */
export function setMemcpy(fn: ((dst: Uint8Array, src: Uint8Array) => void) | null): void {
  memcpy = fn;
}

/** Where the stream's last record lies relative to a slot (c2sp "TrailingData" checks). */
export interface Tail {
  /** Index within the slot of the stream's last record; -1 when not yet known. */
  index: number;
  /** That record's length in bytes (tag included). */
  length: number;
}

export const NO_TAIL: Tail = Object.freeze({ index: -1, length: 0 });

/**
 * Runs op over one slot. For seal, `src` is the plaintext and `dst` receives nChunks sealed
 * records; for open the reverse. The final chunk of a message is the one run with a short
 * plaintext; the caller computed nChunks from c2sp "Message chunking".
 */
export function runSlot(op: OpCode, key: GcmKey | null, baseNonce: Uint8Array | null, firstIndex: number,
  nChunks: number, src: Uint8Array, dst: Uint8Array, tail: Tail = NO_TAIL): SlotResult {
  if (op === OP_COPY) {
    if (memcpy && src.length > 0) memcpy(dst, src);
    else dst.set(src);
    return OK;
  }
  if (!key || !baseNonce) throw new Error('unreachable: crypto slot without a key');
  if (op === OP_SEAL) {
    key.sealChunks(baseNonce, firstIndex, src, CHUNK_BYTES, nChunks, dst);
    return OK;
  }
  const fail = key.openChunks(baseNonce, firstIndex, src, CHUNK_BYTES, nChunks, dst);
  if (fail < 0) return OK;
  const record = src.subarray(fail * SEALED_CHUNK_BYTES, Math.min(src.length, (fail + 1) * SEALED_CHUNK_BYTES));
  const scratch = dst.subarray(fail * CHUNK_BYTES, Math.min(dst.length, (fail + 1) * CHUNK_BYTES));
  const lengths = finalLengths(fail, record.length, tail.index, tail.length);
  return { fail, trailing: endsEarly(key, baseNonce, firstIndex + fail, record, scratch, lengths) };
}
