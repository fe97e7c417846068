/**
 * The demo's comparison: the same in-memory pipeline (slots, workers, ordered delivery) run
 * with each AES-GCM backend, and with memcpy in place of the cipher (plain copy), on one
 * thread and on every core. Outputs are checked against node:crypto before anything is timed;
 * each figure is the best of a few runs after a warm-up; ratios are against plain copy
 * measured in this same run (STYLE habit 9). noble is timed on a smaller buffer: it is ~1000x
 * slower, and GB/s does not depend on the size once slots are full.
 */
import { availableParallelism } from 'node:os';
import { randomFillSync } from 'node:crypto';
import { getBackend, type Backend } from '../backend/index.js';
import { nativeBackend, supportedKernels } from '../backend/native.js';
import { sealedLength } from '../cobblestone.js';
import { openInline, sealInline } from '../format.js';
import { MemorySource } from '../io/sources.js';
import { runPipeline, type Mode } from '../pipeline/engine.js';
import { bounce, open, seal } from '../stream-api.js';

export interface CompareRow {
  /** Shown name: "native vaes512", "node:crypto", "noble", "plain copy". */
  backend: string;
  kernel: string | null;
  op: 'seal' | 'open' | 'copy';
  threads: number;
  /** Plaintext bytes per timed run. */
  bytes: number;
  gbps: number;
  /** Relative to plain copy at the same thread count. */
  vsCopy: number;
}

export interface CompareOptions {
  /** Plaintext bytes per run for native and node:crypto (noble uses 1/32 of it). */
  bytes?: number;
  threads?: number;
  runs?: number;
  log?: (line: string) => void;
}

const SLOT = 4 * 1024 * 1024;

function shared(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(n));
}

/** One pipeline run over `input`; a sink that keeps nothing, or copies into `out`. */
async function pass(mode: Mode, backend: Backend, threads: number, key: Uint8Array, input: Uint8Array,
  out: Uint8Array | null): Promise<number> {
  const t0 = performance.now();
  await runPipeline(mode, mode === 'copy' ? null : { key }, new MemorySource(input), {
    write(view, offset) {
      if (out) out.set(view, offset);
    },
  }, { backend, threads, slotBytes: SLOT, inflight: Math.max(4, threads * 2) });
  return (performance.now() - t0) / 1000;
}

async function best(runs: number, f: () => Promise<number>): Promise<number> {
  await f(); // warm-up: workers started, slots faulted in
  let s = Infinity;
  for (let i = 0; i < runs; i++) s = Math.min(s, await f());
  return s;
}

interface Contender {
  backend: string;
  kernel: string | null;
  impl: Backend;
  scale: number;
}

function contenders(): Contender[] {
  const out: Contender[] = [];
  for (const k of supportedKernels()) out.push({ backend: `native ${k}`, kernel: k, impl: nativeBackend(k), scale: 1 });
  out.push({ backend: 'node:crypto', kernel: null, impl: getBackend('node'), scale: 1 });
  out.push({ backend: 'noble', kernel: null, impl: getBackend('noble'), scale: 1 / 32 });
  return out;
}

/** Seals a sample with `impl` and opens it with node:crypto (and the reverse): they must agree. */
function crossCheck(impl: Backend, key: Uint8Array, sample: Uint8Array): void {
  const node = getBackend('node');
  const a = openInline(key, sealInline(key, sample, { backend: impl }), { backend: node });
  const b = openInline(key, sealInline(key, sample, { backend: node }), { backend: impl });
  if (!Buffer.from(a).equals(sample) || !Buffer.from(b).equals(sample)) {
    throw new Error(`${impl.name}${impl.kernel ? ` ${impl.kernel}` : ''}: output differs from node:crypto; not timing it`);
  }
}

/** Per-core rates of the paths users take, for "cores for 64 GB/s" (GB/s of plaintext, one thread). */
export interface PerCore {
  /** seal + open of an ordinary (non-shared) Buffer into reused outputs, the slower of the two. */
  ordinaryBuffer: number;
  /** bounce('open') of the sealed model file, already in the page cache. */
  pageCachedFile: number;
}

