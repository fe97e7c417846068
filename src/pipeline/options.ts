/** The streaming API's common options, checked once with messages that say what to pass. */
import { KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { getBackend, type Backend, type BackendName } from '../backend/index.js';
import { CHUNK_BYTES, contextBytes, inputKeyBytes, resolveSuite, type Suite } from '../cobblestone.js';
import { invalidArg } from '../errors.js';
import { TEST_SALT } from '../format.js';
import { describe } from '../validate.js';
import type { Keys, Tuning } from './engine.js';

export const DEFAULT_SLOT_BYTES = 4 * 1024 * 1024;
/**
 * Inputs up to this size run inline on the calling thread, synchronously, whatever `threads`
 * says. A hand-off to the pool costs two thread wake-ups (tens of microseconds on a quiet
 * machine, far more on a loaded one), about what 1 MiB of AES-GCM on one core takes (some
 * 80 us at 13 GB/s), so below it splitting cannot win at 2 threads; 1 MiB is also a short
 * enough stall of the event loop. (bench "small messages" reports both sides.)
 */
export const INLINE_BYTES = 1024 * 1024;
let inline = INLINE_BYTES;

/** The inline limit in force (INLINE_BYTES unless a test changed it). */
export function inlineBytes(): number {
  return inline;
}

/** Tests only: sets the inline limit (0: every multi-thread stream uses the pool); returns the old one. */
export function setInlineBytes(n: number): number {
  const old = inline;
  inline = n;
  return old;
}
const MAX_SLOT_BYTES = 1024 * 1024 * 1024;
const MAX_THREADS = 1024;
const MAX_INFLIGHT = 4096;
/**
 * The default bound on one stream's slot ring (input + output of every slot): 256 MiB, enough
 * for 31 slots of 4 MiB, which keeps 64 cores busy since each slot is split across threads
 * (native-pool.ts). `maxRingBytes` raises it.
 */
export const DEFAULT_MAX_RING_BYTES = 256 * 1024 * 1024;
const MAX_RING_LIMIT = 64 * 1024 * 1024 * 1024;

export interface PipelineOptions {
  /** 'cobblestone-256' (default, 32-byte key) or 'cobblestone-128' (16-byte key). */
  suite?: Suite;
  /** Bound into the key derivation; must match at open. Bytes, or a string taken as UTF-8. */
  context?: ArrayBufferView | string;
  /**
   * Threads (default: os.availableParallelism()); 1 runs inline on the calling thread. More
   * than availableParallelism() would only add contention, so larger values are clamped to it.
   */
  threads?: number;
  /** Which AES-GCM implementation runs it (default: native, else noble). */
  backend?: BackendName | Backend;
  /** Plaintext bytes per slot (default 4 MiB), a multiple of 16 KiB. */
  slotBytes?: number;
  /**
   * Slots in flight (default 2 x threads + 2, as many as fit in maxRingBytes): memory in
   * flight is at most about 2 x inflight x slotBytes, whatever the input size.
   */
  inflight?: number;
  /**
   * Upper bound on the slot ring's memory, bytes (default 256 MiB). slotBytes x inflight
   * (x 2, input and output) beyond it is ERR_INVALID_ARG before anything is read or written.
   */
  maxRingBytes?: number;
  /** Aborts the operation with ERR_ABORTED. */
  signal?: AbortSignal;
}

function intOption(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalidArg(`${name} must be an integer in ${min}..${max}, got ${describe(v)} ${String(v)}`);
  }
  return v;
}

/** Ring bytes one slot takes at most: its input and its output, tags included, page-rounded. */
export function slotRingBytes(slotBytes: number): number {
  const sealed = slotBytes + (slotBytes / CHUNK_BYTES) * 16;
  const page = (n: number) => Math.ceil(n / 4096) * 4096;
  return page(slotBytes) + page(sealed);
}

/**
 * Two slots per thread (one running, one queued) and two for reading and delivering, as many
 * of those as fit in maxRingBytes, never under 2. With fewer slots than threads the native
 * pool splits each slot across threads, so a bounded ring still keeps every core busy.
 */
export function defaultInflight(threads: number, slotBytes: number, maxRingBytes = DEFAULT_MAX_RING_BYTES): number {
  const want = threads <= 1 ? 2 : 2 * threads + 2;
  return Math.max(2, Math.min(want, Math.floor(maxRingBytes / slotRingBytes(slotBytes))));
}

export function checkOptions(opts: unknown): PipelineOptions {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null) {
    throw invalidArg(`options must be an object like { suite, context, threads }, got ${describe(opts)}`);
  }
  return opts as PipelineOptions;
}

/**
 * os.availableParallelism() asks the kernel each time (sched_getaffinity), a visible part of
 * a 4 KiB seal; the answer is kept for a second.
 */
let cores = { n: 0, at: -Infinity };
export function coreCount(): number {
  const now = performance.now();
  if (now - cores.at > 1000) cores = { n: availableParallelism(), at: now };
  return cores.n;
}

export function resolveTuning(o: PipelineOptions): Tuning {
  // Each option read once (STYLE habit 11): a getter could hand the check one value and the
  // pipeline another (a signal that passed as an AbortSignal, then was a number).
  const { threads: t, slotBytes: sb, inflight: inf, maxRingBytes: mr, signal, backend } = o;
  const cores = coreCount();
  const threads = t === undefined ? cores : Math.min(cores, intOption(t, 'threads', 1, MAX_THREADS));
  const maxRingBytes = mr === undefined ? DEFAULT_MAX_RING_BYTES : intOption(mr, 'maxRingBytes', 1, MAX_RING_LIMIT);
  let slotBytes = DEFAULT_SLOT_BYTES;
  if (sb !== undefined) {
    slotBytes = intOption(sb, 'slotBytes', CHUNK_BYTES, MAX_SLOT_BYTES);
    if (slotBytes % CHUNK_BYTES !== 0) {
      throw invalidArg(`slotBytes must be a multiple of 16 KiB (16384), got ${slotBytes}`);
    }
  }
  const inflight = inf === undefined ? defaultInflight(threads, slotBytes, maxRingBytes) :
    intOption(inf, 'inflight', 1, MAX_INFLIGHT);
  const ring = inflight * slotRingBytes(slotBytes);
  if (ring > maxRingBytes) {
    const MiB = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;
    throw invalidArg(`slotBytes ${slotBytes} x inflight ${inflight} needs a ${MiB(ring)} slot ring, over maxRingBytes ` +
      `(${MiB(maxRingBytes)}); lower slotBytes or inflight, or raise maxRingBytes`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArg(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
  return { backend: getBackend(backend), threads, slotBytes, inflight, signal };
}

/** Checks key, suite and context up front (before any file is touched). */
export function resolveKeys(key: unknown, o: PipelineOptions): Keys {
  const suite = resolveSuite(o.suite, key);
  const bytes = inputKeyBytes(key, suite);
  if (key instanceof KeyObject) bytes.fill(0); // our own exported copy
  contextBytes(o.context);
  const salt = (o as { [TEST_SALT]?: Uint8Array })[TEST_SALT];
  return { key: key as Uint8Array | KeyObject, suite, context: o.context, ...(salt ? { salt } : {}) };
}
