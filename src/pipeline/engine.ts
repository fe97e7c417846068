/**
 * The streaming engine: a producer fills slots from a source (or lends the source's shared
 * memory in place), an executor seals or opens each slot with one batch call, and a consumer
 * delivers finished slots strictly in order and only then frees them. The ring's size is the
 * in-flight bound: when the consumer is slow no slot comes free and reads stop.
 *
 * Format (c2sp.org/chunked-encryption): salt || commitment || records of 16 KiB + 16, the
 * final one short. A slot holds a whole number of records, so only the slot the source ends in
 * holds the final chunk; opening checks the commitment before any record is decrypted.
 */
import type { KeyObject } from 'node:crypto';
import type { Backend } from '../backend/types.js';
import { addonStatus } from '../backend/addon.js';
import {
  CHUNK_BYTES, HEADER_BYTES, MAX_CHUNKS, SEALED_CHUNK_BYTES, TAG_BYTES, checkPlaintextLength,
  plaintextLengthOfBody, sealedBodyLength, type Suite,
} from '../cobblestone.js';
import { WeightsealError } from '../errors.js';
import { authFailed, createHeader, parseHeader, wipeDerived } from '../format.js';
import { trailingData } from '../trailing.js';
import { rawKeyMaterial, type Derived } from '../derived.js';
import type { ByteSource } from '../io/sources.js';
import { truncatedSource } from '../io/sources.js';
import { createExecutor, type Executor, type Keying, type Region } from './pool.js';
import { SlotRing, type Slot } from './slots.js';
import { NO_TAIL, OK, OP_COPY, OP_OPEN, OP_SEAL, setMemcpy, type OpCode, type SlotResult, type Tail } from './work.js';
import { inlineBytes } from './options.js';
import { nativePoolAvailable } from './native-pool.js';
import { freshSalt } from './inline.js';
import { cutSlot, runPieces, type Piece } from './pieces.js';

setMemcpy(addonStatus().addon?.memcpy ?? null);

export type Mode = 'seal' | 'open' | 'copy';

export interface Tuning {
  backend: Backend;
  /** 1 runs every slot inline on the calling thread; more fans out to the shared pool. */
  threads: number;
  /** Plaintext bytes per slot, a multiple of 16 KiB. */
  slotBytes: number;
  /** Slots in the ring: the bound on memory and work in flight. */
  inflight: number;
  signal?: AbortSignal | undefined;
}

/** What the message is sealed under: an input key (header mode) or, for hazmat raw mode, the AEAD key itself. */
export interface Keys {
  key?: Uint8Array | KeyObject;
  suite?: Suite;
  context?: ArrayBufferView | string;
  raw?: { key: Uint8Array; baseNonce: Uint8Array };
  /** Test vectors only: a fixed salt (see format.ts TEST_SALT). */
  salt?: Uint8Array;
}

export interface Sink {
  /** Called once the output length is known (sources of known size), before any write. */
  begin?(totalBytes: number | null): void;
  /** Receives each finished slot in order: a view into the ring, valid until the promise settles. */
  write(view: Uint8Array, offset: number): void | Promise<void>;
  /**
   * Memory to put a slot's output in directly (native threads or inline): no ring output, no
   * write(). With `partialTarget`, null sends that slot through the ring and write() instead.
   */
  target?(offset: number, length: number): Uint8Array | null;
  /** target() may return null (the ring then keeps output room for every slot). */
  partialTarget?: boolean;
  /**
   * With partialTarget, opening: bytes from stream offset `offset` that one target() call can
   * take (0: none). Slots are then cut into runs of whole chunks by it (pieces.ts).
   */
  extent?(offset: number): number;
  /** Called in order, like write(), once a slot written through target() is final (verified). */
  written?(offset: number, length: number): void | Promise<void>;
  /** How many write() calls may be in flight at once (default 1: each settles before the next). */
  concurrency?: number;
}

export interface Totals {
  bytesIn: number;
  bytesOut: number;
}

