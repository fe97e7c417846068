/** Response bodies into slot memory: the one copy a remote read makes of each byte. */
import { addonStatus } from '../backend/addon.js';

/**
 * Copies a body chunk into slot memory. Slots are SharedArrayBuffer views, and V8's
 * TypedArray.set into shared memory copies with relaxed atomics: measured in a remote open on
 * this project's 2-core machine, 0.5-0.7 CPU s per GB, against 0.2-0.3 for the addon's memcpy
 * (glibc) on the same chunks. Small chunks are not worth the call.
 */
const nativeCopy = addonStatus().addon?.memcpy ?? null;
export function copyChunk(dst: Uint8Array, at: number, chunk: Uint8Array): void {
  if (nativeCopy !== null && chunk.length >= 4096) nativeCopy(dst.subarray(at, at + chunk.length), chunk);
  else dst.set(chunk, at);
}
