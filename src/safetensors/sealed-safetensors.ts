/**
 * SealedSafetensors: a safetensors model read through random access, sealed (decrypting only
 * the chunks each read covers) or plaintext (`key: null`), one file or a sharded checkpoint
 * (`model.safetensors.index.json`). The header is validated before any tensor byte is read.
 */
import type { FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HEADER_BYTES, TAG_BYTES, plaintextLengthOfBody } from '../cobblestone.js';
import { WeightsealError, invalidArg, isWeightsealError } from '../errors.js';
import { SAFETENSORS_KEYS } from '../option-keys.js';
import { checkOptionsObject } from '../options-check.js';
import { checkBytes } from '../validate.js';
import { Channel } from './channel.js';
import { bad, headerLength, LENGTH_PREFIX_BYTES, parseHeader, type TensorInfo } from './header.js';
import { openIndex } from './sharded.js';
import { openSource, type Key, type RandomAccess, type SourceOptions } from './source.js';
import { pick } from './engine.js';
import { TensorSink } from './tensor-sink.js';
import { bounceSink } from '../stream-api.js';
import { shareOf, type RankShare } from './ranks.js';
import { RangedObject, isRemoteUrl, openRemote, remoteContext, type RemoteContext,
  type RemoteStats } from '../remote/open.js';
import { isIndexUrl, openRemoteIndex, shardAccessError } from '../remote/shards.js';

export type { TensorInfo, Dtype } from './header.js';

export interface SafetensorsOptions extends SourceOptions {
  /**
   * stream(): bytes read ahead of the consumer when reading tensor by tensor (default 256 MiB;
   * at least one tensor is always in flight).
   */
  readAheadBytes?: number;
  /**
   * A sharded checkpoint opened with a key: accept a plaintext `*.index.json` (default false,
   * the index must be sealed under the same key and context, so nobody can swap in an index
   * of their own). Shards are always sealed when a key is given.
   */
  plaintextIndex?: boolean;
}

/** A tensor and its bytes, as `stream()` yields them. */
export interface Tensor extends TensorInfo {
  data: Uint8Array;
}

interface Shard {
  file: string;
  /** What the pipeline reads for stream(): the path, the caller's handle or a remote object (null: reads only). */
  origin: string | FileHandle | RangedObject | null;
  source: RandomAccess;
  tensors: TensorInfo[];
  metadata: Record<string, string>;
}

const DEFAULT_READ_AHEAD = 256 * 1024 * 1024;

/** Reads and validates the header of one file; nothing past the header is read. */
async function openShard(origin: string | FileHandle | RangedObject, key: Key | null, opts: SourceOptions,
  file: string): Promise<Shard> {
  const source = await openSource(origin, key, opts);
  try {
    return await readHeader(source, origin, file);
  } catch (e) {
    if (key === null && looksSealed(e, source.size)) {
      throw bad(file, 'this file is sealed (its first bytes are no safetensors header but its length fits a ' +
        'sealed message): pass its key; key: null opens plaintext files only');
    }
    throw e;
  }
}

/**
 * A header-length failure in plaintext mode on a file whose length a sealed message can have:
 * the 8 "length" bytes were a random salt. Other header faults are reported as they are.
 */
function looksSealed(e: unknown, size: number): boolean {
  if (!isWeightsealError(e, 'ERR_BAD_SAFETENSORS') || !/header length/.test(e.message)) return false;
  try {
    plaintextLengthOfBody(size - HEADER_BYTES);
    return size >= HEADER_BYTES + TAG_BYTES;
  } catch {
    return false;
  }
}

async function readHeader(source: RandomAccess, origin: string | FileHandle | RangedObject | null,
  file: string): Promise<Shard> {
  try {
    const prefix = await source.read(0, Math.min(LENGTH_PREFIX_BYTES, source.size));
    const n = headerLength(prefix, source.size, file);
    const json = await source.read(LENGTH_PREFIX_BYTES, n);
    const { tensors, metadata } = parseHeader(json, n, source.size, file);
    return { file, origin, source, tensors, metadata };
  } catch (e) {
    await source.close().catch(() => {});
    throw e;
  }
}

export class SealedSafetensors {
  /** `__metadata__` of the file (of all shards, merged, for a sharded checkpoint). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The index file's own `metadata` object for a sharded checkpoint, else null. */
  readonly indexMetadata: Readonly<Record<string, unknown>> | null;
  private readonly byName = new Map<string, { info: TensorInfo; shard: Shard }>();
  private closed = false;
  /** The connections and counters of a model opened from a URL (src/remote). */
  private remote: RemoteContext | null = null;

  private constructor(private readonly shards: Shard[], private readonly key: Key | null,
    private readonly opts: SafetensorsOptions, indexMetadata: Record<string, unknown> | null) {
    const metadata: Record<string, string> = {};
    for (const shard of shards) {
      for (const [k, v] of Object.entries(shard.metadata)) if (!Object.hasOwn(metadata, k)) metadata[k] = v;
      for (const info of shard.tensors) {
        if (this.byName.has(info.name)) throw bad(shard.file, `tensor "${info.name}" is also in ${this.byName.get(info.name)!.shard.file}`);
        this.byName.set(info.name, { info, shard });
      }
    }
    this.metadata = Object.freeze(metadata);
    this.indexMetadata = indexMetadata && Object.freeze(indexMetadata);
  }