interface Item {
  slot: Slot;
  done: Promise<SlotResult>;
  output: Uint8Array;
  first: number;
  n: number;
  final: boolean;
  error: unknown;
  /** Output went straight into the sink's target memory, not the ring. */
  direct: boolean;
  /** A slot cut into runs (pieces.ts): each delivered on its own, in order. */
  pieces?: Piece[];
}

const OPS: Record<Mode, OpCode> = { seal: OP_SEAL, open: OP_OPEN, copy: OP_COPY };

function tooLarge(): WeightsealError {
  return new WeightsealError('ERR_TOO_LARGE',
    'message reaches 2^38 chunks, the c2sp.org/chunked-encryption limit (4 PiB - 1 per message)');
}

/** Chunks and output bytes of slot i holding `len` input bytes (c2sp "Message chunking"). */
export function slotShape(mode: Mode, i: number, len: number, inCap: number, perSlot: number) {
  const final = len < inCap;
  const first = i * perSlot;
  let n = 0;
  let outLen = len;
  let inLen = len;
  let error: unknown = null;
  if (mode === 'seal') {
    n = final ? Math.floor(len / CHUNK_BYTES) + 1 : perSlot;
    outLen = len + n * TAG_BYTES;
  } else if (mode === 'open') {
    n = final ? Math.floor(len / SEALED_CHUNK_BYTES) : perSlot;
    const rest = len - n * SEALED_CHUNK_BYTES;
    outLen = n * CHUNK_BYTES;
    if (final) {
      if (rest >= TAG_BYTES) {
        n += 1;
        outLen += rest - TAG_BYTES;
      } else {
        // Ends on a record boundary or inside a tag: deliver the whole records, then fail.
        inLen = n * SEALED_CHUNK_BYTES;
        try {
          plaintextLengthOfBody(i * inCap + len);
        } catch (e) {
          error = e;
        }
      }
    }
  }
  if (mode !== 'copy' && first + n > MAX_CHUNKS) {
    n = 0;
    outLen = 0;
    inLen = 0;
    error = tooLarge();
  }
  return { final: final || error !== null, first, n, inLen, outLen, error };
}

/**
 * Plaintext length of a sealed body of known length. A length no message has is reported when
 * the stream reaches it, in order: appended bytes are ERR_TRAILING_DATA once a valid final chunk
 * is found before them, ERR_TRUNCATED otherwise. Until then, the records that could verify.
 */
function openedLength(body: number): number {
  try {
    return plaintextLengthOfBody(body);
  } catch (e) {
    if (!(e instanceof WeightsealError) || e.code !== 'ERR_TRUNCATED') throw e;
    return Math.floor(body / SEALED_CHUNK_BYTES) * CHUNK_BYTES;
  }
}

/**
 * Where the stream's last record lies relative to a slot starting at body offset `at`: known
 * for sources of known size, and in the slot the stream ends in.
 */
function tailOf(body: number | null, at: number, len: number, final: boolean, first: number): Tail {
  const end = body ?? (final ? at + len : -1);
  if (end < 0) return NO_TAIL;
  const last = Math.ceil(end / SEALED_CHUNK_BYTES) - 1;
  return { index: last - first, length: end - last * SEALED_CHUNK_BYTES };
}

/**
 * Whether a stream of known length `body` (sealed bytes for open) runs inline on the calling
 * thread: always at threads 1; on the native backend up to INLINE_BYTES of plaintext, where a
 * hand-off to the pool costs more than the work. The JS backends are slow enough per byte that
 * their pool pays off from the second slot on.
 */
export function runsInline(mode: Mode, body: number | null, tuning: Tuning): boolean {
  if (tuning.threads <= 1) return true;
  if (body === null || tuning.backend.name !== 'native') return false;
  const limit = inlineBytes();
  return body <= (mode === 'open' ? sealedBodyLength(limit) : limit);
}

