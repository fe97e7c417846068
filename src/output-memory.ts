/**
 * Memory for outputs the caller did not provide (seal/open without `into`, stream() tensors,
 * reads of a plaintext safetensors file). First touch of fresh memory costs a page fault per
 * page, and on some VMs that runs at a fraction of a GB/s, well below the cipher. So outputs of
 * 64 KiB and up come from the addon's output cache (native/output_cache.h): external buffers
 * whose memory, once the caller drops the buffer and GC collects it, is kept (up to a limit)
 * and handed to the next output, whose writes then land on pages already mapped.
 *
 * A cached block holds a previous output's bytes until overwritten, so every caller of
 * freshOutput writes every byte of the buffer before anyone else sees it, and a buffer that
 * was not fully written (a failed open, a short read) is dropped, never returned; callers
 * also wipe the plaintext they wrote there (README "Output buffers").
 *
 * Node marks external buffers untransferable (their memory is not V8's to hand to another
 * thread): a transfer of a cached output copies it on Node 20 but throws DataCloneError on
 * Node 21+. So the cache is on by default on Node 20 only; on later versions setting
 * WEIGHTSEAL_OUTPUT_CACHE turns it on. Without the addon, with an addon that predates the
 * cache, or with WEIGHTSEAL_OUTPUT_CACHE=0, outputs are plain Buffer.allocUnsafeSlow memory,
 * as before.
 */
import { addonStatus, type Addon, type OutputCacheStats } from './backend/addon.js';

/** Smaller outputs come from V8's allocator, where they reuse warm heap memory anyway. */
export const CACHED_MIN_BYTES = 64 * 1024;
/** Idle cached memory is unmapped once unused this long (as the slot ring cache is). */
const IDLE_MS = 30_000;

let cache: Required<Pick<Addon, 'outputBuffer' | 'outputCache'>> | null | undefined;
let timer: NodeJS.Timeout | null = null;
let bypass = false;
/** Tests: setOutputCacheLimit() turned it on whatever the Node version. */
let forced = false;

/** On by default where a transfer of a cached output still works (copies): Node 20. */
function wanted(): boolean {
  const v = process.env.WEIGHTSEAL_OUTPUT_CACHE;
  return forced || (v !== undefined && v !== '') || Number(process.versions.node.split('.')[0]) < 21;
}

function checkEnv(): void {
  const v = process.env.WEIGHTSEAL_OUTPUT_CACHE;
  if (v !== undefined && v !== '' && !/^\d+$/.test(v)) {
    process.emitWarning(`WEIGHTSEAL_OUTPUT_CACHE must be a whole number of MiB (0 turns the cache off), ` +
      `got "${v}"; using the default`, { code: 'WEIGHTSEAL_OUTPUT_CACHE' });
  }
}

/** The addon's cache, or null (no addon, an older build, or a limit of 0). */
function outputCache(): typeof cache {
  if (cache === undefined) {
    const a = addonStatus().addon;
    cache = a?.outputBuffer && a.outputCache && wanted() ?
      { outputBuffer: a.outputBuffer, outputCache: a.outputCache } : null;
    if (cache) {
      checkEnv();
      if (cache.outputCache().limitBytes === 0) cache = null;
    }
  }
  return cache;
}

/** Unmaps idle cached memory while outputs are in use or cached; unref'd, never keeps the process up. */
function armTrim(c: NonNullable<typeof cache>): void {
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    const st = c.outputCache(undefined, IDLE_MS);
    if (st.cachedBytes > 0 || st.liveBytes > 0) armTrim(c);
  }, IDLE_MS);
  timer.unref();
}

/**
 * `n` bytes of output memory, contents unspecified: the caller writes all of it before handing
 * it on, and drops it unreturned otherwise.
 */
export function freshOutput(n: number): Uint8Array {
  if (n < CACHED_MIN_BYTES) return new Uint8Array(n);
  const c = bypass ? null : outputCache();
  const b = c?.outputBuffer(n) ?? Buffer.allocUnsafeSlow(n);
  if (c) armTrim(c);
  // A plain Uint8Array over the memory, as callers got before (not a Buffer).
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/**
 * Output memory for a call that returns before the event loop turns (the inline whole-buffer
 * path, up to INLINE_BYTES): never from the cache. A cached block comes back only when its
 * buffer's finalizer runs, which Node schedules on the event loop, so a loop of
 * `await seal(...)` over small inputs (all microtasks) would miss on every call and fault in
 * fresh memory each time; measured in bench:pipeline, 64 KiB seal+open took ten times as long
 * as without the cache. V8's and malloc's own reuse serve these sizes well.
 */
export function heapOutput(n: number): Uint8Array {
  if (n < CACHED_MIN_BYTES) return new Uint8Array(n);
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** The cache's counters, or null when outputs are not cached (tests, benchmarks). */
export function outputCacheStats(): OutputCacheStats | null {
  return outputCache()?.outputCache() ?? null;
}

/**
 * Tests and benchmarks: sets the most idle memory kept (0 turns the cache off, in every thread
 * of the process: the cache is the process's) and returns the previous limit. null: no cache.
 */
export function setOutputCacheLimit(bytes: number): number | null {
  const a = addonStatus().addon;
  if (!a?.outputBuffer || !a.outputCache) return null;
  const old = a.outputCache().limitBytes;
  a.outputCache(bytes);
  forced = bytes > 0;
  cache = undefined; // re-read: 0 now means plain allocations, as without the addon
  return old;
}

/**
 * Benchmarks: outputs from fresh memory (as with WEIGHTSEAL_OUTPUT_CACHE=0) while `on`, leaving
 * what the cache holds in place, so the two can be measured in turns in one process.
 */
export function bypassOutputCache(on: boolean): void {
  bypass = on;
}
