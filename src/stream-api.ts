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
import { HEADER_BYTES, checkPlaintextLength, plaintextLengthOfBody, sealedLength } from './cobblestone.js';
import { WeightsealError, invalidArg, isWeightsealError } from './errors.js';
import { pathArg, transformFile, type FileResult } from './io/files.js';
import { PipelineTransform } from './io/node-streams.js';
import { MemorySource, toSource } from './io/sources.js';
import { webTransform } from './io/web-streams.js';
import { runPipeline, runsInline, type Keys, type Mode, type Sink, type Tuning } from './pipeline/engine.js';
import { openSmall, sealSmall } from './pipeline/inline.js';
import { checkOptions, inlineBytes, resolveKeys, resolveTuning, type PipelineOptions } from './pipeline/options.js';
import { BOUNCE_KEYS, FILE_KEYS, PIPELINE_KEYS, WHOLE_KEYS } from './option-keys.js';
import { checkKeys } from './options-check.js';
import { withPath } from './error-path.js';
import { freshOutput, heapOutput } from './output-memory.js';
import { checkBytes, checkIndex, describe, overlaps } from './validate.js';
import { RangedObject, isRemoteUrl, remoteByteSource, type RemoteOptions } from './remote/open.js';
import { remoteTuning } from './remote/tuning.js';
import { canShrink, pinForThreads } from './pipeline/pin.js';

export type { PipelineOptions } from './pipeline/options.js';
export type { FileResult } from './io/files.js';

export type Key = Uint8Array | KeyObject;

export interface WholeOptions extends PipelineOptions {
  /**
   * Write the output here instead of a fresh buffer: exactly the output length
   * (sealedSize / plaintextSize), not overlapping the input. Reusing one output across calls
   * saves its page faults (README "Output buffers").
   */
  into?: ArrayBufferView;
}

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

/**
 * A sink that collects into one exactly sized buffer (the caller's `into`, or a fresh one),
 * written in place by the executor when it can reach that memory. `end` is how far output may
 * have been written, so a failure wipes that much and no more.
 */
function collect(into: Uint8Array | null): Sink & { result: Uint8Array | null; end: number } {
  // The caller's `into` is written in place by the addon's threads (a fresh output is ours
  // alone until the call returns, so it stays transferable).
  if (into) pinForThreads(into.buffer);
  const sink = {
    result: into,
    end: 0,
    begin(total: number | null) {
      sink.result ??= freshOutput(total ?? 0);
    },
    target(offset: number, length: number) {
      sink.end = Math.max(sink.end, offset + length);
      return sink.result!.subarray(offset, offset + length);
    },
    write(view: Uint8Array, offset: number) {
      sink.end = Math.max(sink.end, offset + view.length);
      sink.result!.set(view, offset);
    },
  };
  return sink;
}

/** The caller's `into`: exactly `length` bytes, not overlapping the input. */
function intoArg(into: unknown, length: number, input: Uint8Array, what: string): Uint8Array {
  const out = checkBytes(into, 'into');
  if (out.length !== length) {
    throw invalidArg(`into must be exactly ${length} bytes (the ${what}), got ${out.length}; ` +
      `size it with ${what === 'sealed length' ? 'sealedSize(plaintext.length)' : 'plaintextSize(sealed.length)'}`);
  }
  if (overlaps(out, input)) throw invalidArg('into must not overlap the input; pass a separate buffer');
  if (canShrink(out.buffer)) {
    throw invalidArg('into must not be a resizable ArrayBuffer (it could shrink while the addon\'s threads write it); ' +
      'pass a fixed-length buffer, e.g. new Uint8Array(n)');
  }
  return out;
}

/** Exact output length of a whole-buffer call, or null when the input itself is malformed (reported later, in order). */
function outputLength(mode: Mode, bytes: Uint8Array): number | null {
  if (mode === 'seal') return sealedLength(bytes.length);
  if (bytes.length < HEADER_BYTES) return null;
  try {
    return plaintextLengthOfBody(bytes.length - HEADER_BYTES);
  } catch {
    return null;
  }
}

async function whole(mode: Mode, key: unknown, input: unknown, name: string, opts: unknown): Promise<Uint8Array> {
  const bytes = checkBytes(input, name);
  const { keys, tuning, o } = prepare(key, opts, WHOLE_KEYS);
  let into: Uint8Array | null = null;
  const given = (o as WholeOptions).into; // read once (STYLE habit 11)
  if (given !== undefined) {
    const length = outputLength(mode, bytes);
    // A malformed sealed input has no right length: say what is wrong with the input instead.
    if (length === null) plaintextLengthOfBody(Math.max(0, bytes.length - HEADER_BYTES));
    into = intoArg(given, length!, bytes, mode === 'seal' ? 'sealed length' : 'plaintext length');
  }
  if (tuning.signal?.aborted) throw aborted(tuning.signal);
  const limit = inlineBytes();
  // runsInline takes what a stream would carry: the plaintext, or the sealed body after the header.
  const body = mode === 'seal' ? bytes.length : Math.max(0, bytes.length - HEADER_BYTES);
  if (bytes.length <= (mode === 'seal' ? limit : sealedLength(limit)) && runsInline(mode, body, tuning)) {
    const out = await wholeInline(mode, keys, tuning, bytes, into);
    return given instanceof Uint8Array ? given : out;
  }
  const sink = collect(into);
  try {
    await runPipeline(mode, keys, new MemorySource(bytes), sink, tuning);
  } catch (e) {
    // Opening, a verified prefix may sit in the output: nothing of it is returned, and what was
    // written is wiped (only that: untouched pages stay untouched). Sealed output is not secret.
    if (mode === 'open' && sink.result) sink.result.fill(0, 0, sink.end);
    throw e;
  }
  // The caller's own object back (checkBytes works on a view of its own making).
  return given instanceof Uint8Array ? given : sink.result!;
}