/** Threads for one stream: see runsInline; a single slot too, unless the native pool can split it. */
export function threadsFor(mode: Mode, tuning: Tuning, body: number | null, slotsNeeded: number): number {
  if (runsInline(mode, body, tuning)) return 1;
  const splits = tuning.backend.name === 'native' && nativePoolAvailable();
  return slotsNeeded <= 1 && !splits ? 1 : tuning.threads;
}

/** Gives the event loop a turn at most every YIELD_MS: a macrotask, so timers and abort() run. */
const YIELD_MS = 2;
function yielder(): () => Promise<void> | null {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < YIELD_MS) return null;
    return new Promise<void>((resolve) => setImmediate(() => { last = performance.now(); resolve(); }));
  };
}

/** Reads the 56-byte header and checks the commitment before anything is decrypted. */
async function readHeader(source: ByteSource, keys: Keys, signal: AbortSignal): Promise<Derived> {
  const header = new Uint8Array(HEADER_BYTES);
  const got = await source.read(header, signal);
  return parseHeader(keys.key as Uint8Array, header.subarray(0, got), keys.suite, keys.context);
}

/**
 * Runs `mode` over the whole source into the sink. Resolves when the last slot was delivered
 * (and, for open, verified); rejects with the first error in stream order, after delivering
 * what came before it (for open: only chunks whose tags verified).
 */
