/**
 * The inputs users pass, at 1 thread and at every core, each against a baseline measured in
 * this same process:
 *
 * - ordinary: an ordinary (non-shared) Buffer through seal/open (into a reused output, and
 *   into a fresh one) and bounce, against one memcpy of the same bytes (the addon's, glibc)
 *   and against the same pipeline doing copy.
 * - file: a sealed file already in the page cache through bounce('open') and
 *   SealedSafetensors.stream(), against the same pipeline doing plain read + copy (bounce's
 *   'copy' over the same file) and the plaintext file through stream() (plain reads); also
 *   stream() by a consumer that keeps every tensor (no memory to recycle), against the first
 *   touch of fresh memory.
 * - outputs: seal/open without `into` (recycled output memory, src/output-memory.ts) against
 *   the same call with the output cache off (fresh memory, as before it) and with `into`,
 *   1 GiB / 256 MiB / 4 MiB, in interleaved rounds so all three see the same machine.
 *
 *   node dist/bench/pipeline-inputs.js [--quick] [--dir DIR]   (also a phase of bench:pipeline)
 *
 * Each figure is the best of a few runs after a warm-up; ratios compare figures of this run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { addonStatus } from '../src/backend/addon.js';
import { getBackend } from '../src/backend/index.js';
import { generateModel } from '../src/demo/model.js';
import { FileSource, MemorySource } from '../src/io/sources.js';
import { bounce, open, plaintextSize, seal, sealFile, sealedSize, SealedSafetensors } from '../src/index.js';
import { runPipeline } from '../src/pipeline/engine.js';
import { bypassOutputCache, setOutputCacheLimit } from '../src/output-memory.js';
import { resolveTuning } from '../src/pipeline/options.js';
import { fmt } from './report.js';

const MiB = 2 ** 20;
const GB = 1e9;

export interface InputRow {
  phase: 'ordinary' | 'file' | 'outputs';
  what: string;
  threads: number;
  gbps: number;
  /** The baseline this row is held to, and the ratio against it (1.0 = as fast). */
  baseline: string;
  vsBaseline: number | null;
  /** Against the same row at 1 thread. */
  vsOneThread: number | null;
}

async function best(runs: number, f: () => Promise<unknown> | unknown): Promise<number> {
  await f();
  let s = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    s = Math.min(s, (performance.now() - t0) / 1000);
  }
  return s;
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function prefaulted(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4096) b[i] = 1;
  return b;
}

export async function ordinaryPhase(bytes: number, runs: number, log: (s: string) => void): Promise<InputRow[]> {
  const key = randomBytes(32);
  const all = availableParallelism();
  const threadCounts = all > 1 ? [1, all] : [1];
  const pt = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += 64 * MiB) randomBytes(Math.min(64 * MiB, bytes - at)).copy(pt, at);
  const sealedOut = prefaulted(sealedSize(bytes));
  const plainOut = prefaulted(bytes);
  await seal(key, pt, { into: sealedOut });
  const back = await open(key, sealedOut);
  if (!Buffer.from(back).equals(pt)) throw new Error('ordinary: round trip failed');
  const memcpy = addonStatus().addon?.memcpy ?? ((d: Uint8Array, s: Uint8Array) => d.set(s));
  const copySeconds = await best(runs, () => memcpy(plainOut, pt));
  const memcpyGbps = bytes / copySeconds / GB;
  log(`  ordinary ${bytes / MiB} MiB Buffer: memcpy ${fmt(memcpyGbps)} GB/s`);
  const rows: InputRow[] = [{ phase: 'ordinary', what: 'memcpy (one call)', threads: 1, gbps: memcpyGbps, baseline: '-',
    vsBaseline: null, vsOneThread: null }];
  const backend = getBackend();
  const cases: [string, (threads: number) => Promise<unknown>][] = [
    ['copy pipeline (bounce)', (threads) => runPipeline('copy', null, new MemorySource(pt), { write: () => {} },
      { ...resolveTuning({ threads }), backend })],
    ['seal into', (threads) => seal(key, pt, { threads, into: sealedOut })],
    ['open into', (threads) => open(key, sealedOut, { threads, into: plainOut })],
    ['seal, fresh output', (threads) => seal(key, pt, { threads })],
    ['bounce seal', (threads) => bounce(pt, key, { mode: 'seal', threads, onSlot: () => {} })],
    ['bounce open', (threads) => bounce(Buffer.from(sealedOut.buffer, sealedOut.byteOffset, sealedOut.length), key,
      { mode: 'open', threads, onSlot: () => {} })],
  ];
  for (const [what, f] of cases) {
    let one = 0;
    for (const threads of threadCounts) {
      const gbps = bytes / (await best(runs, () => f(threads))) / GB;
      if (threads === 1) one = gbps;
      rows.push({ phase: 'ordinary', what, threads, gbps, baseline: 'memcpy', vsBaseline: gbps / memcpyGbps,
        vsOneThread: threads === 1 ? null : gbps / one });
      log(`  ordinary ${what.padEnd(22)} threads ${String(threads).padStart(2)}  ${fmt(gbps)} GB/s  ` +
        `(${(gbps / memcpyGbps).toFixed(2)}x memcpy${threads === 1 ? '' : `, ${(gbps / one).toFixed(2)}x 1 thread`})`);
    }
  }
  return rows;
}

