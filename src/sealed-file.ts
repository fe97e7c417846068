/**
 * Random access into a sealed message (c2sp.org/chunked-encryption "Implementation notes"):
 * plaintext byte i lives in chunk i / 16 KiB, found at 56 + k * (16 KiB + 16) in the sealed
 * bytes. Opening checks the commitment before any chunk is decrypted, then authenticates the
 * message length by decrypting the final chunk, so `size` can be trusted. A read decrypts
 * only the chunks it covers and returns nothing of a chunk whose tag fails.
 *
 * Reads past the end return the bytes that exist (like FileHandle.read): `read` returns a
 * shorter buffer, `readInto` returns how many bytes it wrote. A position beyond `size` is
 * ERR_INVALID_ARG.
 */
import { KeyObject } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { getBackend, type Backend, type BackendName, type GcmKey } from './backend/index.js';
import {
  CHUNK_BYTES, HEADER_BYTES, SEALED_CHUNK_BYTES, TAG_BYTES, chunkCount, contextBytes, resolveSuite,
  inputKeyBytes, plaintextLengthOfBody, type Suite,
} from './cobblestone.js';
import { WeightsealError, invalidArg, isWeightsealError } from './errors.js';
import { RUN_CHUNKS, importDerived, openChunkRun, parseHeader, wipeDerived } from './format.js';
import { ReadableFile } from './io/read-file.js';
import { RangedObject, RemoteSealedSource, isRemoteUrl, openRemote, type RemoteOptions,
  type RemoteStats } from './remote/open.js';
import { endsEarly, finalLengths, trailingData } from './trailing.js';
import { withPath as pathOf } from './error-path.js';
import { SEALED_FILE_KEYS } from './option-keys.js';
import { checkOptionsObject } from './options-check.js';
import { checkBytes, checkIndex, describe, isLiveView, overlaps } from './validate.js';
import { freshOutput } from './output-memory.js';

export interface SealedFileOptions extends RemoteOptions {
  /** 'cobblestone-256' (default, 32-byte key) or 'cobblestone-128' (16-byte key). */
  suite?: Suite;
  /** The context the message was sealed with (bytes, or a string taken as UTF-8). */
  context?: ArrayBufferView | string;
  /** Which AES-GCM implementation decrypts (default: native, else noble). */
  backend?: BackendName | Backend;
}

/** Where the sealed bytes come from: a file read with positional reads, or memory. */
interface Source {
  /** A path or a description, for error messages. */
  readonly name: string;
  /** Sealed length in bytes, fixed when opened. */
  readonly length: number;
  /** Fills `buf` from `position`; a file that ends early is ERR_TRUNCATED. */
  readAt(buf: Uint8Array, position: number): Promise<void>;
  /** The bytes themselves, without a copy, when they are already in memory. */
  view?(position: number, length: number): Uint8Array;
  /** A remote object: read a whole span in one call, which it fetches as parallel ranges. */
  object?: RangedObject;
  close(): Promise<void>;
}

class FileSource implements Source {
  bytesRead = 0;
  reads = 0;
  constructor(private readonly file: ReadableFile) {}
  get name(): string {
    return this.file.name;
  }
  get length(): number {
    return this.file.size;
  }
  readAt(buf: Uint8Array, position: number): Promise<void> {
    this.bytesRead += buf.length;
    this.reads++;
    return this.file.readExactly(buf, position);
  }
  close(): Promise<void> {
    return this.file.close();
  }
}

class BytesSource implements Source {
  readonly name = 'sealed bytes';
  readonly length: number;
  constructor(private readonly bytes: Uint8Array) {
    this.length = bytes.length;
  }
  async readAt(buf: Uint8Array, position: number): Promise<void> {
    buf.set(this.view(position, buf.length));
  }
  view(position: number, length: number): Uint8Array {
    // Transferred or shrunk after fromBytes(): an error, not a short (empty) view.
    if (this.bytes.length !== this.length || !isLiveView(this.bytes)) {
      throw invalidArg('the sealed buffer was detached (transferred) or shrunk after SealedFile.fromBytes(); ' +
        'keep it alive and unchanged in size until the SealedFile is closed');
    }
    return this.bytes.subarray(position, position + length);
  }
  async close(): Promise<void> {}
}

/** Per-read scratch: sealed bytes of one window and one edge chunk's plaintext. */
interface Scratch {
  /** Allocated on first use: reads from memory never need it. */
  sealed: Uint8Array | null;
  edge: Uint8Array;
}
const POOL_MAX = 4;

/** The error again with the file it concerns, keeping its code, chunk index and cause. */
function withPath(e: unknown, name: string, isFile: boolean): unknown {
  return isFile ? pathOf(e, name) : e;
}