  /**
   * Opens a .safetensors file, sealed under `key` or plaintext with `key: null`, or a sharded
   * checkpoint given its `*.index.json` (plaintext or sealed; shards resolve beside it).
   */
  static async open(pathOrFh: string | URL | FileHandle, key: Key | null,
    opts?: SafetensorsOptions): Promise<SealedSafetensors> {
    opts = checkOptionsObject<SafetensorsOptions>(opts, SAFETENSORS_KEYS, 'options');
    if (isRemoteUrl(pathOrFh)) return SealedSafetensors.openRemote(pathOrFh, key, opts);
    if (pathOrFh instanceof URL) pathOrFh = fileURLToPath(pathOrFh);
    if (typeof pathOrFh === 'string' && pathOrFh.endsWith('.index.json')) {
      const index = await openIndex(pathOrFh, key, opts);
      const shards: Shard[] = [];
      try {
        for (const s of index.shards) {
          const shard = await openShard(s.path, key, opts, s.path);
          shards.push(shard);
          index.check(s, shard.tensors.map((t) => t.name));
        }
        return new SealedSafetensors(shards, key, opts, index.metadata);
      } catch (e) {
        await Promise.allSettled(shards.map((s) => s.source.close()));
        throw e;
      }
    }
    const file = typeof pathOrFh === 'string' ? pathOrFh : `file descriptor ${pathOrFh.fd}`;
    return new SealedSafetensors([await openShard(pathOrFh, key, opts, file)], key, opts, null);
  }

  /**
   * http(s):// or s3:// (src/remote): one file, or an index whose shards resolve relative to
   * its URL. Shards open in parallel over one connection pool; each costs two requests when
   * its header fits in the first 64 KiB (that range, and the final chunk).
   */
  private static async openRemote(url: string | URL, key: Key | null, opts: SafetensorsOptions): Promise<SealedSafetensors> {
    const ctx = remoteContext(opts);
    const shards: Shard[] = [];
    try {
      const open = async (u: string | URL): Promise<Shard> => {
        const obj = await openRemote(u, opts, ctx);
        const shard = await openShard(obj, key, opts, obj.name);
        shards.push(shard);
        return shard;
      };
      let model: SealedSafetensors;
      if (isIndexUrl(url)) {
        const index = await openRemoteIndex(url, key, opts, ctx);
        const opened = await Promise.all(index.shards.map((s) => open(s.path).catch((e: unknown) => {
          throw shardAccessError(e, url);
        })));
        index.shards.forEach((s, i) => index.check(s, opened[i]!.tensors.map((t) => t.name)));
        model = new SealedSafetensors(opened, key, opts, index.metadata);
      } else {
        model = new SealedSafetensors([await open(url)], key, opts, null);
      }
      model.remote = ctx;
      return model;
    } catch (e) {
      await Promise.allSettled(shards.map((s) => s.source.close()));
      await ctx.close();
      throw e;
    }
  }

  /**
   * What was fetched to serve this model so far. For a URL: bytes received from the server(s),
   * retries included, requests and retries; for files: bytes read.
   */
  stats(): RemoteStats {
    if (this.remote) return { ...this.remote.stats };
    const total: RemoteStats = { bytesFetched: 0, requests: 0, retries: 0 };
    for (const s of this.shards) {
      const st = (s.source as RandomAccess & { stats?: () => RemoteStats }).stats?.();
      if (!st) continue;
      total.bytesFetched += st.bytesFetched;
      total.requests += st.requests;
      total.retries += st.retries;
    }
    return total;
  }

  /**
   * Wraps any random-access reader (an in-memory buffer, a custom store). It is read as
   * plaintext: decrypt inside `source` if it is sealed. stream() reads tensor by tensor.
   */
  static async fromSource(source: RandomAccess, name = 'safetensors source',
    opts?: SafetensorsOptions): Promise<SealedSafetensors> {
    opts = checkOptionsObject<SafetensorsOptions>(opts, SAFETENSORS_KEYS, 'options');
    return new SealedSafetensors([await readHeader(source, null, name)], null, opts, null);
  }

  /** Every tensor in file order (shard by shard for a sharded checkpoint). */
  tensors(): TensorInfo[] {
    return this.shards.flatMap((s) => s.tensors.map((t) => ({ ...t, shape: [...t.shape] })));
  }

  /** Total tensor bytes. */
  get dataBytes(): number {
    let n = 0;
    for (const s of this.shards) for (const t of s.tensors) n += t.byteLength;
    return n;
  }

