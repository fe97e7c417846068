/**
 * A remote object read by byte ranges: the part shared by HTTP(S) and S3. It owns what a
 * ranged load must get right whatever the protocol: the first 64 KiB fetched once on open
 * (the sealed header, and for safetensors the tensor table, cost no further request), at most
 * `connections` requests in flight per load, large reads split into parts fetched in parallel,
 * and retries that resume only the part of a range that was not received.
 */
import { setMaxListeners } from 'node:events';
import { WeightsealError } from '../errors.js';
import type { CheckedRemote } from './options.js';
import { Redactor } from './redact.js';
import { Transient, aborted, backoff, sleep } from './retry.js';

/** Bytes fetched by the first request of every object: header, tensor table, often the whole index. */
export const HEAD_BYTES = 64 * 1024;
/**
 * About how large each ranged request is when one read is split across connections. A read is
 * cut into round(length / PART_BYTES) equal parts, not PART_BYTES plus a remainder: a pipeline
 * slot (4 MiB of plaintext is 4,198,400 sealed bytes) then goes out as one request, where the
 * remainder cut sent a 4 KiB request after every 4 MiB one, a second round trip per slot that
 * a single connection waits out in full.
 */
export const PART_BYTES = 4 * 1024 * 1024;

/** Offsets that cut `len` bytes into round(len / PART_BYTES) (at least 1) near-equal parts. */
export function partCuts(len: number): number[] {
  const parts = Math.max(1, Math.round(len / PART_BYTES));
  const cuts: number[] = [];
  for (let k = 0; k <= parts; k++) cuts.push(Math.floor((len * k) / parts));
  return cuts;
}

export interface RemoteStats {
  /** Bytes received from the server(s), retries included. */
  bytesFetched: number;
  /** Requests sent, retries included. */
  requests: number;
  /** Requests that were retried (resets, timeouts, stalls, 429/5xx). */
  retries: number;
}

/** At most `n` holders at once; a waiter leaves the queue when its signal aborts. */
export class Semaphore {
  #free: number;
  readonly #waiters: { resolve: () => void; reject: (e: unknown) => void; signal: AbortSignal | undefined;
    onAbort: () => void }[] = [];
  constructor(n: number) {
    this.#free = n;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(aborted(signal));
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const w = {
        resolve, reject, signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(aborted(signal!));
        },
      };
      signal?.addEventListener('abort', w.onAbort, { once: true });
      this.#waiters.push(w);
    });
  }

  release(): void {
    const w = this.#waiters.shift();
    if (w) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve();
    } else {
      this.#free++;
    }
  }
}

/**
 * What the objects of one load share: options, the secrets to scrub, the connection budget,
 * counters, and an abort that close() (or the caller's signal) sends to every request.
 */
export class RemoteContext {
  readonly redactor = new Redactor();
  readonly stats: RemoteStats = { bytesFetched: 0, requests: 0, retries: 0 };
  readonly slots: Semaphore;
  readonly #stop = new AbortController();
  readonly signal: AbortSignal;
  readonly #closers: (() => Promise<void>)[] = [];
  #closed: Promise<void> | null = null;

  constructor(readonly opts: CheckedRemote) {
    this.slots = new Semaphore(opts.connections);
    this.redactor.addHeaders(opts.headers);
    const c = opts.s3.credentials;
    if (c) this.redactor.add(c.accessKeyId).add(c.secretAccessKey).add(c.sessionToken);
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.#stop.signal]) : this.#stop.signal;
    // Every request and every queued part listens to it: tens at once is normal, not a leak.
    setMaxListeners(0, this.signal);
  }

  /** Registers a resource (connection pool, S3 client) to tear down on close(). */
  onClose(fn: () => Promise<void>): void {
    this.#closers.push(fn);
  }

  /** The context's signal, joined with a per-call one (the pipeline's stop). */
  join(signal?: AbortSignal): AbortSignal {
    if (!signal) return this.signal;
    const joined = AbortSignal.any([this.signal, signal]);
    setMaxListeners(0, joined);
    return joined;
  }

  /** Aborts every request in flight and closes every socket of this load. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#stop.abort(new WeightsealError('ERR_CLOSED', 'the remote source was closed'));
      await Promise.allSettled(this.#closers.map((f) => f()));
    })();
    return this.#closed;
  }
}

/** Where one ranged response went wrong in a way no retry fixes. */
export function badResponse(name: string, what: string): WeightsealError {
  return new WeightsealError('ERR_BAD_RESPONSE', `${name}: ${what}; the server or a proxy in between ` +
    'does not serve byte ranges correctly (no bytes of it were used)', { path: name });
}

export function changed(name: string, what: string): WeightsealError {
  return new WeightsealError('ERR_REMOTE_CHANGED', `${name} changed while it was being read (${what}); ` +
    'load it again once it is no longer being replaced', { path: name });
}

/** A Retry-After longer than the caller allows: fail now, saying how long was asked. */
export function retryAfterTooLong(name: string, what: string, cause: Error, waitMs: number, maxMs: number): WeightsealError {
  return new WeightsealError('ERR_IO', `cannot ${what}: ${cause.message}, and it asked to retry after ` +
    `${Math.ceil(waitMs / 1000)} s, longer than retry.maxRetryAfterMs (${maxMs} ms); try again later or raise ` +
    'retry.maxRetryAfterMs', { path: name, cause });
}

export abstract class RangedObject {
  /** scheme://host/path: safe to show. */
  readonly name: string;
  /** Object length in bytes, fixed by the first response. */
  size = 0;
  /** The object's first min(HEAD_BYTES, size) bytes. */
  protected head = new Uint8Array(0);
  #owned: boolean;