/** One thread over an ordinary Buffer of `bytes` and over the sealed file at `sealedPath`. */
export async function perCoreRates(sealedPath: string, key: Uint8Array, bytes: number, plaintextBytes: number,
  runs = 2): Promise<PerCore> {
  const pt = Buffer.alloc(bytes);
  randomFillSync(pt);
  const sealedOut = new Uint8Array(sealedLength(bytes));
  const back = new Uint8Array(bytes);
  const sealS = await best(runs, async () => { const t0 = performance.now(); await seal(key, pt, { threads: 1, into: sealedOut }); return (performance.now() - t0) / 1000; });
  const openS = await best(runs, async () => { const t0 = performance.now(); await open(key, sealedOut, { threads: 1, into: back }); return (performance.now() - t0) / 1000; });
  const fileS = await best(runs, async () => (await bounce(sealedPath, key, { mode: 'open', threads: 1, onSlot: () => {} })).seconds);
  return { ordinaryBuffer: bytes / Math.max(sealS, openS) / 1e9, pageCachedFile: plaintextBytes / fileS / 1e9 };
}

export async function runComparison(opts: CompareOptions = {}): Promise<CompareRow[]> {
  const bytes = Math.max(SLOT * 4, Math.floor((opts.bytes ?? 512 * 2 ** 20) / SLOT) * SLOT);
  const all = opts.threads ?? availableParallelism();
  const runs = opts.runs ?? 3;
  const log = opts.log ?? (() => {});
  const key = randomFillSync(new Uint8Array(32));
  const plain = randomFillSync(shared(bytes));
  const sealed = shared(sealedLength(bytes));
  const sample = plain.subarray(0, 3 * 16384 + 5);
  const threadCounts = all > 1 ? [1, all] : [1];
  const rows: CompareRow[] = [];
  const copyAt = new Map<number, number>();
  // The bound: the same pipeline with the best memcpy here, the addon's (glibc's, on its own
  // threads, in 16 KiB pieces) when it loads. Through piscina workers a 4 MiB memcpy paid a
  // message round trip per slot, so the old copy row ran slower at 2 threads than at 1.
  const copyImpl = supportedKernels().length > 0 ? nativeBackend() : getBackend('node');
  for (const threads of threadCounts) {
    const s = await best(runs, () => pass('copy', copyImpl, threads, key, plain, null));
    copyAt.set(threads, bytes / s / 1e9);
    rows.push({ backend: 'plain copy', kernel: null, op: 'copy', threads, bytes, gbps: bytes / s / 1e9, vsCopy: 1 });
    log(`  plain copy        ${String(threads).padStart(2)} thread${threads === 1 ? ' ' : 's'}  ${(bytes / s / 1e9).toFixed(2)} GB/s`);
  }
  for (const c of contenders()) {
    crossCheck(c.impl, key, sample);
    const n = Math.max(SLOT * 2, Math.floor((bytes * c.scale) / SLOT) * SLOT);
    const input = plain.subarray(0, n);
    // The sealed form of this input, made once by this backend, is what open reads.
    const sealedN = sealed.subarray(0, sealedLength(n));
    await pass('seal', c.impl, all, key, input, sealedN);
    for (const threads of threadCounts) {
      for (const op of ['seal', 'open'] as const) {
        const s = await best(c.scale < 1 ? 1 : runs,
          () => pass(op, c.impl, threads, key, op === 'seal' ? input : sealedN, null));
        const gbps = n / s / 1e9;
        rows.push({ backend: c.backend, kernel: c.kernel, op, threads, bytes: n, gbps, vsCopy: gbps / copyAt.get(threads)! });
        log(`  ${c.backend.padEnd(17)} ${String(threads).padStart(2)} thread${threads === 1 ? ' ' : 's'}  ${op}  ${gbps.toFixed(gbps >= 1 ? 2 : 3)} GB/s`);
      }
    }
  }
  return rows;
}