export async function runPipeline(mode: Mode, keys: Keys | null, source: ByteSource, sink: Sink,
  tuning: Tuning): Promise<Totals> {
  const stop = new AbortController();
  let failure: unknown = null;
  // Every wait of the consumer ends early when the stream fails (an abort, a reader error).
  const waiting = new Set<(e: unknown) => void>();
  const guard = <T>(p: Promise<T>): Promise<T> => (failure !== null ? Promise.reject(failure) :
    new Promise<T>((resolve, reject) => {
      waiting.add(reject);
      p.then((v) => { waiting.delete(reject); resolve(v); }, (e: unknown) => { waiting.delete(reject); reject(e); });
    }));
  const onAbort = () => failWith(new WeightsealError('ERR_ABORTED', 'the operation was aborted',
    { cause: tuning.signal?.reason }));
  let exec: Executor | null = null;
  let ring: SlotRing | null = null;
  function failWith(e: unknown): void {
    if (failure !== null) return;
    failure = e;
    stop.abort(e);
    ring?.fail(e);
    exec?.close();
    for (const reject of waiting) reject(e);
    waiting.clear();
  }
  if (tuning.signal?.aborted) onAbort();
  tuning.signal?.addEventListener('abort', onAbort, { once: true });

  let derived: Derived | null = null;
  let rawMaterial: Keying | null = null;
  let producer: Promise<void> = Promise.resolve();
  // Slot work not yet settled, for the final wait: only these, so a long stream holds no history.
  const unsettled = new Set<Promise<SlotResult>>();
  const pendingWrites = new Set<Promise<void>>();
  let bytesIn = 0;
  let offset = 0;
  try {
    if (failure !== null) throw failure;
    let keying: Keying | null = null;
    let header: Uint8Array | null = null;
    if (mode !== 'copy') {
      if (keys?.raw) keying = rawMaterial = rawKeyMaterial(keys.raw.key, keys.raw.baseNonce);
      else if (mode === 'seal') {
        const h = createHeader(keys!.key as Uint8Array, keys!.suite, keys!.context, keys!.salt ?? freshSalt());
        derived = h.derived;
        header = h.header;
      } else {
        derived = await guard(readHeader(source, keys!, stop.signal));
        bytesIn = HEADER_BYTES;
      }
      keying ??= derived;
    }
    const start = source.position;
    const body = source.size === null ? null : source.size - start;
    // Known lengths are checked before any chunk is touched.
    let total: number | null = null;
    if (body !== null) {
      if (mode === 'open') total = openedLength(body);
      else if (mode === 'seal') {
        checkPlaintextLength(body);
        total = (header ? HEADER_BYTES : 0) + sealedBodyLength(body);
      } else total = body;
    }

    // A known short input gets slots no larger than itself (a 1-byte stream takes pages, not slotBytes).
    const slotBytes = body === null ? tuning.slotBytes :
      Math.min(tuning.slotBytes, CHUNK_BYTES * (Math.floor(body / CHUNK_BYTES) + 1));
    const perSlot = slotBytes / CHUNK_BYTES;
    const inCap = mode === 'open' ? perSlot * SEALED_CHUNK_BYTES : slotBytes;
    const outCap = mode === 'seal' ? perSlot * SEALED_CHUNK_BYTES : slotBytes;
    const slotsNeeded = body === null ? Infinity : Math.floor(body / inCap) + 1;
    exec = createExecutor(OPS[mode], tuning.backend, keying, threadsFor(mode, tuning, body, slotsNeeded));
    // The executor holds its own copy (imported key or key slot) from here on.
    if (derived) wipeDerived(derived);
    rawMaterial?.wipe();
    const lend = !!source.lend && source.lend(start, 0, exec.needsShared) !== null;
    const direct = !!sink.target && !exec.needsShared;
    // Memory is taken before anything is emitted: a ring that cannot be had fails the call cleanly.
    ring = new SlotRing(Math.max(1, Math.min(tuning.inflight, slotsNeeded)), lend ? 0 : inCap,
      direct && !sink.partialTarget ? 0 : outCap);
    const parallelReads = !lend && body !== null && !!source.readAt;
    // The main thread runs inline slots itself: it comes up for air between them (signal, timers, I/O).
    const breathe = exec.inline ? yielder() : null;

    sink.begin?.(total);
    if (header) {
      const into = sink.target?.(0, HEADER_BYTES);
      if (into) into.set(header);
      else await guard(Promise.resolve(sink.write(header, 0)));
      offset = HEADER_BYTES;
    }

    let wake: (() => void) | null = null;
    const queue: Item[] = [];
    const push = (it: Item) => {
      const settle = () => { unsettled.delete(it.done); };
      unsettled.add(it.done);
      it.done.then(settle, settle);
      queue.push(it);
      wake?.();
      wake = null;
    };

    producer = (async () => {
      let outAt = offset;
      for (let i = 0; failure === null; i++) {
        if (breathe) await breathe();
        if (failure !== null) break;
        const slot = await ring!.acquire();
        const pos = start + i * inCap;
        let src: Region;
        let len: number;
        let filled: Promise<unknown> | null = null;
        if (lend) {
          src = source.lend!(pos, inCap, exec!.needsShared)!;
          len = src.len;
        } else if (parallelReads) {
          len = Math.min(inCap, body! - i * inCap);
          const dst = slot.input.subarray(0, len);
          filled = source.readAt!(dst, pos, stop.signal).then((got) => {
            if (got < len) throw truncatedSource(source.name, start + body!, pos + got);
          });
          src = { buf: ring!.sab, off: slot.input.byteOffset, len };
        } else {
          len = await source.read(slot.input, stop.signal);
          src = { buf: ring!.sab, off: slot.input.byteOffset, len };
        }
        // Only plaintext is zeroed when the ring is released (slots.ts): seal's input, open's output.
        if (!lend && mode !== 'open') slot.usedIn = Math.max(slot.usedIn, len);
        bytesIn += len;
        const s = slotShape(mode, i, len, inCap, perSlot);
        const records: Region = { ...src, len: s.inLen };
        const tail = mode === 'open' ? tailOf(body, i * inCap, len, s.final, s.first) : NO_TAIL;
        if (direct && sink.extent && mode === 'open' && s.n > 0) {
          const ringOut = slot.output.subarray(0, s.outLen);
          const pieces = cutSlot(sink, outAt, s.n, s.outLen, ringOut);
          if (pieces.some((p) => !p.direct)) slot.usedOut = Math.max(slot.usedOut, s.outLen);
          const work = () => runPieces(exec!, pieces, s.first, records, tail);
          const done = filled ? filled.then(work) : Promise.resolve().then(work);
          push({ slot, done, output: ringOut, first: s.first, n: s.n, final: s.final, error: s.error, direct: false, pieces });
          outAt += s.outLen;
          if (s.final) return;
          continue;
        }
        const into = direct ? sink.target!(outAt, s.outLen) : null;
        const output = into ?? slot.output.subarray(0, s.outLen);
        if (!into && mode !== 'seal') slot.usedOut = Math.max(slot.usedOut, s.outLen);
        const dst: Region = { buf: output.buffer, off: output.byteOffset, len: output.length };
        const work = () => (s.n > 0 || (mode === 'copy' && len > 0) ? exec!.run(s.first, s.n, records, dst, tail) : OK);
        const done = filled ? filled.then(work) : Promise.resolve().then(work);
        push({ slot, done, output, first: s.first, n: s.n, final: s.final, error: s.error, direct: into !== null });
        outAt += s.outLen;
        if (s.final) return;
      }
    })().catch((e) => {
      // A source error takes its place in stream order, after the slots read before it.
      if (failure === null) push({ slot: null!, done: Promise.resolve(OK), output: new Uint8Array(0),
        first: 0, n: 0, final: true, error: e, direct: false });
    });

    const concurrency = Math.max(1, sink.concurrency ?? 1);
    for (;;) {
      while (queue.length === 0) await guard(new Promise<void>((r) => { wake = r; }));
      const it = queue.shift()!;
      const res = await guard(it.done);
      if (it.pieces) {
        // Verified runs in order, each where it was written; up to the failing chunk if any.
        const verified = res.fail >= 0 ? res.fail * CHUNK_BYTES : Infinity;
        for (const p of it.pieces) {
          if (p.at >= verified) break;
          const n = Math.min(p.output.length, verified - p.at);
          if (n === 0) continue;
          if (!p.direct) await guard(Promise.resolve(sink.write(p.output.subarray(0, n), offset + p.at)));
          else if (sink.written) await guard(Promise.resolve(sink.written(offset + p.at, n)));
        }
      }
      if (res.fail >= 0) {
        const verified = it.output.subarray(0, res.fail * CHUNK_BYTES);
        if (verified.length > 0 && !it.direct && !it.pieces) {
          await guard(Promise.all(pendingWrites));
          await guard(Promise.resolve(sink.write(verified, offset)));
        }
        const chunk = it.first + res.fail;
        throw res.trailing ? trailingData(chunk) : authFailed(chunk, it.final && res.fail === it.n - 1);
      }
      if (it.output.length > 0 && !it.direct && !it.pieces) {
        while (pendingWrites.size >= concurrency) await guard(Promise.race(pendingWrites));
        const slot = it.slot;
        const w: Promise<void> = Promise.resolve(sink.write(it.output, offset)).then(() => {
          pendingWrites.delete(w);
          ring!.release(slot);
        });
        w.catch(() => {});
        pendingWrites.add(w);
        if (concurrency === 1) await guard(w);
      } else {
        if (it.direct && it.output.length > 0 && sink.written) {
          await guard(Promise.all(pendingWrites));
          await guard(Promise.resolve(sink.written(offset, it.output.length)));
        }
        if (it.slot) ring.release(it.slot);
      }
      offset += it.output.length;
      if (it.error) throw it.error;
      if (it.final) break;
    }
    await guard(Promise.all(pendingWrites));
    return { bytesIn, bytesOut: offset };
  } catch (e) {
    failWith(e);
    throw failure;
  } finally {
    tuning.signal?.removeEventListener('abort', onAbort);
    exec?.close();
    if (derived) wipeDerived(derived);
    rawMaterial?.wipe();
    // Slots go back to the cache only once nothing can still write into or read from them:
    // worker tasks and reads settle promptly; a consumer's write may never settle.
    await Promise.allSettled([producer, ...unsettled]);
    const r = ring;
    void Promise.allSettled([...pendingWrites]).then(() => r?.dispose());
  }
}
