/**
 * The executor for the native backend at threads > 1: the addon's own threads (native/async.cc)
 * run each slot's batch call in place, on whatever memory the slot lives in. Ordinary Buffers
 * are read where they are and written where the caller wants the output: no copy into
 * SharedArrayBuffer slots, no worker messages, no per-worker key import. (Why this and not
 * piscina workers: BENCHMARKS.md "Native threads".)
 *
 * Pools are shared by streams asking for the same thread count (as piscina's were), so
 * `threads` still bounds the cores one stream takes; an idle pool's threads exit after 10 s.
 */
import { addonStatus, type NativeThreadPool } from '../backend/addon.js';
import { nativeHandle } from '../backend/native.js';
import type { Backend, GcmKey } from '../backend/types.js';
import { offHeap } from '../derived.js';
import { CHUNK_BYTES, SEALED_CHUNK_BYTES } from '../cobblestone.js';
import { endsEarly, finalLengths } from '../trailing.js';
import type { Executor, Keying, Region } from './pool.js';
import { OK, OP_COPY, type OpCode, type SlotResult, type Tail } from './work.js';

/**
 * The smallest part of a slot worth a thread of its own: 16 chunks (256 KiB, some 25 us of
 * AES-GCM per core) keeps the queue and wake-up cost per part around a percent.
 */
export const PART_CHUNKS = 16;
const IDLE_MS = 10_000;

interface Shared {
  pool: NativeThreadPool;
  users: number;
  timer: NodeJS.Timeout | null;
}

const pools = new Map<number, Shared>();
/** Jobs completed by every native pool so far, closed ones included. */
let completed = 0;

/** Whether the loaded addon has the thread pool (a stale build/ may not). */
export function nativePoolAvailable(): boolean {
  return typeof addonStatus().addon?.ThreadPool === 'function';
}

function acquire(threads: number): Shared {
  let s = pools.get(threads);
  if (!s) {
    const Ctor = addonStatus().addon!.ThreadPool!;
    const pool = new Ctor(threads);
    // No thread could be started (a process thread limit): the caller runs inline instead.
    if (pool.threads === 0) {
      pool.close();
      throw new Error('weightseal: no native pool thread could be started');
    }
    s = { pool, users: 0, timer: null };
    pools.set(threads, s);
  }
  if (s.timer) clearTimeout(s.timer);
  s.timer = null;
  s.users++;
  return s;
}

function release(threads: number, s: Shared): void {
  if (--s.users > 0) return;
  s.timer = setTimeout(() => {
    if (s.users > 0 || s.pool.pending > 0 || pools.get(threads) !== s) return;
    pools.delete(threads);
    s.pool.close();
  }, IDLE_MS);
  s.timer.unref();
}

/** Threads of every native pool, whether any job runs, and jobs completed (tests, benchmarks). */
export function nativePoolStats(): { threads: number; idle: number; completed: number } {
  let threads = 0;
  let idle = 0;
  for (const s of pools.values()) {
    threads += s.pool.threads;
    if (s.pool.pending === 0) idle += s.pool.threads;
  }
  return { threads, idle, completed };
}

/** Closes every idle native pool now (benchmarks measuring start-up, tests). */
export function closeNativePools(): void {
  for (const [threads, s] of pools) {
    if (s.users > 0 || s.pool.pending > 0) continue;
    if (s.timer) clearTimeout(s.timer);
    pools.delete(threads);
    s.pool.close();
  }
}

/** How many parts one slot of n chunks is split into for `threads` threads. */
export function partsFor(n: number, threads: number): number {
  return Math.max(1, Math.min(threads, Math.ceil(n / PART_CHUNKS)));
}

export class NativeExecutor implements Executor {
  readonly needsShared = false;
  readonly inline = false;
  readonly #shared: Shared;
  readonly #threads: number;
  #key: GcmKey | null;
  readonly #nonce: Uint8Array | null;
  #closed = false;

  constructor(readonly op: OpCode, backend: Backend, keying: Keying | null, threads: number) {
    this.#threads = threads;
    this.#shared = acquire(threads); // first: when it throws, no key has been imported yet
    this.#key = keying ? keying.importKey(backend) : null;
    this.#nonce = keying ? offHeap(keying.baseNonce.length) : null;
    if (keying) this.#nonce!.set(keying.baseNonce);
  }

  async run(first: number, n: number, src: Region, dst: Region, tail: Tail): Promise<SlotResult> {
    if (this.#closed) throw new Error('weightseal: stream closed');
    const s = new Uint8Array(src.buf, src.off, src.len);
    const d = new Uint8Array(dst.buf, dst.off, dst.len);
    let fail: number;
    if (this.op === OP_COPY) {
      fail = await this.#shared.pool.run(OP_COPY, null, null, 0, s, CHUNK_BYTES, 0, d,
        partsFor(Math.ceil(s.length / CHUNK_BYTES), this.#threads));
    } else {
      const h = this.#key && nativeHandle(this.#key);
      if (!h) throw new Error('unreachable: native executor without a native key');
      fail = await this.#shared.pool.run(this.op, h, this.#nonce, first, s, CHUNK_BYTES, n, d, partsFor(n, this.#threads));
    }
    completed++;
    if (fail < 0) return OK;
    // c2sp "TrailingData": one record, on the main thread, only on the error path.
    const key = this.#key;
    if (this.#closed || !key) return { fail, trailing: false };
    const record = s.subarray(fail * SEALED_CHUNK_BYTES, Math.min(s.length, (fail + 1) * SEALED_CHUNK_BYTES));
    const scratch = new Uint8Array(CHUNK_BYTES);
    const trailing = endsEarly(key, this.#nonce!, first + fail, record, scratch,
      finalLengths(fail, record.length, tail.index, tail.length));
    scratch.fill(0);
    return { fail, trailing };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#key?.destroy();
    this.#key = null;
    this.#nonce?.fill(0);
    release(this.#threads, this.#shared);
  }
}
