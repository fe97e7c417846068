/**
 * Byte sources the pipeline reads from: memory (lent in place when it is shared memory),
 * files (positional reads straight into slots, several at once) and anything async-iterable
 * (Node Readables, Web ReadableStreams, generators), copied into slots as chunks arrive.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { WeightsealError, invalidArg } from '../errors.js';
import type { Region } from '../pipeline/pool.js';
import { checkBytes, describe, isLiveView } from '../validate.js';
import { canShrink, pinForThreads } from '../pipeline/pin.js';
import { ReadableFile, isFileHandle } from './read-file.js';

export { isFileHandle } from './read-file.js';

export interface ByteSource {
  /** A path or a description, for error messages. */
  readonly name: string;
  /** Total length when known up front (files, buffers); null for streams. */
  readonly size: number | null;
  /** Cursor of sequential reads. */
  position: number;
  /** The next bytes in order into dst; returns how many (fewer than dst.length only at the end). */
  read(dst: Uint8Array, signal: AbortSignal): Promise<number>;
  /** Bytes at `position` into dst without moving the cursor; sources of known size only. */
  readAt?(dst: Uint8Array, position: number, signal?: AbortSignal): Promise<number>;
  /** The bytes at [position, position + len) in place, when the executor can read that memory. */
  lend?(position: number, len: number, shared: boolean): Region | null;
  /** Closes what the source opened itself (never a caller's FileHandle or stream). */
  close(): Promise<void>;
}

export class MemorySource implements ByteSource {
  readonly name = 'buffer';
  readonly size: number;
  position = 0;
  constructor(readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }

  /**
   * The caller's buffer may be transferred or shrunk while an async call reads it: that is
   * ERR_INVALID_ARG, never a short read (which would seal a truncated message as complete).
   */
  #live(): void {
    if (this.bytes.length !== this.size || !isLiveView(this.bytes)) {
      throw invalidArg('the input buffer was detached (transferred) or shrunk while weightseal was reading it; ' +
        'keep it alive and unchanged in size until the call settles');
    }
  }

  read(dst: Uint8Array): Promise<number> {
    try {
      this.#live();
    } catch (e) {
      return Promise.reject(e);
    }
    const n = Math.min(dst.length, this.size - this.position);
    dst.set(this.bytes.subarray(this.position, this.position + n));
    this.position += n;
    return Promise.resolve(n);
  }

  readAt(dst: Uint8Array, position: number): Promise<number> {
    try {
      this.#live();
    } catch (e) {
      return Promise.reject(e);
    }
    const n = Math.min(dst.length, this.size - position);
    dst.set(this.bytes.subarray(position, position + n));
    return Promise.resolve(n);
  }

  lend(position: number, len: number, shared: boolean): Region | null {
    this.#live();
    // Workers read SharedArrayBuffer memory in place; anything else is copied into slots.
    if (shared && !(this.bytes.buffer instanceof SharedArrayBuffer)) return null;
    if (canShrink(this.bytes.buffer)) return null; // copied into the ring instead (pipeline/pin.ts)
    pinForThreads(this.bytes.buffer); // read in place across awaits, by other threads
    return { buf: this.bytes.buffer, off: this.bytes.byteOffset + position, len: Math.min(len, this.size - position) };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class FileSource implements ByteSource {
  position = 0;
  private constructor(private readonly file: ReadableFile) {}

  /** Opens a path (closed by close()) or wraps a caller's FileHandle (left open); reads start at 0. */
  static async open(file: string | URL | FileHandle): Promise<FileSource> {
    return new FileSource(await ReadableFile.open(file, 'source'));
  }

  get name(): string {
    return this.file.name;
  }

  get size(): number {
    return this.file.size;
  }

  readAt(dst: Uint8Array, position: number): Promise<number> {
    return this.file.readAt(dst, position);
  }

  async read(dst: Uint8Array): Promise<number> {
    const n = await this.file.readAt(dst, this.position);
    this.position += n;
    return n;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

type Chunks = AsyncIterator<unknown> | Iterator<unknown>;

export class IterableSource implements ByteSource {
  readonly size = null;
  position = 0;
  #it: Chunks;
  #chunk: Uint8Array | null = null;
  #at = 0;
  #done = false;
  constructor(source: AsyncIterable<unknown> | Iterable<unknown>, readonly name = 'stream') {
    this.#it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  async #next(signal: AbortSignal): Promise<boolean> {
    let aborted: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      aborted = () => reject(signal.reason);
      signal.addEventListener('abort', aborted, { once: true });
    });
    stop.catch(() => {});
    try {
      if (signal.aborted) throw signal.reason;
      const r = await Promise.race([this.#it.next(), stop]);
      if (r.done) {
        this.#done = true;
        return false;
      }
      if (!ArrayBuffer.isView(r.value)) {
        throw invalidArg(`source chunks must be Uint8Array (or Buffer), got ${describe(r.value)}; ` +
          'do not setEncoding() on a Readable you pass in');
      }
      this.#chunk = checkBytes(r.value, 'a source chunk');
      this.#at = 0;
      return true;
    } finally {
      signal.removeEventListener('abort', aborted!);
    }
  }

  async read(dst: Uint8Array, signal: AbortSignal): Promise<number> {
    let n = 0;
    while (n < dst.length) {
      if (!this.#chunk || this.#at === this.#chunk.length) {
        if (this.#done || !(await this.#next(signal))) break;
        continue;
      }
      const take = Math.min(dst.length - n, this.#chunk.length - this.#at);
      dst.set(this.#chunk.subarray(this.#at, this.#at + take), n);
      this.#at += take;
      n += take;
    }
    this.position += n;
    return n;
  }

  /** Stops the iterator (a Readable is destroyed); called when the stream fails early. */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#chunk = null;
    void Promise.resolve(this.#it.return?.()).catch(() => {});
  }
}

export type SourceInput = string | URL | FileHandle | Readable | AsyncIterable<Uint8Array> |
  Iterable<Uint8Array> | ReadableStream<Uint8Array> | Uint8Array;

/** Any accepted source as a ByteSource; ERR_INVALID_ARG names what is accepted. */
export async function toSource(input: unknown): Promise<ByteSource> {
  if (ArrayBuffer.isView(input)) return new MemorySource(checkBytes(input, 'source'));
  if (typeof input === 'string' || input instanceof URL || isFileHandle(input)) return FileSource.open(input);
  if (input instanceof Readable) return new IterableSource(input, 'readable stream');
  if (typeof input === 'object' && input !== null &&
    (Symbol.asyncIterator in input || Symbol.iterator in input)) {
    return new IterableSource(input as AsyncIterable<unknown>);
  }
  throw invalidArg('source must be a path, a FileHandle, a Readable, an (async) iterable of Uint8Array ' +
    `or a Uint8Array, got ${describe(input)}`);
}

export function truncatedSource(name: string, expected: number, got: number): WeightsealError {
  return new WeightsealError('ERR_TRUNCATED',
    `${name} ended at byte ${got}, before its expected length ${expected} (it shrank while being read)`);
}
