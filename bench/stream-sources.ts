/**
 * Sources for streaming many GiB through the pipeline without holding them: one modest shared
 * buffer repeated (lent in place to the workers, as a MemorySource over a whole message would
 * be), and a pipe that joins one pipeline's sink to the next pipeline's source (seal -> open of
 * a message too large to keep, since sealed bytes depend on the chunk index and cannot repeat).
 */
import { randomBytes } from 'node:crypto';
import type { Sink } from '../src/pipeline/engine.js';
import type { Region } from '../src/pipeline/pool.js';
import type { ByteSource } from '../src/io/sources.js';

/**
 * Random bytes in a SharedArrayBuffer of `period + window` bytes whose last `window` bytes
 * repeat its first: any `window` bytes of the endless repetition are contiguous in it, so a
 * slot can be lent in place wherever the period falls.
 */
export function repeatingBuffer(period: number, window: number): Uint8Array {
  const b = new Uint8Array(new SharedArrayBuffer(period + window));
  const seed = randomBytes(1 << 20);
  for (let at = 0; at < period; at += seed.length) b.set(seed.subarray(0, Math.min(seed.length, period - at)), at);
  for (let at = 0; at < window; at += period) b.copyWithin(period + at, 0, Math.min(period, window - at));
  return b;
}

/** `size` bytes: `buffer`'s first `period` bytes over and over (buffer from repeatingBuffer). */
export class RepeatingSource implements ByteSource {
  readonly name = 'repeating buffer';
  position = 0;
  constructor(readonly buffer: Uint8Array, readonly period: number, readonly size: number) {}

  readAt(dst: Uint8Array, position: number): Promise<number> {
    const n = Math.max(0, Math.min(dst.length, this.size - position));
    for (let done = 0; done < n;) {
      const at = (position + done) % this.period;
      const take = Math.min(n - done, this.buffer.length - at);
      dst.set(this.buffer.subarray(at, at + take), done);
      done += take;
    }
    return Promise.resolve(n);
  }

  async read(dst: Uint8Array): Promise<number> {
    const n = await this.readAt(dst, this.position);
    this.position += n;
    return n;
  }

  lend(position: number, len: number): Region {
    const n = Math.max(0, Math.min(len, this.size - position));
    const at = position % this.period;
    if (at + n > this.buffer.length) throw new Error(`repeating buffer: a ${n}-byte slot exceeds its window`);
    return { buf: this.buffer.buffer, off: this.buffer.byteOffset + at, len: n };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * One pipeline's sink feeding the next one's source, like a socket between two processes:
 * each delivered slot is copied once into the reader's slots, and the writer's slot is only
 * released (its write settles) once the reader has taken all of it.
 */
export class Pipe implements Sink, ByteSource {
  readonly name = 'pipe';
  readonly size = null;
  position = 0;
  #view: Uint8Array | null = null;
  #at = 0;
  #taken: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  #arrived: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  #ended = false;
  #failure: unknown = null;

  write(view: Uint8Array): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    this.#view = view;
    this.#at = 0;
    const taken = new Promise<void>((resolve, reject) => { this.#taken = { resolve, reject }; });
    this.#wake();
    return taken;
  }

  /** The writing pipeline finished: the reader sees the end once it took the last view. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** Either side failed: the other side's wait rejects rather than hangs. */
  fail(e: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = e;
    this.#taken?.reject(e);
    this.#arrived?.reject(e);
    this.#taken = this.#arrived = null;
  }

  #wake(): void {
    const a = this.#arrived;
    this.#arrived = null;
    a?.resolve();
  }

  async read(dst: Uint8Array): Promise<number> {
    let n = 0;
    while (n < dst.length) {
      if (this.#failure !== null) throw this.#failure;
      const v = this.#view;
      if (!v) {
        if (this.#ended) break;
        await new Promise<void>((resolve, reject) => { this.#arrived = { resolve, reject }; });
        continue;
      }
      const take = Math.min(dst.length - n, v.length - this.#at);
      dst.set(v.subarray(this.#at, this.#at + take), n);
      n += take;
      this.#at += take;
      if (this.#at === v.length) {
        this.#view = null;
        const t = this.#taken;
        this.#taken = null;
        t?.resolve();
      }
    }
    this.position += n;
    return n;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
