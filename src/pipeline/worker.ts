/**
 * The pool worker: runs one slot's synchronous batch call on shared memory (STYLE habit 5)
 * and returns the verification result. Imported keys are cached per stream and destroyed
 * when the main thread broadcasts the stream's close (or, failing that, when a later task
 * finds the stream's key slot wiped).
 */
import { BroadcastChannel } from 'node:worker_threads';
import { getBackend, nativeBackend, type BackendName, type GcmKey } from '../backend/index.js';
import { addonStatus } from '../backend/addon.js';
import { CLOSE_CHANNEL, importKeySlot, isLive } from './keyslot.js';
import { OP_COPY, runSlot, setMemcpy, type OpCode, type SlotResult, type Tail } from './work.js';

/** One slot's work, as posted to the pool: offsets into shared buffers, never the bytes. */
export interface SlotTask {
  op: OpCode;
  stream: number;
  keys: SharedArrayBuffer | null;
  backend: BackendName;
  kernel: string | null;
  src: SharedArrayBuffer;
  srcOff: number;
  srcLen: number;
  dst: SharedArrayBuffer;
  dstOff: number;
  dstLen: number;
  first: number;
  n: number;
  /** Records from this index (within the slot) are checked for trailing data when they fail. */
  tail: Tail;
}

interface Cached {
  key: GcmKey;
  baseNonce: Uint8Array;
  slot: SharedArrayBuffer;
}

const keys = new Map<number, Cached>();

function drop(stream: number): void {
  const c = keys.get(stream);
  if (!c) return;
  keys.delete(stream);
  c.key.destroy();
  c.baseNonce.fill(0);
}

const channel = new BroadcastChannel(CLOSE_CHANNEL);
channel.unref();
channel.onmessage = (e: unknown) => drop((e as { data: number }).data);

setMemcpy(addonStatus().addon?.memcpy ?? null);

function keyFor(task: SlotTask): Cached {
  let c = keys.get(task.stream);
  if (c) return c;
  // Streams whose close broadcast has not arrived yet: their slots are already wiped.
  for (const [id, other] of keys) if (!isLive(other.slot)) drop(id);
  const backend = task.backend === 'native' ? nativeBackend(task.kernel) : getBackend(task.backend);
  const imported = task.keys && importKeySlot(task.keys, backend);
  if (!imported) throw new Error(`weightseal worker: stream ${task.stream} has no live key`);
  c = { ...imported, slot: task.keys! };
  keys.set(task.stream, c);
  return c;
}

export default function work(task: SlotTask): SlotResult {
  const src = new Uint8Array(task.src, task.srcOff, task.srcLen);
  const dst = new Uint8Array(task.dst, task.dstOff, task.dstLen);
  if (task.op === OP_COPY) return runSlot(OP_COPY, null, null, 0, 0, src, dst);
  const c = keyFor(task);
  return runSlot(task.op, c.key, c.baseNonce, task.first, task.n, src, dst, task.tail);
}
