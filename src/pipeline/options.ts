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
const MAX_SLOT_BYTES = 1024 * 1024 * 1024;
const MAX_THREADS = 1024;
const MAX_INFLIGHT = 4096;

export interface PipelineOptions {
  /** 'cobblestone-256' (default, 32-byte key) or 'cobblestone-128' (16-byte key). */
  suite?: Suite;
  /** Bound into the key derivation; must match at open. Bytes, or a string taken as UTF-8. */
  context?: ArrayBufferView | string;
  /** Worker threads (default: os.availableParallelism()); 1 runs inline, without workers. */
  threads?: number;
  /** Which AES-GCM implementation runs it (default: native, else noble). */
  backend?: BackendName | Backend;
  /** Plaintext bytes per slot (default 4 MiB), a multiple of 16 KiB. */
  slotBytes?: number;
  /**
   * Slots in flight (default 2 x threads + 2, within ~128 MiB of slots): memory in flight is
   * at most 2 x inflight x slotBytes, whatever the input size.
   */
  inflight?: number;
  /** Aborts the operation with ERR_ABORTED. */
  signal?: AbortSignal;
}

function intOption(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalidArg(`${name} must be an integer in ${min}..${max}, got ${describe(v)} ${String(v)}`);
  }
  return v;
}

/** Ring memory the default inflight aims to stay under (input + output of every slot). */
const DEFAULT_RING_BYTES = 128 * 1024 * 1024;

/**
 * Two slots per worker (one running, one posted ahead) and two for reading and delivering;
 * fewer when that would take more than DEFAULT_RING_BYTES, but never under threads + 2.
 */
export function defaultInflight(threads: number, slotBytes: number): number {
  if (threads <= 1) return 2;
  const byMemory = Math.floor(DEFAULT_RING_BYTES / (2 * slotBytes));
  return Math.max(threads + 2, Math.min(2 * threads + 2, byMemory));
}

export function checkOptions(opts: unknown): PipelineOptions {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null) {
    throw invalidArg(`options must be an object like { suite, context, threads }, got ${describe(opts)}`);
  }
  return opts as PipelineOptions;
}

export function resolveTuning(o: PipelineOptions): Tuning {
  // Each option read once (STYLE habit 11): a getter could hand the check one value and the
  // pipeline another (a signal that passed as an AbortSignal, then was a number).
  const { threads: t, slotBytes: sb, inflight: inf, signal, backend } = o;
  const threads = t === undefined ? availableParallelism() : intOption(t, 'threads', 1, MAX_THREADS);
  let slotBytes = DEFAULT_SLOT_BYTES;
  if (sb !== undefined) {
    slotBytes = intOption(sb, 'slotBytes', CHUNK_BYTES, MAX_SLOT_BYTES);
    if (slotBytes % CHUNK_BYTES !== 0) {
      throw invalidArg(`slotBytes must be a multiple of 16 KiB (16384), got ${slotBytes}`);
    }
  }
  const inflight = inf === undefined ? defaultInflight(threads, slotBytes) :
    intOption(inf, 'inflight', 1, MAX_INFLIGHT);
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
