/**
 * How does the pipeline scale? In memory: a reused SharedArrayBuffer source streamed into
 * bounce slots (the consumer does nothing), as a plain copy (the same pipeline with memcpy in
 * place of the cipher), seal and open, for threads 1..available, native and noble (noble on a
 * much smaller size). Files: sealFile/openFile of a 2 GiB file against a plain read-write
 * copy through the same pipeline, and fs.copyFile, each in a child process so its peak RSS is its own.
 *
 *   npm run bench:pipeline [-- --json FILE] [--quick] [--no-markdown] [--dir DIR]
 *
 * Every figure comes from this run; ratios compare rows of this run only (STYLE habit 9).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, open as fsOpen, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getBackend, type Backend } from '../src/backend/index.js';
import { CHUNK_BYTES, SEALED_CHUNK_BYTES, sealedLength } from '../src/cobblestone.js';
import { TEST_SALT, sealInline } from '../src/format.js';
import { transformFile } from '../src/io/files.js';
import { MemorySource } from '../src/io/sources.js';
import { runPipeline, type Keys, type Mode, type Sink, type Tuning } from '../src/pipeline/engine.js';
import { DEFAULT_SLOT_BYTES, defaultInflight } from '../src/pipeline/options.js';
import { closePool } from '../src/pipeline/pool.js';
import { GB, fmt, machineLine, markdownTable, parseFlags, table, writeBenchmarksSection, writeJson } from './report.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export interface PipelineRow {
  phase: 'memory' | 'file';
  backend: string;
  op: 'copy' | 'seal' | 'open' | 'fs.copyFile';
  threads: number;
  /** Plaintext bytes per second through the pipeline, in GB/s (1e9). */
  gbps: number;
  bytes: number;
  seconds: number;
  /** Against the plain-copy pipeline at the same thread count (same phase). */
  vsCopy: number | null;
  perCoreGbps: number;
  /** Peak RSS of the process while this row ran, MiB (sampled every 10 ms). */
  peakRssMiB: number;
}

/**
 * Peak RSS while `fn` runs, sampled every 10 ms. (getrusage's maxRSS would do, but Linux
 * carries it across fork/exec, so a child would report its parent's peak.)
 */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakRssMiB: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, peakRssMiB: peak / MiB };
  } finally {
    clearInterval(timer);
  }
}

function sharedFill(n: number): Uint8Array {
  const b = new Uint8Array(new SharedArrayBuffer(n));
  const seed = randomBytes(MiB);
  for (let at = 0; at < n; at += seed.length) b.set(seed.subarray(0, Math.min(seed.length, n - at)), at);
  return b;
}

/** The bounce consumer of the benchmark: takes each slot and does nothing with it. */
const discard: Sink = { write: () => undefined };

function tuning(backend: Backend, threads: number): Tuning {
  return { backend, threads, slotBytes: DEFAULT_SLOT_BYTES, inflight: defaultInflight(threads, DEFAULT_SLOT_BYTES) };
}

async function timeRuns(mode: Mode, keys: Keys | null, input: Uint8Array, reps: number, t: Tuning): Promise<number> {
  await runPipeline(mode, keys, new MemorySource(input), discard, t); // warm: pool, ring cache
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await runPipeline(mode, keys, new MemorySource(input), discard, t);
  return (performance.now() - t0) / 1000;
}