/**
 * Where the real final chunk lies when the final record failed because bytes were appended
 * after it (c2sp "TrailingData"): in that record, or, for one extra full record appended, in
 * the one before. Null for a modified chunk. Error path only.
 */
async function appendedAfter(src: Source, gk: GcmKey, baseNonce: Uint8Array, last: number,
  lastRecord: Uint8Array): Promise<number | null> {
  const scratch = new Uint8Array(CHUNK_BYTES);
  if (endsEarly(gk, baseNonce, last, lastRecord, scratch,
    finalLengths(last, lastRecord.length, last, lastRecord.length))) return last;
  if (last === 0) return null;
  const before = new Uint8Array(SEALED_CHUNK_BYTES);
  await src.readAt(before, HEADER_BYTES + (last - 1) * SEALED_CHUNK_BYTES);
  return endsEarly(gk, baseNonce, last - 1, before, scratch,
    finalLengths(last - 1, before.length, last, lastRecord.length)) ? last - 1 : null;
}

export class SealedFile {
  /** Plaintext length in bytes, authenticated through the final chunk. */
  readonly size: number;
  /** Sealed length in bytes (header and tags included). */
  readonly sealedSize: number;
  readonly suite: Suite;
  /** The file's path, or null for a FileHandle or bytes. */
  readonly path: string | null;

  readonly #src: Source;
  readonly #gk: GcmKey;
  readonly #baseNonce: Uint8Array;
  readonly #isFile: boolean;
  #closed = false;
  #closing: Promise<void> | null = null;
  readonly #inflight = new Set<Promise<void>>();
  #pool: Scratch[] = [];

  private constructor(src: Source, gk: GcmKey, baseNonce: Uint8Array, size: number, suite: Suite,
    path: string | null, isFile: boolean) {
    this.#src = src;
    this.#gk = gk;
    this.#baseNonce = baseNonce;
    this.size = size;
    this.sealedSize = src.length;
    this.suite = suite;
    this.path = path;
    this.#isFile = isFile;
  }

  /**
   * Opens a sealed file by path (closed again by close()) or FileHandle (left open for its
   * owner). Rejects with ERR_TRUNCATED, ERR_WRONG_KEY_OR_CONTEXT, ERR_AUTH_FAILED (the final
   * chunk), ERR_TRAILING_DATA (bytes appended after it) or ERR_IO before resolving, so a
   * SealedFile you hold has a trustworthy size.
   */
  static async open(file: string | URL | FileHandle | RangedObject, key: Uint8Array | KeyObject,
    opts?: SealedFileOptions): Promise<SealedFile> {
    const checked = checkArgs(key, opts);
    // http(s):// and s3:// (src/remote): read by byte ranges; a caller's open object stays open.
    if (file instanceof RangedObject || isRemoteUrl(file)) {
      const owned = !(file instanceof RangedObject);
      const obj = file instanceof RangedObject ? file : await openRemote(file, opts);
      return SealedFile.#init(new RemoteSealedSource(obj, owned), key, checked, obj.name, true);
    }
    const f = await ReadableFile.open(file, 'file');
    return SealedFile.#init(new FileSource(f), key, checked, f.path, true);
  }

  /**
   * Random access over sealed bytes already in memory (a download, a mapped region). The
   * bytes are read in place, not copied: do not modify them while the SealedFile is open.
   */
  static async fromBytes(sealed: ArrayBufferView, key: Uint8Array | KeyObject,
    opts?: SealedFileOptions): Promise<SealedFile> {
    const checked = checkArgs(key, opts);
    return SealedFile.#init(new BytesSource(checkBytes(sealed, 'sealed')), key, checked, null, false);
  }

