/**
 * Where slot work runs. Inline: the main thread runs the batch call itself (threads = 1).
 * Native: the addon's own threads, in place on any memory (native-pool.ts), for the native
 * backend. Pool: lazily created piscina pools shared by streams (one per thread count), for
 * the JS backends (noble, node:crypto), which need a JS thread; workers idle out. Each stream
 * hands its key over once, through a key slot (keyslot.ts), wiped at close; its tasks in
 * flight are bounded by its ring.
 */
import { fileURLToPath } from 'node:url';
import { WeightsealError, invalidArg } from '../errors.js';
import { Piscina } from 'piscina';
import { getBackend, nativeBackend, type Backend, type GcmKey } from '../backend/index.js';
import { offHeap, type KeyMaterial } from '../derived.js';
import { broadcastClose, wipeKeySlot, writeKeySlot } from './keyslot.js';
import { NativeExecutor, closeNativePools, nativePoolAvailable, nativePoolStats } from './native-pool.js';
import { OP_COPY, runSlot, type OpCode, type SlotResult, type Tail } from './work.js';
import type { SlotTask } from './worker.js';

/** A byte range of some buffer: the unit handed to an executor. */
export interface Region {
  buf: ArrayBufferLike;
  off: number;
  len: number;
}

/** The region's bytes; a caller's buffer lent in place and transferred since is ERR_INVALID_ARG. */
export function view(r: Region): Uint8Array {
  let v: Uint8Array | null = null;
  try {
    v = new Uint8Array(r.buf, r.off, r.len);
  } catch {
    // construct on a detached buffer, or past the end of a shrunk one: fall through
  }
  if (!v || v.length !== r.len) {
    throw invalidArg('an input buffer was detached (transferred) or shrunk while weightseal was reading it; ' +
      'keep it alive and unchanged in size until the call settles');
  }
  return v;
}

export interface Executor {
  /** Whether regions must live in SharedArrayBuffer memory (the workers' view of memory). */
  readonly needsShared: boolean;
  /** Whether run() does the work on the calling thread (which then needs to yield now and then). */
  readonly inline: boolean;
  run(first: number, n: number, src: Region, dst: Region, tail: Tail): Promise<SlotResult>;
  /** Wipes and drops the key everywhere it was imported. In-flight work may still settle. */
  close(): void;
}

/** What a stream's chunks run under (src/derived.ts): its key bytes may live in native memory. */
export type Keying = KeyMaterial;

class InlineExecutor implements Executor {
  readonly needsShared = false;
  readonly inline = true;
  #key: GcmKey | null;
  readonly #nonce: Uint8Array | null;
  constructor(readonly op: OpCode, backend: Backend, keying: Keying | null) {
    this.#key = keying ? keying.importKey(backend) : null;
    this.#nonce = keying ? offHeap(keying.baseNonce.length) : null;
    if (keying) this.#nonce!.set(keying.baseNonce);
  }