/** Outputs must agree before anything is timed: the pipeline against the single-threaded format.ts. */
async function crossValidate(backend: Backend, keys: Keys, pt: Uint8Array, threads: number): Promise<void> {
  const sample = pt.subarray(0, Math.min(pt.length, 3 * DEFAULT_SLOT_BYTES + 12345));
  const salt = randomBytes(24);
  const want = sealInline(keys.key!, sample, { backend, [TEST_SALT]: salt });
  const parts: Uint8Array[] = [];
  const collect: Sink = { write: (v) => { parts.push(Uint8Array.from(v)); } };
  await runPipeline('seal', { ...keys, salt }, new MemorySource(sample), collect, tuning(backend, threads));
  if (!Buffer.concat(parts).equals(want)) throw new Error(`${backend.name}: pipeline seal differs from format.ts`);
  parts.length = 0;
  await runPipeline('open', keys, new MemorySource(want), collect, tuning(backend, threads));
  if (!Buffer.concat(parts).equals(sample)) throw new Error(`${backend.name}: pipeline open did not round-trip`);
  parts.length = 0;
  await runPipeline('copy', null, new MemorySource(sample), collect, tuning(backend, threads));
  if (!Buffer.concat(parts).equals(sample)) throw new Error('copy pipeline did not copy');
}

/** One core, no pipeline: the batch call alone on a warm 4 MiB slot (the kernel bench's figure). */
function kernelOneCore(backend: Backend, op: 'seal' | 'open', seconds: number): number {
  const n = DEFAULT_SLOT_BYTES / CHUNK_BYTES;
  const pt = new Uint8Array(DEFAULT_SLOT_BYTES).fill(7);
  const sealed = new Uint8Array(n * SEALED_CHUNK_BYTES);
  const out = new Uint8Array(DEFAULT_SLOT_BYTES);
  const gk = backend.importKey(randomBytes(32));
  const nonce = randomBytes(12);
  gk.sealChunks(nonce, 0, pt, CHUNK_BYTES, n, sealed);
  let bytes = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    if (op === 'seal') gk.sealChunks(nonce, 0, pt, CHUNK_BYTES, n, sealed);
    else if (gk.openChunks(nonce, 0, sealed, CHUNK_BYTES, n, out) >= 0) throw new Error('kernel open failed');
    bytes += DEFAULT_SLOT_BYTES;
  }
  const s = (performance.now() - t0) / 1000;
  gk.destroy();
  return bytes / s / GB;
}

async function memoryPhase(backend: Backend, total: number, message: number, maxThreads: number,
  log: (s: string) => void): Promise<PipelineRow[]> {
  const keys: Keys = { key: randomBytes(32), suite: 'cobblestone-256' };
  const pt = sharedFill(message);
  const sealed = new Uint8Array(new SharedArrayBuffer(sealedLength(message)));
  let at = 0;
  await runPipeline('seal', keys, new MemorySource(pt), { write: (v) => { sealed.set(v, at); at += v.length; } },
    tuning(backend, maxThreads));
  const reps = Math.max(1, Math.round(total / message));
  const rows: PipelineRow[] = [];
  for (let threads = 1; threads <= maxThreads; threads++) {
    await crossValidate(backend, keys, pt, threads);
    const t = tuning(backend, threads);
    const bytes = reps * message;
    let copyGbps = 0;
    for (const op of ['copy', 'seal', 'open'] as const) {
      const { value: s, peakRssMiB } = await withPeakRss(() =>
        timeRuns(op, op === 'copy' ? null : keys, op === 'open' ? sealed : pt, reps, t));
      const gbps = bytes / s / GB;
      if (op === 'copy') copyGbps = gbps;
      const row: PipelineRow = { phase: 'memory', backend: backend.kernel ? `native/${backend.kernel}` : backend.name,
        op, threads, gbps, bytes, seconds: s, vsCopy: op === 'copy' ? null : gbps / copyGbps,
        perCoreGbps: gbps / threads, peakRssMiB };
      log(`  ${row.backend.padEnd(16)} ${op.padEnd(5)} threads ${String(threads).padStart(2)}  ${fmt(gbps)} GB/s` +
        (row.vsCopy === null ? '' : `  (${row.vsCopy.toFixed(2)}x copy)`));
      rows.push(row);
    }
  }
  return rows;
}

type FileOp = 'copy' | 'fs.copyFile' | 'seal' | 'open';

/**
 * One file operation in its own process (`--file-op OP SRC DST THREADS KEYHEX`), so its peak
 * RSS is the operation's own: prints { seconds, peakRssMiB }.
 */