export async function filePhase(dir: string, bytes: number, runs: number, log: (s: string) => void): Promise<InputRow[]> {
  const key = randomBytes(32);
  const all = availableParallelism();
  const threadCounts = all > 1 ? [1, all] : [1];
  const work = await mkdtemp(join(dir, 'weightseal-inputs-'));
  try {
    const plain = join(work, 'model.safetensors');
    const sealed = join(work, 'model.safetensors.sealed');
    await generateModel(plain, bytes, () => {});
    await sealFile(plain, sealed, key);
    await readFile(sealed); // into the page cache
    await readFile(plain);
    const sealedBytes = (await stat(sealed)).size;
    const plainBytes = plaintextSize(sealedBytes);
    const rows: InputRow[] = [];
    const streamAll = async (path: string, k: Uint8Array | null, threads: number, keep = false) => {
      const m = await SealedSafetensors.open(path, k, { threads });
      const kept: Uint8Array[] = [];
      try {
        for await (const t of m.stream()) if (keep) kept.push(t.data);
      } finally {
        await m.close();
      }
      return kept.length;
    };
    // What a consumer keeping every tensor is bound by: writing fresh memory (page faults).
    const touchGbps = plainBytes / (await best(runs, () => new Uint8Array(plainBytes).fill(1))) / GB;
    rows.push({ phase: 'file', what: 'first touch of fresh memory (fill)', threads: 1, gbps: touchGbps, baseline: '-',
      vsBaseline: null, vsOneThread: null });
    log(`  file: first touch of ${plainBytes / MiB} MiB fresh memory ${fmt(touchGbps)} GB/s`);
    for (const threads of threadCounts) {
      const t = resolveTuning({ threads });
      const copyS = await best(runs, async () => {
        const src = await FileSource.open(sealed);
        try {
          await runPipeline('copy', null, src, { write: () => {} }, t);
        } finally {
          await src.close();
        }
      });
      const copyGbps = sealedBytes / copyS / GB;
      const plainStream = plainBytes / (await best(runs, () => streamAll(plain, null, threads))) / GB;
      const bounceOpen = plainBytes / (await best(runs, () => bounce(sealed, key, { mode: 'open', threads, onSlot: () => {} }))) / GB;
      const stream = plainBytes / (await best(runs, () => streamAll(sealed, key, threads))) / GB;
      // As in a fresh process: nothing cached from the runs before (their dropped tensors).
      const limit = setOutputCacheLimit(0);
      if (limit !== null) setOutputCacheLimit(limit);
      const k0 = performance.now();
      await streamAll(sealed, key, threads, true);
      const kept = plainBytes / ((performance.now() - k0) / 1000) / GB;
      const one = threads === 1 ? null : rows.filter((r) => r.threads === 1);
      const vs1 = (what: string, g: number) => (one ? g / one.find((r) => r.what === what)!.gbps : null);
      rows.push(
        { phase: 'file', what: 'read + copy pipeline', threads, gbps: copyGbps, baseline: '-', vsBaseline: null, vsOneThread: vs1('read + copy pipeline', copyGbps) },
        { phase: 'file', what: 'bounce open', threads, gbps: bounceOpen, baseline: 'read + copy pipeline', vsBaseline: bounceOpen / copyGbps, vsOneThread: vs1('bounce open', bounceOpen) },
        { phase: 'file', what: 'stream(), plaintext file', threads, gbps: plainStream, baseline: '-', vsBaseline: null, vsOneThread: vs1('stream(), plaintext file', plainStream) },
        { phase: 'file', what: 'stream(), sealed file', threads, gbps: stream, baseline: 'read + copy pipeline', vsBaseline: stream / copyGbps, vsOneThread: vs1('stream(), sealed file', stream) },
        { phase: 'file', what: 'stream(), sealed file, every tensor kept', threads, gbps: kept, baseline: 'first touch of fresh memory (fill)', vsBaseline: kept / touchGbps, vsOneThread: vs1('stream(), sealed file, every tensor kept', kept) },
      );
      log(`  file ${bytes / MiB} MiB, threads ${threads}: read+copy ${fmt(copyGbps)} GB/s, bounce open ${fmt(bounceOpen)} ` +
        `(${(bounceOpen / copyGbps).toFixed(2)}x), stream() sealed ${fmt(stream)} (${(stream / copyGbps).toFixed(2)}x), ` +
        `stream() plaintext ${fmt(plainStream)}, stream() sealed keeping every tensor ${fmt(kept)}`);
    }
    return rows;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * seal and open without `into` (the output cache), with the cache off (fresh memory every
 * call, as before the cache), and with `into`, interleaved round by round; each figure the
 * best of its rounds. Baseline: the same call with `into`.
 */
export async function outputsPhase(sizes: number[], rounds: number, log: (s: string) => void): Promise<InputRow[]> {
  const key = randomBytes(32);
  const rows: InputRow[] = [];
  for (const bytes of sizes) {
    const pt = Buffer.alloc(bytes);
    for (let at = 0; at < bytes; at += 64 * MiB) randomBytes(Math.min(64 * MiB, bytes - at)).copy(pt, at);
    const sealedOut = prefaulted(sealedSize(bytes));
    const plainOut = prefaulted(bytes);
    await seal(key, pt, { into: sealedOut });
    const variants: [string, 'seal' | 'open', 'cache' | 'off' | 'into'][] = [
      ['seal, fresh output', 'seal', 'cache'], ['seal, fresh output, cache off', 'seal', 'off'], ['seal into', 'seal', 'into'],
      ['open, fresh output', 'open', 'cache'], ['open, fresh output, cache off', 'open', 'off'], ['open into', 'open', 'into'],
    ];
    const bestS = new Map<string, number>();
    for (let r = 0; r < rounds + 1; r++) {
      for (const [what, op, how] of variants) {
        bypassOutputCache(how === 'off');
        const into = how === 'into' ? (op === 'seal' ? sealedOut : plainOut) : undefined;
        const t0 = performance.now();
        const out = op === 'seal' ? await seal(key, pt, { into }) : await open(key, sealedOut, { into });
        const s = (performance.now() - t0) / 1000;
        if (out.length !== (op === 'seal' ? sealedOut.length : bytes)) throw new Error(`outputs: ${what} length`);
        // Round 0 warms up (and fills the cache); the rest are measured.
        if (r > 0) bestS.set(what, Math.min(bestS.get(what) ?? Infinity, s));
        // Each call's garbage is collected before the next, outside the timing: otherwise freeing
        // one variant's 1 GiB output (munmap, TLB shootdowns) lands in the next one's figure. A
        // dropped output goes back to the cache then, as GC would do it in an application.
        collectGarbage();
        await new Promise((res) => setImmediate(res));
      }
    }
    bypassOutputCache(false);
    for (const [what, op] of variants) {
      const gbps = bytes / bestS.get(what)! / GB;
      const base = bytes / bestS.get(`${op} into`)! / GB;
      rows.push({ phase: 'outputs', what: `${what}, ${bytes / MiB} MiB`, threads: availableParallelism(), gbps,
        baseline: `${op} into`, vsBaseline: gbps / base, vsOneThread: null });
      log(`  outputs ${`${what}, ${bytes / MiB} MiB`.padEnd(36)} ${fmt(gbps)} GB/s (${(gbps / base).toFixed(2)}x into)`);
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const i = process.argv.indexOf('--dir');
  const dir = i > 0 ? process.argv[i + 1]! : tmpdir();
  const log = (s: string) => console.log(s);
  await ordinaryPhase(quick ? 256 * MiB : 1024 * MiB, quick ? 2 : 3, log);
  await outputsPhase(quick ? [4 * MiB, 256 * MiB] : [4 * MiB, 256 * MiB, 1024 * MiB], quick ? 3 : 5, log);
  await filePhase(dir, quick ? 256 * MiB : 2048 * MiB, quick ? 2 : 3, log);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