  run(first: number, n: number, src: Region, dst: Region, tail: Tail): Promise<SlotResult> {
    try {
      if (this.op !== OP_COPY && !this.#key) throw new Error('unreachable: stream closed');
      return Promise.resolve(runSlot(this.op, this.#key, this.#nonce, first, n, view(src), view(dst), tail));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  close(): void {
    this.#key?.destroy();
    this.#key = null;
    this.#nonce?.fill(0);
  }
}

/** Tasks posted ahead to each worker: it starts the next slot without a round trip to us. */
const TASKS_PER_WORKER = 2;
const pools = new Map<number, Piscina<SlotTask, SlotResult>>();
let nextStream = 1;

/** The worker module: compiled worker.js beside this file, or the TS bootstrap from sources. */
function workerFile(): string {
  const fromSource = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(fromSource ? './worker-dev.mjs' : './worker.js', import.meta.url));
}

/**
 * The shared pool of `threads` workers, created on first use. Streams asking for the same
 * thread count share it (so `threads` bounds the cores a stream's work takes); workers exit
 * after 10 s idle.
 */
function sharedPool(threads: number): Piscina<SlotTask, SlotResult> {
  let pool = pools.get(threads);
  if (!pool) {
    const created: Piscina<SlotTask, SlotResult> = 
new Piscina<SlotTask, SlotResult>({
      filename: workerFile(),
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: 10_000,
      concurrentTasksPerWorker: TASKS_PER_WORKER,
      // Workers wait on their port, not Atomics.wait, so the close broadcast reaches idle ones.
      atomics: 'disabled',
    });
    // Unhandled, piscina's 'error' (a worker that cannot start: EMFILE, out of memory) exits
    // the process; instead the pool is retired and its callers get ERR_IO.
    created.on('error', (e: unknown) => retire(threads, created, e));
    pools.set(threads, created);
    pending.set(created, new Set());
    pool = created;
  }
  return pool;
}

/** Rejecters of the tasks each pool has not settled yet, so a broken pool can fail them. */
const pending = new Map<Piscina<SlotTask, SlotResult>, Set<(e: unknown) => void>>();
/** Pools retired after an error, with the error their later callers get. */
const broken = new WeakMap<Piscina<SlotTask, SlotResult>, WeightsealError>();

function workerError(cause: unknown): WeightsealError {
  const sys = (cause as { message?: string } | undefined)?.message ?? String(cause);
  return new WeightsealError('ERR_IO',
    `a worker thread could not start or failed (${sys}); free file descriptors or memory (check ulimit -n), ` +
      'or pass threads: 1 to run on the calling thread', { cause });
}

/**
 * A pool whose worker failed outside any task: every task of it still waiting is rejected with
 * ERR_IO, and the next stream builds a new pool, so work resumes once descriptors free up.
 */
function retire(threads: number, pool: Piscina<SlotTask, SlotResult>, cause: unknown): void {
  const err = workerError(cause);
  if (!broken.has(pool)) broken.set(pool, err);
  if (pools.get(threads) === pool) pools.delete(threads);
  const waiting = pending.get(pool);
  pending.delete(pool);
  for (const reject of waiting ?? []) reject(err);
  void pool.destroy().catch(() => {});
}

/**
 * Live workers, how many of them run nothing, tasks waiting for a worker and tasks completed,
 * over all pools (piscina's and the addon's), for tests and benchmarks; and the threads of
 * each kind.
 */
export function poolStats(): { threads: number; idle: number; queued: number; completed: number;
  workerThreads: number; nativeThreads: number } {
  let threads = 0;
  let idle = 0;
  let queued = 0;
  let completed = 0;
  for (const p of pools.values()) {
    threads += p.threads.length;
    idle += p.idleThreads;
    queued += p.queueSize;
    completed += p.completed;
  }
  const n = nativePoolStats();
  return { threads: threads + n.threads, idle: idle + n.idle, queued, completed: completed + n.completed,
    workerThreads: threads, nativeThreads: n.threads };
}

/** Closes every pool (their workers exit); the next stream starts new ones. */
export async function closePool(): Promise<void> {
  closeNativePools();
  const all = [...pools.values()];
  pools.clear();
  for (const p of all) pending.delete(p);
  await Promise.all(all.map((p) => p.close()));
}

/** Whether a pool worker resolves this backend by name to the same implementation. */
export function workerResolvable(backend: Backend): boolean {
  try {
    const again = backend.name === 'native' ? nativeBackend(backend.kernel) : getBackend(backend.name);
    return again === backend;
  } catch {
    return false;
  }
}

class PoolExecutor implements Executor {
  readonly needsShared = true;
  readonly inline = false;
  readonly #stream = nextStream++;
  readonly #keys: SharedArrayBuffer | null;
  readonly #pool: Piscina<SlotTask, SlotResult>;
  #closed = false;

  constructor(readonly op: OpCode, readonly backend: Backend, keying: Keying | null, threads: number) {
    this.#pool = sharedPool(threads);
    this.#keys = keying ? writeKeySlot(keying) : null;
  }

  run(first: number, n: number, src: Region, dst: Region, tail: Tail): Promise<SlotResult> {
    if (!(src.buf instanceof SharedArrayBuffer) || !(dst.buf instanceof SharedArrayBuffer)) {
      return Promise.reject(new Error('unreachable: pool work outside shared memory'));
    }
    if (this.#closed) return Promise.reject(new Error('weightseal: stream closed'));
    const srcBuf = src.buf, dstBuf = dst.buf;
    const dead = broken.get(this.#pool);
    const waiting = pending.get(this.#pool);
    if (dead || !waiting) return Promise.reject(dead ?? workerError('pool closed'));
    return new Promise<SlotResult>((resolve, reject) => {
      const fail = (e: unknown) => { waiting.delete(fail); reject(e); };
      waiting.add(fail);
      let task: Promise<SlotResult>;
      try {
        task = this.#pool.run({
          op: this.op, stream: this.#stream, keys: this.#keys,
          backend: this.backend.name, kernel: this.backend.kernel,
          src: srcBuf, srcOff: src.off, srcLen: src.len,
          dst: dstBuf, dstOff: dst.off, dstLen: dst.len,
          first, n, tail,
        });
      } catch (e) {
        fail(workerError(e));
        return;
      }
      task.then((r) => { waiting.delete(fail); resolve(r); }, (e: unknown) => {
        // A task that fails because its worker could not start is the same ERR_IO.
        const code = (e as { code?: string } | undefined)?.code;
        fail(code === 'ERR_WORKER_INIT_FAILED' || code === 'EMFILE' ? workerError(e) : e);
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#keys) {
      wipeKeySlot(this.#keys);
      // Workers also drop keys whose slot they find wiped: a failed broadcast (EMFILE) is fine.
      try {
        broadcastClose(this.#stream);
      } catch {
        /* see above */
      }
    }
  }
}

export function createExecutor(op: OpCode, backend: Backend, keying: Keying | null, threads: number): Executor {
  if (threads <= 1) return new InlineExecutor(op, backend, keying);
  if (backend.name === 'native' && nativePoolAvailable() && workerResolvable(backend)) {
    try {
      return new NativeExecutor(op, backend, keying, threads);
    } catch {
      return new InlineExecutor(op, backend, keying);
    }
  }
  if (!workerResolvable(backend)) return new InlineExecutor(op, backend, keying);
  return new PoolExecutor(op, backend, keying, threads);
}