async function fileOpChild(op: FileOp, src: string, dst: string, threads: number, keyHex: string): Promise<void> {
  const backend = getBackend();
  const keys: Keys = { key: Buffer.from(keyHex, 'hex'), suite: 'cobblestone-256' };
  const { value: seconds, peakRssMiB } = await withPeakRss(async () => {
    const t0 = performance.now();
    if (op === 'fs.copyFile') {
      await copyFile(src, dst);
      const fh = await fsOpen(dst, 'r+'); // durable like the pipeline's output
      await fh.sync();
      await fh.close();
    }
    else await transformFile(op, src, dst, op === 'copy' ? null : keys, tuning(backend, threads), true);
    return (performance.now() - t0) / 1000;
  });
  await closePool();
  process.stdout.write(JSON.stringify({ seconds, peakRssMiB,
    backend: backend.kernel ? `native/${backend.kernel}` : backend.name }));
}

async function filePhase(dir: string, size: number, threads: number, log: (s: string) => void): Promise<PipelineRow[]> {
  const src = join(dir, 'plain.bin');
  const fh = await fsOpen(src, 'w');
  const piece = randomBytes(16 * MiB);
  for (let at = 0; at < size; at += piece.length) await fh.write(piece, 0, Math.min(piece.length, size - at), at);
  await fh.sync();
  await fh.close();
  const keyHex = randomBytes(32).toString('hex');
  const run = (op: FileOp, from: string, to: string) => JSON.parse(execFileSync(process.execPath,
    [fileURLToPath(import.meta.url), '--file-op', op, from, to, String(threads), keyHex],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as { seconds: number; peakRssMiB: number; backend: string };
  run('copy', src, join(dir, 'warm.bin')); // the page cache and the disk settle once, for every row alike
  const rows: PipelineRow[] = [];
  let copyGbps = 0;
  for (const [op, from, to] of [['copy', src, 'copy.bin'], ['fs.copyFile', src, 'fscopy.bin'],
    ['seal', src, 'sealed.bin'], ['open', join(dir, 'sealed.bin'), 'opened.bin']] as const) {
    const r = run(op, from, join(dir, to));
    const gbps = size / r.seconds / GB;
    if (op === 'copy') copyGbps = gbps;
    rows.push({ phase: 'file', backend: op === 'fs.copyFile' ? 'node:fs' : r.backend, op, threads: op === 'fs.copyFile' ? 1 : threads,
      gbps, bytes: size, seconds: r.seconds, vsCopy: op === 'copy' ? null : gbps / copyGbps,
      perCoreGbps: gbps / (op === 'fs.copyFile' ? 1 : threads), peakRssMiB: r.peakRssMiB });
    log(`  file ${op.padEnd(11)} ${fmt(gbps)} GB/s, peak RSS ${r.peakRssMiB.toFixed(0)} MiB`);
  }
  return rows;
}

function coresNeeded(perCore: number, target: number): string {
  return perCore > 0 ? String(Math.ceil(target / perCore)) : '-';
}

function report(rows: PipelineRow[], kernel: Record<string, number>): { text: string; markdown: string } {
  const header = ['phase', 'backend', 'op', 'threads', 'GB/s', 'vs copy', 'GB/s/core', 'peak RSS MiB'];
  const body = rows.map((r) => [r.phase, r.backend, r.op, r.threads, fmt(r.gbps), r.vsCopy === null ? '-' : `${r.vsCopy.toFixed(2)}x`,
    fmt(r.perCoreGbps), r.peakRssMiB.toFixed(0)]);
  const cores: (string | number)[][] = [];
  for (const r of rows.filter((x) => x.phase === 'memory' && x.op !== 'copy')) {
    const maxT = Math.max(...rows.filter((x) => x.backend === r.backend && x.phase === 'memory').map((x) => x.threads));
    if (r.threads !== 1 && r.threads !== maxT) continue;
    const k = kernel[`${r.backend} ${r.op}`];
    cores.push([r.backend, r.op, r.threads, fmt(r.perCoreGbps), coresNeeded(r.perCoreGbps, 50), coresNeeded(r.perCoreGbps, 64),
      r.threads === 1 && k ? `${(r.gbps / k).toFixed(2)}x of ${fmt(k)}` : '-']);
  }
  const ch = ['backend', 'op', 'threads', 'GB/s per core', 'cores for 50 GB/s', 'cores for 64 GB/s', 'vs batch call alone (1 core)'];
  const text = `${table(header, body)}\n\n${table(ch, cores)}`;
  const markdown = `## Pipeline\n\n${machineLine()}; ${new Date().toISOString()}. In memory: a reused ` +
    'SharedArrayBuffer source (read in place by the workers) into bounce slots whose consumer does nothing; ' +
    '"copy" is the same pipeline with memcpy in place of the cipher; peak RSS there includes the source and ' +
    'sealed buffers (2 x the message size). Files: file to file through a temporary file, fsynced, against the ' +
    'copy pipeline and fs.copyFile (+ fsync), each operation in its own process (its own peak RSS). ' +
    'Slots of 4 MiB, default inflight (2 x threads + 2, within 128 MiB of slots). GB/s = 1e9 bytes of plaintext per second.\n\n' +
    `${markdownTable(header, body)}\n\n${markdownTable(ch, cores)}\n`;
  return { text, markdown };
}

function flagValue(rest: string[], name: string): string | null {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] ?? null : null;
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const child = flags.rest.indexOf('--file-op');
  if (child >= 0) {
    const [op, src, dst, threads, keyHex] = flags.rest.slice(child + 1);
    await fileOpChild(op as FileOp, src!, dst!, Number(threads), keyHex!);
    return;
  }
  const log = (s: string) => console.error(s);
  const maxThreads = availableParallelism();
  console.log(`weightseal pipeline bench: ${machineLine()}${flags.quick ? ' (quick)' : ''}`);
  const rows: PipelineRow[] = [];
  const kernel: Record<string, number> = {};
  const backends: [Backend, number, number][] = [];
  try {
    backends.push([getBackend('native'), flags.quick ? 256 * MiB : 4 * GiB, flags.quick ? 64 * MiB : GiB]);
  } catch (e) {
    log(`native backend unavailable, skipped: ${(e as Error).message}`);
  }
  // noble is ~100x slower: a much smaller stream, same shape.
  backends.push([getBackend('noble'), flags.quick ? 8 * MiB : 64 * MiB, flags.quick ? 8 * MiB : 64 * MiB]);
  for (const [backend, total, message] of backends) {
    const label = backend.kernel ? `native/${backend.kernel}` : backend.name;
    for (const op of ['seal', 'open'] as const) kernel[`${label} ${op}`] = kernelOneCore(backend, op, flags.quick ? 0.3 : 1.5);
    log(`${label}: batch call alone ${fmt(kernel[`${label} seal`]!)} / ${fmt(kernel[`${label} open`]!)} GB/s (seal/open)`);
    rows.push(...await memoryPhase(backend, total, message, maxThreads, log));
  }
  await closePool();

  const fileBytes = flags.quick ? 128 * MiB : 2 * GiB;
  const dir = await mkdtemp(join(flagValue(flags.rest, '--dir') ?? tmpdir(), 'weightseal-bench-'));
  try {
    log(`files: ${fileBytes / MiB} MiB in ${dir}, threads ${maxThreads}`);
    rows.push(...await filePhase(dir, fileBytes, maxThreads, log));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const { text, markdown } = report(rows, kernel);
  console.log(`\n${text}`);
  if (flags.json) writeJson(flags.json, { machine: machineLine(), kernelOneCore: kernel, rows });
  if (!flags.quick && !flags.noMarkdown) console.log(`\nwrote ${writeBenchmarksSection('pipeline', markdown)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
