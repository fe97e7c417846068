/**
 * The streaming API of c2sp.org/chunked-encryption ("Cobblestone"): whole buffers, files, Node
 * and Web streams, and bounce (the staging-buffer path a loader copies from), all through one
 * slot pipeline (src/pipeline/engine.ts) that fans out to worker threads.
 *
 * Opening never releases a byte of a chunk before its tag verifies. A stream that fails stays
 * failed; errors are WeightsealError with a stable code: ERR_WRONG_KEY_OR_CONTEXT (the
 * commitment, checked before any chunk), ERR_AUTH_FAILED (with `.chunk`), ERR_TRUNCATED,
 * ERR_TRAILING_DATA, ERR_TOO_LARGE, ERR_INVALID_ARG, ERR_EXISTS, ERR_IO (with `.path`),
 * ERR_ABORTED.
 */
import type { KeyObject } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { invalidArg } from './errors.js';
import { pathArg, transformFile, type FileResult } from './io/files.js';
import { PipelineTransform } from './io/node-streams.js';
import { MemorySource, toSource } from './io/sources.js';
import { webTransform } from './io/web-streams.js';
import { runPipeline, type Keys, type Mode, type Sink, type Tuning } from './pipeline/engine.js';
import { checkOptions, resolveKeys, resolveTuning, type PipelineOptions } from './pipeline/options.js';
import { BOUNCE_KEYS, FILE_KEYS, PIPELINE_KEYS } from './option-keys.js';
import { checkKeys } from './options-check.js';
import { withPath } from './error-path.js';
import { checkBytes, describe } from './validate.js';
import { RangedObject, isRemoteUrl, remoteByteSource, type RemoteOptions } from './remote/open.js';
import { remoteTuning } from './remote/tuning.js';

export type { PipelineOptions } from './pipeline/options.js';
export type { FileResult } from './io/files.js';

export type Key = Uint8Array | KeyObject;

export interface FileOptions extends PipelineOptions, RemoteOptions {
  /** Replace an existing destination (default false: ERR_EXISTS). */
  overwrite?: boolean;
}

export type BounceSource = string | URL | FileHandle | Readable | AsyncIterable<Uint8Array> |
  Iterable<Uint8Array> | Uint8Array | RangedObject;

export interface BounceOptions extends PipelineOptions, RemoteOptions {
  mode: 'seal' | 'open';
  /**
   * Receives each finished slot in order: `view` is the slot itself (zero copy), valid until
   * the returned promise settles, after which the slot is reused. `offset` is the byte offset
   * of view in the output (sealed bytes for 'seal', plaintext for 'open').
   */
  onSlot(view: Uint8Array, offset: number): void | Promise<void>;
}

export interface BounceResult {
  bytesIn: number;
  bytesOut: number;
  seconds: number;
}

function prepare(key: unknown, opts: unknown, allowed: readonly string[] = PIPELINE_KEYS):
  { keys: Keys; tuning: Tuning; o: PipelineOptions } {
  const o = checkOptions(opts);
  checkKeys(o, allowed, 'options');
  return { keys: resolveKeys(key, o), tuning: resolveTuning(o), o };
}

/** A sink that collects into one exactly sized buffer, written in place when running inline. */
function collect(): Sink & { result: Uint8Array | null } {
  const sink = {
    result: null as Uint8Array | null,
    begin(total: number | null) {
      sink.result = new Uint8Array(total ?? 0);
    },
    target: (offset: number, length: number) => sink.result!.subarray(offset, offset + length),
    write(view: Uint8Array, offset: number) {
      sink.result!.set(view, offset);
    },
  };
  return sink;
}

async function whole(mode: Mode, key: unknown, input: unknown, name: string, opts: unknown): Promise<Uint8Array> {
  const bytes = checkBytes(input, name);
  const { keys, tuning } = prepare(key, opts);
  const sink = collect();
  try {
    await runPipeline(mode, keys, new MemorySource(bytes), sink, tuning);
  } catch (e) {
    // A verified prefix may sit in the result of a failed open: nothing of it is returned.
    sink.result?.fill(0);
    throw e;
  }
  return sink.result!;
}

/** Seals a whole buffer: salt || commitment || chunks. A SharedArrayBuffer-backed input is read by workers in place. */
export async function seal(key: Key, plaintext: ArrayBufferView, opts?: PipelineOptions): Promise<Uint8Array> {
  return whole('seal', key, plaintext, 'plaintext', opts);
}

