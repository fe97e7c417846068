/**
 * When and how long to wait before asking again. Exponential backoff with full jitter (each
 * wait uniform in [0, min(cap, base * 2^attempt)]) spreads the retries of many connections and
 * many ranks, so a server that shed load is not hit again in lockstep. A server's Retry-After
 * is honoured as the least wait, up to maxRetryAfterMs.
 */
import { WeightsealError } from '../errors.js';

export interface RetryOptions {
  /** Further attempts after the first, per range (default 5). */
  retries?: number;
  /** First backoff step in ms (default 200). */
  baseDelayMs?: number;
  /** Largest backoff step in ms (default 10 000). */
  maxDelayMs?: number;
  /** Longest Retry-After honoured, in ms; a server asking for more fails the load (default 60 000). */
  maxRetryAfterMs?: number;
  /** No bytes (headers or body) for this long counts as a stall and is retried (default 30 000). */
  stallMs?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY: RetryPolicy = {
  retries: 5, baseDelayMs: 200, maxDelayMs: 10_000, maxRetryAfterMs: 60_000, stallMs: 30_000,
};

/** Statuses worth asking again for: overload and gateway trouble (RFC 9110 15.6, RFC 6585 4). */
export const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** A failure the retry loop may try again; `retryAfterMs` is the server's Retry-After, if any. */
export class Transient extends Error {
  constructor(message: string, readonly retryAfterMs: number | null = null, options?: ErrorOptions) {
    super(message, options);
    this.name = 'Transient';
  }
}

/** Retry-After as milliseconds from now: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined | null, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string' || v.trim() === '') return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** The wait before retry number `attempt` (0-based). */
export function backoff(policy: RetryPolicy, attempt: number, retryAfterMs: number | null,
  random: () => number = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  const jittered = Math.floor(random() * step);
  return retryAfterMs === null ? jittered : Math.max(retryAfterMs, jittered);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts; leaves no timer behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(aborted(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function aborted(signal: AbortSignal): WeightsealError {
  const reason: unknown = signal.reason;
  if (reason instanceof WeightsealError) return reason;
  return new WeightsealError('ERR_ABORTED', 'the operation was aborted', { cause: reason });
}

export function checkRetry(v: unknown): RetryPolicy {
  if (v === undefined) return DEFAULT_RETRY;
  if (typeof v !== 'object' || v === null) {
    throw new WeightsealError('ERR_INVALID_ARG',
      'retry must be an object like { retries, baseDelayMs, maxDelayMs, maxRetryAfterMs, stallMs }');
  }
  const o = v as RetryOptions;
  const out = { ...DEFAULT_RETRY };
  for (const k of Object.keys(DEFAULT_RETRY) as (keyof RetryPolicy)[]) {
    const x = o[k];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || (k === 'stallMs' && x === 0)) {
      throw new WeightsealError('ERR_INVALID_ARG',
        `retry.${k} must be a ${k === 'stallMs' ? 'positive' : 'non-negative'} integer, got ${String(x)}`);
    }
    out[k] = x;
  }
  return out;
}