/**
 * Small inputs: one synchronous call on this thread (pipeline/inline.ts). It returns before
 * the event loop gets a turn, so it is kept to INLINE_BYTES (some 100 us of work). A failed
 * open is run again through the pipeline, which reports failures in stream order and names
 * appended data ERR_TRAILING_DATA.
 */
async function wholeInline(mode: Mode, keys: Keys, tuning: Tuning, bytes: Uint8Array,
  into: Uint8Array | null): Promise<Uint8Array> {
  if (mode === 'seal') {
    const out = into ?? heapOutput(sealedLength(bytes.length));
    sealSmall(keys, tuning.backend, bytes, out);
    return out;
  }
  try {
    return openSmall(keys, tuning.backend, bytes, (n) => into ?? heapOutput(n));
  } catch (e) {
    // The pipeline reports these in stream order (a bad chunk before a bad length, appended data).
    if (!isWeightsealError(e, 'ERR_AUTH_FAILED') && !isWeightsealError(e, 'ERR_TRUNCATED')) throw e;
  }
  const sink = collect(into);
  try {
    await runPipeline('open', keys, new MemorySource(bytes), sink, { ...tuning, threads: 1 });
  } catch (e) {
    sink.result?.fill(0, 0, sink.end);
    throw e;
  }
  return sink.result!;
}

/** Bytes `seal` produces for a plaintext of `plaintextBytes` (to size `into`). */
export function sealedSize(plaintextBytes: number): number {
  checkPlaintextLength(checkIndex(plaintextBytes, 'plaintextBytes'));
  return sealedLength(plaintextBytes);
}

/** Plaintext bytes `open` produces for a sealed message of `sealedBytes`; ERR_TRUNCATED for a length no message has. */
export function plaintextSize(sealedBytes: number): number {
  const n = checkIndex(sealedBytes, 'sealedBytes');
  if (n < HEADER_BYTES) plaintextLengthOfBody(0);
  return plaintextLengthOfBody(n - HEADER_BYTES);
}

function aborted(signal: AbortSignal): WeightsealError {
  return new WeightsealError('ERR_ABORTED', 'the operation was aborted', { cause: signal.reason });
}

/**
 * Seals a whole buffer: salt || commitment || chunks. The input is read in place, shared
 * memory or not. `into` (exactly sealedSize(plaintext.byteLength) bytes) receives the output
 * instead of a fresh buffer; the promise resolves to it (a Uint8Array over its bytes when it
 * is another kind of view).
 */
export async function seal(key: Key, plaintext: ArrayBufferView, opts?: WholeOptions): Promise<Uint8Array> {
  return whole('seal', key, plaintext, 'plaintext', opts);
}

/**
 * Opens a whole sealed buffer; rejects (returning nothing) unless every chunk verifies.
 * `into` (exactly the plaintext length) receives the plaintext; on failure what was written
 * into it is zeroed.
 */
export async function open(key: Key, sealed: ArrayBufferView, opts?: WholeOptions): Promise<Uint8Array> {
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
  return bounceSink(source, key, mode, opts, { write: (view, offset) => onSlot(view, offset) }, t0);
}

/**
 * bounce() into a pipeline sink of weightseal's own (not public): one that may take slots in
 * place, as SealedSafetensors.stream() does (safetensors/tensor-sink.ts).
 */
export async function bounceSink(source: BounceSource, key: Key, mode: 'seal' | 'open', opts: unknown, sink: Sink,
  t0 = performance.now()): Promise<BounceResult> {
  const prepared = prepare(key, opts, BOUNCE_KEYS);
  const keys = prepared.keys;
  const o = prepared.o as BounceOptions;
  // http(s):// and s3:// URLs (or a loader's open remote object): parallel ranged reads (src/remote).
  const remote = isRemoteUrl(source) || source instanceof RangedObject;
  const tuning = remote ? remoteTuning(prepared.tuning, o) : prepared.tuning;
  const src = remote ? await remoteByteSource(source, o) : await toSource(source);
  try {
    const totals = await runPipeline(mode, keys, src, sink, tuning);
    return { ...totals, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    // A file source: errors about its bytes name it (.path), as sealFile/openFile do.
    throw typeof source === 'string' || source instanceof URL ? withPath(e, pathArg(source, 'source')) : e;
  } finally {
    await src.close().catch(() => {});
  }
}