  static async #init(src: Source, key: Uint8Array | KeyObject, a: CheckedArgs, path: string | null,
    isFile: boolean): Promise<SealedFile> {
    let gk: GcmKey | undefined;
    let baseNonce: Uint8Array | undefined;
    try {
      if (src.length < HEADER_BYTES) {
        throw new WeightsealError('ERR_TRUNCATED',
          `sealed data is truncated: ${src.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
      }
      const header = new Uint8Array(HEADER_BYTES);
      await src.readAt(header, 0);
      // "Key derivation": the commitment is checked before any chunk is decrypted.
      const derived = parseHeader(key, header, a.suite, a.context);
      baseNonce = derived.baseNonce;
      let size: number;
      try {
        size = plaintextLengthOfBody(src.length - HEADER_BYTES);
        gk = importDerived(a.backend, derived);
      } catch (e) {
        wipeDerived(derived);
        throw e;
      }
      // "Implementation notes": authenticate the length by decrypting the final chunk.
      const last = chunkCount(size) - 1;
      const finalPlain = size - last * CHUNK_BYTES;
      const sealed = new Uint8Array(finalPlain + TAG_BYTES);
      await src.readAt(sealed, HEADER_BYTES + last * SEALED_CHUNK_BYTES);
      const plain = new Uint8Array(finalPlain);
      try {
        openChunkRun(gk, baseNonce, last, sealed, 1, plain, last);
      } catch (e) {
        if (isWeightsealError(e, 'ERR_AUTH_FAILED')) {
          const at = await appendedAfter(src, gk, baseNonce, last, sealed);
          if (at !== null) throw trailingData(at);
        }
        throw e;
      }
      plain.fill(0);
      return new SealedFile(src, gk, baseNonce, size, a.suite, path, isFile);
    } catch (e) {
      gk?.destroy();
      baseNonce?.fill(0);
      await src.close().catch(() => {});
      throw withPath(e, src.name, isFile);
    }
  }

  /** `await using f = await SealedFile.open(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * What was read to serve this file so far: for a remote object, bytes received from the
   * server by the whole load (retries included), requests and retries; for a file, bytes read.
   */
  stats(): RemoteStats {
    const src = this.#src as Source & Partial<FileSource>;
    if (src.object) return { ...src.object.ctx.stats };
    return { bytesFetched: src.bytesRead ?? 0, requests: src.reads ?? 0, retries: 0 };
  }

  /**
   * Up to `length` bytes from `position`: fewer when the range passes the end of the message.
   * Rejects with ERR_AUTH_FAILED (`.chunk` set) when a covered chunk fails its tag.
   */
  async read(position: number, length: number, opts?: ReadOptions): Promise<Uint8Array> {
    this.#checkOpen();
    const pos = checkIndex(position, 'position', this.size);
    const len = checkIndex(length, 'length');
    const signal = signalOf(opts);
    // Recycled output memory (output-memory.ts): every byte is written, or it is dropped unreturned.
    const out = freshOutput(Math.min(len, this.size - pos));
    await this.#track(out, pos, signal);
    return out;
  }

  /**
   * Fills `buffer` from `position` and resolves to the number of bytes written: buffer.length,
   * or fewer at the end of the message. On failure the bytes it covered are zeroed.
   */
  async readInto(buffer: ArrayBufferView, position: number, opts?: ReadOptions): Promise<number> {
    this.#checkOpen();
    const buf = checkBytes(buffer, 'buffer');
    if (this.#src.view && overlaps(buf, this.#src.view(0, this.#src.length))) {
      throw invalidArg('buffer must not overlap the sealed bytes this SealedFile reads; pass a separate buffer');
    }
    const pos = checkIndex(position, 'position', this.size);
    const signal = signalOf(opts);
    const n = Math.min(buf.length, this.size - pos);
    await this.#track(buf.subarray(0, n), pos, signal);
    return n;
  }

  /** Waits for reads in flight, wipes the key and closes a file it opened itself. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      await Promise.allSettled(this.#inflight);
      this.#gk.destroy();
      this.#baseNonce.fill(0);
      this.#pool = [];
      await this.#src.close();
    })();
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new WeightsealError('ERR_CLOSED', 'this SealedFile is closed; open it again to read');
    }
  }

  async #track(dest: Uint8Array, pos: number, signal?: AbortSignal): Promise<void> {
    if (dest.length === 0) return;
    const task = this.#decrypt(dest, pos, signal);
    this.#inflight.add(task);
    try {
      await task;
    } catch (e) {
      // The caller may transfer or shrink `buffer` while we fill it: that is their bad
      // argument (and there is nothing left to zero), not an engine TypeError from fill().
      if (!isLiveView(dest)) {
        throw invalidArg('buffer was detached (transferred) or shrunk while readInto was filling it; ' +
          'keep it alive and unchanged in size until the call settles');
      }
      dest.fill(0);
      throw withPath(e, this.#src.name, this.#isFile);
    } finally {
      this.#inflight.delete(task);
    }
  }

  #takeScratch(): Scratch {
    return this.#pool.pop() ?? { sealed: null, edge: new Uint8Array(CHUNK_BYTES) };
  }

  /**
   * Decrypts plaintext [pos, pos + dest.length) into dest, RUN_CHUNKS chunks per window: one
   * positional read of the window's sealed bytes, then whole chunks straight into dest and
   * the (at most two) partly covered edge chunks through scratch.
   */
  async #decrypt(dest: Uint8Array, pos: number, signal?: AbortSignal): Promise<void> {
    const end = pos + dest.length;
    // Windows from memory run synchronously: come up for air between them (timers, abort()).
    let breathed = performance.now();
    const first = Math.floor(pos / CHUNK_BYTES);
    const last = Math.floor((end - 1) / CHUNK_BYTES);
    const finalIndex = chunkCount(this.size) - 1;
    const scratch = this.#takeScratch();
    // A remote object gets the whole span in one call, fetched as parallel ranges.
    let span: Uint8Array | null = null;
    const spanAt = HEADER_BYTES + first * SEALED_CHUNK_BYTES;
    if (this.#src.object && last > first) {
      const spanEnd = Math.min((last + 1) * CHUNK_BYTES, this.size);
      span = new Uint8Array(spanEnd - first * CHUNK_BYTES + (last - first + 1) * TAG_BYTES);
    }
    try {
      if (span) {
        await this.#src.readAt(span, spanAt);
        this.#checkOpen();
      }
      for (let w = first; w <= last; w += RUN_CHUNKS) {
        if (performance.now() - breathed > YIELD_MS) {
          await new Promise((r) => setImmediate(r));
          breathed = performance.now();
        }
        if (signal?.aborted) {
          throw new WeightsealError('ERR_ABORTED', 'the read was aborted', { cause: signal.reason });
        }
        this.#checkOpen();
        const m = Math.min(RUN_CHUNKS, last - w + 1);
        const ptStart = w * CHUNK_BYTES;
        const ptEnd = Math.min((w + m) * CHUNK_BYTES, this.size);
        const sealedLen = ptEnd - ptStart + m * TAG_BYTES;
        const at = HEADER_BYTES + w * SEALED_CHUNK_BYTES;
        let sealed: Uint8Array;
        if (this.#src.view) {
          sealed = this.#src.view(at, sealedLen);
        } else if (span) {
          sealed = span.subarray(at - spanAt, at - spanAt + sealedLen);
        } else {
          scratch.sealed ??= new Uint8Array(Math.min(RUN_CHUNKS * SEALED_CHUNK_BYTES, this.sealedSize - HEADER_BYTES));
          sealed = scratch.sealed.subarray(0, sealedLen);
          await this.#src.readAt(sealed, at);
          this.#checkOpen();
        }
        const open = (from: number, count: number, out: Uint8Array): void => {
          const off = (from - w) * SEALED_CHUNK_BYTES;
          openChunkRun(this.#gk, this.#baseNonce, from, sealed.subarray(off, off + out.length + count * TAG_BYTES),
            count, out, finalIndex);
        };
        const chunkEnd = (j: number): number => Math.min((j + 1) * CHUNK_BYTES, this.size);
        const covered = (j: number): boolean => j * CHUNK_BYTES >= pos && chunkEnd(j) <= end;
        const edge = (j: number): void => {
          const plain = scratch.edge.subarray(0, chunkEnd(j) - j * CHUNK_BYTES);
          open(j, 1, plain);
          const lo = Math.max(pos, j * CHUNK_BYTES), hi = Math.min(end, chunkEnd(j));
          dest.set(plain.subarray(lo - j * CHUNK_BYTES, hi - j * CHUNK_BYTES), lo - pos);
        };
        const lastInWindow = w + m - 1;
        let a = w, b = lastInWindow;
        if (!covered(w)) { edge(w); a++; }
        if (b >= a && !covered(b)) { edge(b); b--; }
        if (b >= a) {
          open(a, b - a + 1, dest.subarray(a * CHUNK_BYTES - pos, chunkEnd(b) - pos));
        }
      }
    } finally {
      scratch.edge.fill(0);
      if (this.#pool.length < POOL_MAX && !this.#closed) this.#pool.push(scratch);
    }
  }
}

/** Options of read() and readInto(). */
export interface ReadOptions {
  /** Aborts the read with ERR_ABORTED; the bytes it covered are zeroed. */
  signal?: AbortSignal;
}

/** At most this long on the main thread between turns of the event loop. */
const YIELD_MS = 2;

function signalOf(opts: unknown): AbortSignal | undefined {
  if (opts === undefined) return undefined;
  const signal = checkOptionsObject<ReadOptions>(opts, ['signal'], 'read options').signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArg(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
  return signal;
}

interface CheckedArgs {
  suite: Suite;
  context: Uint8Array;
  backend: Backend;
}

/** Every argument checked before a file is opened, so bad input never leaks a handle. */
function checkArgs(key: unknown, opts: unknown): CheckedArgs {
  const o = checkOptionsObject<SealedFileOptions>(opts, SEALED_FILE_KEYS, 'options');
  const suite = resolveSuite(o.suite, key);
  const bytes = inputKeyBytes(key, suite);
  if (key instanceof KeyObject) bytes.fill(0); // our own copy (a view of caller memory is not)
  return { suite, context: contextBytes(o.context), backend: getBackend(o.backend) };
}