/** Opens a whole sealed buffer; rejects (returning nothing) unless every chunk verifies. */
export async function open(key: Key, sealed: ArrayBufferView, opts?: PipelineOptions): Promise<Uint8Array> {
  return whole('open', key, sealed, 'sealed', opts);
}

async function fileOp(mode: Mode, src: unknown, dst: unknown, key: unknown, opts: unknown): Promise<FileResult> {
  if (!isRemoteUrl(dst)) pathArg(dst, 'dst'); // null means "verify only" inside; the API always writes somewhere
  const { keys, tuning, o } = prepare(key, opts, FILE_KEYS);
  return transformFile(mode, src, dst, keys, tuning, (o as FileOptions).overwrite ?? false, {}, o as RemoteOptions);
}

/**
 * Seals file `src` into `dst`, through a temporary file beside dst renamed into place when
 * done. Refuses an existing dst unless `overwrite: true`; on failure dst is untouched.
 * An s3://bucket/key dst is a multipart upload (parts in parallel), aborted on failure.
 */
export async function sealFile(src: string | URL | FileHandle, dst: string | URL, key: Key,
  opts?: FileOptions): Promise<FileResult> {
  return fileOp('seal', src, dst, key, opts);
}

/** Opens sealed file `src` into `dst`; dst appears only once every chunk verified. */
export async function openFile(src: string | URL | FileHandle, dst: string | URL, key: Key,
  opts?: FileOptions): Promise<FileResult> {
  return fileOp('open', src, dst, key, opts);
}

/** A Node Transform that seals what is written to it (for stream.pipeline). */
export function createSealStream(key: Key, opts?: PipelineOptions): PipelineTransform {
  const { keys, tuning } = prepare(key, opts);
  return new PipelineTransform('seal', keys, tuning);
}

/** A Node Transform that opens a sealed stream; it emits only verified plaintext. */
export function createOpenStream(key: Key, opts?: PipelineOptions): PipelineTransform {
  const { keys, tuning } = prepare(key, opts);
  return new PipelineTransform('open', keys, tuning);
}

/** A Web TransformStream that seals (for ReadableStream.pipeThrough). */
export function sealWebStream(key: Key, opts?: PipelineOptions): TransformStream<Uint8Array, Uint8Array> {
  const { keys, tuning } = prepare(key, opts);
  return webTransform('seal', keys, tuning);
}

/** A Web TransformStream that opens a sealed stream, emitting only verified plaintext. */
export function openWebStream(key: Key, opts?: PipelineOptions): TransformStream<Uint8Array, Uint8Array> {
  const { keys, tuning } = prepare(key, opts);
  return webTransform('open', keys, tuning);
}

/**
 * Streams `source` through a ring of reusable slots and hands each finished slot, in order,
 * to `onSlot` as a zero-copy view: the CPU side of a bounce buffer. A slot is reused only
 * after onSlot's promise settles, so a slow consumer stops the reads (at most `inflight`
 * slots in flight). Opening, onSlot only ever sees verified plaintext.
 */
export async function bounce(source: BounceSource, key: Key, opts: BounceOptions): Promise<BounceResult> {
  const t0 = performance.now();
  checkKeys(checkOptions(opts), BOUNCE_KEYS, 'bounce options');
  // mode and onSlot read once: a getter must not pass the check and then hand over another value.
  const { mode, onSlot } = opts ?? {};
  if (mode !== 'seal' && mode !== 'open') {
    throw invalidArg(`bounce needs { mode: 'seal' | 'open', onSlot }, got mode ${String(mode)}`);
  }
  if (typeof onSlot !== 'function') {
    throw invalidArg(`onSlot must be a function (view, offset) => void | Promise<void>, got ${describe(onSlot)}`);
  }
  const prepared = prepare(key, opts, BOUNCE_KEYS);
  const keys = prepared.keys;
  // http(s):// and s3:// URLs (or a loader's open remote object): parallel ranged reads (src/remote).
  const remote = isRemoteUrl(source) || source instanceof RangedObject;
  const tuning = remote ? remoteTuning(prepared.tuning, opts) : prepared.tuning;
  const src = remote ? await remoteByteSource(source, opts) : await toSource(source);
  try {
    const totals = await runPipeline(mode, keys, src, { write: (view, offset) => onSlot(view, offset) }, tuning);
    return { ...totals, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    // A file source: errors about its bytes name it (.path), as sealFile/openFile do.
    throw typeof source === 'string' || source instanceof URL ? withPath(e, pathArg(source, 'source')) : e;
  } finally {
    await src.close().catch(() => {});
  }
}