  tensor(name: string): TensorInfo {
    const { info } = this.lookup(name);
    return { ...info, shape: [...info.shape] };
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** One tensor's bytes in a new buffer; only its chunks are read and decrypted. */
  async read(name: string): Promise<Uint8Array> {
    const { info, shard } = this.lookup(name);
    return shard.source.read(info.byteOffset, info.byteLength);
  }

  /** One tensor's bytes into the start of `buffer`; returns the filled view. */
  async readInto(name: string, buffer: Uint8Array): Promise<Uint8Array> {
    const { info, shard } = this.lookup(name);
    // The checked view, not `buffer`: a DataView has no subarray, and a view's own `length`
    // property is not what it holds.
    const buf = checkBytes(buffer, 'buffer');
    if (buf.length < info.byteLength) {
      throw invalidArg(`buffer of ${buf.length} bytes is too small for tensor "${name}" (${info.byteLength} bytes)`);
    }
    const view = buf.subarray(0, info.byteLength);
    if (view.length > 0) await shard.source.readInto(view, info.byteOffset);
    return view;
  }

  /**
   * Yields tensors (all, the named ones, or `{ rank, worldSize }`: this rank's balanced,
   * disjoint share, see ranks.ts) in file order. A sealed file read whole goes
   * through the pipeline on every core; a subset is read tensor by tensor, reading ahead.
   */
  async *stream(names?: Iterable<string> | RankShare): AsyncGenerator<Tensor, void, undefined> {
    this.lookupOpen();
    const share = names === undefined ? null : shareOf(names, this.tensors());
    const wanted = share === null ? null : new Set(share);
    if (wanted) for (const n of wanted) this.lookup(n);
    for (const shard of this.shards) {
      const selected = wanted ? shard.tensors.filter((t) => wanted.has(t.name)) : shard.tensors;
      if (selected.length === 0) continue;
      const bytes = selected.reduce((n, t) => n + t.byteLength, 0);
      // The pipeline decrypts the whole file; worth it when most of the file is wanted. Over a
      // network only when all of it is: a rank's share must not fetch the rest of the shard.
      const worth = shard.origin instanceof RangedObject ? selected.length === shard.tensors.length :
        bytes * 2 >= shard.source.size;
      if (this.key !== null && shard.origin !== null && worth) {
        yield* this.streamPipeline(shard, selected);
      } else {
        yield* this.streamReads(shard, selected);
      }
    }
  }

  private async *streamReads(shard: Shard, selected: TensorInfo[]): AsyncGenerator<Tensor> {
    const limit = this.opts.readAheadBytes ?? DEFAULT_READ_AHEAD;
    const pending: { info: TensorInfo; done: Promise<Uint8Array> }[] = [];
    let inFlight = 0;
    let next = 0;
    try {
      while (next < selected.length || pending.length > 0) {
        while (next < selected.length && (pending.length === 0 || inFlight + selected[next]!.byteLength <= limit)) {
          const info = selected[next++]!;
          inFlight += info.byteLength;
          const done = shard.source.read(info.byteOffset, info.byteLength);
          done.catch(() => {}); // observed when its turn comes
          pending.push({ info, done });
        }
        const head = pending.shift()!;
        const data = await head.done;
        inFlight -= head.info.byteLength;
        yield { ...head.info, shape: [...head.info.shape], data };
      }
    } finally {
      await Promise.allSettled(pending.map((p) => p.done));
    }
  }

  /**
   * Sealed file through the pipeline: slots inside one tensor are decrypted into it in place,
   * the rest copied out of the ring (tensor-sink.ts); tensor memory is recycled output memory.
   */
  private async *streamPipeline(shard: Shard, selected: TensorInfo[]): AsyncGenerator<Tensor> {
    const channel = new Channel<Tensor>(1);
    let stopped = false;
    const sink = new TensorSink(selected, (t) => {
      if (stopped) throw new WeightsealError('ERR_ABORTED', 'stream() consumer stopped early');
      return channel.push(t);
    });
    const run = bounceSink(shard.origin! as string, this.key!, 'open', pick(this.opts), sink).then(
      () => channel.close(sink.next === selected.length ? undefined :
        bad(shard.file, `stream ended before tensor "${selected[sink.next]!.name}"`)),
      (e: unknown) => {
        sink.wipe();
        channel.close(e);
      });
    try {
      for (;;) {
        const r = await channel.next();
        if (r.done) break;
        yield r.value;
      }
    } finally {
      stopped = true;
      channel.cancel(new WeightsealError('ERR_ABORTED', 'stream() consumer stopped early'));
      await run;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const results = await Promise.allSettled(this.shards.map((s) => s.source.close()));
    await this.remote?.close();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** `await using m = await SealedSafetensors.open(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private lookupOpen(): void {
    if (this.closed) throw new WeightsealError('ERR_CLOSED', 'this SealedSafetensors is closed; open it again to read');
  }

  private lookup(name: string): { info: TensorInfo; shard: Shard } {
    this.lookupOpen();
    if (typeof name !== 'string') throw invalidArg(`tensor name must be a string, got ${typeof name}`);
    const hit = this.byName.get(name);
    if (!hit) throw invalidArg(`no tensor named "${name}" in this model (${this.byName.size} tensors; see tensors())`);
    return hit;
  }
}
