/**
 * Caller memory lent to the addon's threads must stay where it is until they are done with
 * it. A SharedArrayBuffer cannot be detached or shrunk. An ordinary ArrayBuffer can be
 * detached by a transfer (postMessage, structuredClone), after which its memory belongs to
 * whoever received it and may be freed while our threads still read or write it: a
 * use-after-free in the caller's process. Node-API gives an addon no hold on an ArrayBuffer's
 * memory, only on the object, so the buffer is marked untransferable instead, as Node marks
 * its own pooled Buffers: a later transfer copies it (Node 20) or throws DataCloneError
 * (Node 21+). A resizable ArrayBuffer can also shrink under the threads, and nothing stops
 * that: such memory is never lent (inputs are copied into the ring, `into` is refused).
 * README "Output buffers" says so.
 */
import { markAsUntransferable } from 'node:worker_threads';

/** Whether `buf` can shrink while our threads use it (a non-shared resizable ArrayBuffer). */
export function canShrink(buf: ArrayBufferLike): boolean {
  return !(buf instanceof SharedArrayBuffer) && (buf as { resizable?: boolean }).resizable === true;
}

/** Keeps `buf` attached for as long as the process lives (no-op for shared memory). */
export function pinForThreads(buf: ArrayBufferLike): void {
  if (buf instanceof SharedArrayBuffer) return;
  markAsUntransferable(buf);
}