  protected constructor(readonly ctx: RemoteContext, name: string, owned: boolean) {
    this.name = name;
    this.#owned = owned;
  }

  /**
   * One request for [position, position + dst.length): writes the body into dst in order,
   * calling got(n) for every n bytes written, so a retry resumes after them. Throws Transient
   * for what may succeed when asked again, a WeightsealError for what will not.
   */
  protected abstract attempt(dst: Uint8Array, position: number, signal: AbortSignal,
    got: (n: number) => void): Promise<void>;

  /** The first request: learns the size and validators and fills `head`. */
  protected abstract probe(signal: AbortSignal): Promise<void>;

  /** What to check when every retry failed: 'the server', 'the endpoint'. */
  protected abstract readonly peer: string;

  /** What the caller is told when every retry failed: the last cause, with secrets redacted. */
  protected exhausted(position: number, length: number, attempts: number, last: unknown): WeightsealError {
    const cause = this.ctx.redactor.cause(last);
    return new WeightsealError('ERR_IO', `cannot read ${this.name} (bytes ${position}-${position + length - 1}): ` +
      `${cause.message}; gave up after ${attempts} attempts (check ${this.peer} and the network, or raise retry.retries)`,
    { path: this.name, cause });
  }

  protected async init(): Promise<void> {
    await this.ctx.slots.acquire(this.ctx.signal);
    try {
      await this.#withRetries(() => this.probe(this.ctx.signal), 0, HEAD_BYTES, this.ctx.signal);
    } finally {
      this.ctx.slots.release();
    }
  }

  /**
   * Fills dst with the bytes at `position` (fewer only past the end of the object); reads of
   * 1.5 x PART_BYTES or more go out as parallel parts within the connection budget.
   */
  async readAt(dst: Uint8Array, position: number, signal?: AbortSignal): Promise<number> {
    const len = Math.max(0, Math.min(dst.length, this.size - position));
    if (len === 0) return 0;
    if (position + len <= this.head.length) {
      dst.set(this.head.subarray(position, position + len));
      return len;
    }
    const sig = this.ctx.join(signal);
    const cuts = partCuts(len);
    if (cuts.length === 2) {
      await this.#part(dst.subarray(0, len), position, sig);
      return len;
    }
    const parts: Promise<void>[] = [];
    for (let k = 0; k + 1 < cuts.length; k++) {
      parts.push(this.#part(dst.subarray(cuts[k]!, cuts[k + 1]!), position + cuts[k]!, sig));
    }
    const results = await Promise.allSettled(parts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return len;
  }

  async #part(dst: Uint8Array, position: number, signal: AbortSignal): Promise<void> {
    await this.ctx.slots.acquire(signal);
    try {
      let done = 0;
      await this.#withRetries(() => {
        if (done === dst.length) return Promise.resolve();
        return this.attempt(dst.subarray(done), position + done, signal, (n) => { done += n; });
      }, position, dst.length, signal, () => done < dst.length);
    } finally {
      this.ctx.slots.release();
    }
  }

  async #withRetries(run: () => Promise<void>, position: number, length: number, signal: AbortSignal,
    again: () => boolean = () => false): Promise<void> {
    const policy = this.ctx.opts.retry;
    for (let attempt = 0; ; ) {
      try {
        this.ctx.stats.requests++;
        await run();
        // A server may send less than asked for (a 206 for a shorter range): ask for the rest.
        if (!again()) return;
        continue;
      } catch (e) {
        if (signal.aborted) throw aborted(signal);
        if (!(e instanceof Transient)) throw e;
        if (attempt >= policy.retries) throw this.exhausted(position, length, attempt + 1, e);
        if (e.retryAfterMs !== null && e.retryAfterMs > policy.maxRetryAfterMs) {
          throw retryAfterTooLong(this.name, `read ${this.name} (bytes ${position}-${position + length - 1})`,
            this.ctx.redactor.cause(e), e.retryAfterMs, policy.maxRetryAfterMs);
        }
        await sleep(backoff(policy, attempt, e.retryAfterMs), signal);
        attempt++;
        this.ctx.stats.retries++;
      }
    }
  }

  /** Counts received bytes (for stats) as they arrive. */
  protected fetched(n: number): void {
    this.ctx.stats.bytesFetched += n;
  }

  /** Closes the load's connections when this object opened them itself. */
  async close(): Promise<void> {
    if (this.#owned) await this.ctx.close();
  }
}
