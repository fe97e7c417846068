/**
 * One benchmark operation in a process of its own, so its peak RSS is its own and not the
 * parent's buffers and ring caches: prints { seconds, peakRssMiB, backend } as JSON.
 *
 *   node dist/bench/pipeline-child.js file OP SRC DST THREADS KEYHEX      (OP: copy, fs.copyFile, seal, open)
 *   node dist/bench/pipeline-child.js stream OP BYTES THREADS             (OP: seal, seal+open)
 *
 * "stream" runs BYTES of plaintext from one 48 MiB repeating shared buffer through the
 * pipeline into bounce slots: seal alone, or seal piped into open (the only way to open a
 * message of 16 GiB without holding it, since sealed bytes depend on the chunk index).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, open as fsOpen } from 'node:fs/promises';
import { getBackend, type Backend } from '../src/backend/index.js';
import { transformFile } from '../src/io/files.js';
import { runPipeline, type Keys, type Sink, type Tuning } from '../src/pipeline/engine.js';
import { DEFAULT_SLOT_BYTES, defaultInflight } from '../src/pipeline/options.js';
import { closePool } from '../src/pipeline/pool.js';
import { Pipe, RepeatingSource, repeatingBuffer } from './stream-sources.js';

const MiB = 2 ** 20;
/**
 * The repeating source: larger than this machine's 32 MiB L3, as real weights are. (Speed is
 * the same from 16 to 64 MiB here; 48 MiB keeps the seal+open row's footprint down.)
 */
export const SOURCE_PERIOD = 48 * MiB;

export const discard: Sink = { write: () => undefined };

export function tuning(backend: Backend, threads: number): Tuning {
  return { backend, threads, slotBytes: DEFAULT_SLOT_BYTES, inflight: defaultInflight(threads, DEFAULT_SLOT_BYTES) };
}

/** The kernel's high-water mark of this process's resident memory (exact, unlike sampling). */
function vmHwmMiB(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Peak RSS while `fn` runs: the process's high-water mark where Linux reports it, else sampled
 * every 10 ms. (getrusage's maxRSS would not do: Linux carries it across fork/exec.)
 */
export async function withPeakRss<T>(fn: () => Promise<T>, own = false): Promise<{ value: T; peakRssMiB: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    const hwm = own ? vmHwmMiB() : null;
    return { value, peakRssMiB: Math.max(peak / MiB, hwm ?? 0) };
  } finally {
    clearInterval(timer);
  }
}

async function fileOp(op: string, src: string, dst: string, backend: Backend, threads: number, keys: Keys): Promise<void> {
  if (op === 'fs.copyFile') {
    await copyFile(src, dst);
    const fh = await fsOpen(dst, 'r+'); // durable like the pipeline's output
    await fh.sync();
    await fh.close();
  } else {
    await transformFile(op as 'copy' | 'seal' | 'open', src, dst, op === 'copy' ? null : keys, tuning(backend, threads), true);
  }
}

async function streamOp(op: string, bytes: number, backend: Backend, threads: number, keys: Keys,
  buf: Uint8Array): Promise<void> {
  const source = new RepeatingSource(buf, SOURCE_PERIOD, bytes);
  const t = tuning(backend, threads);
  if (op === 'seal') {
    await runPipeline('seal', keys, source, discard, t);
    return;
  }
  const pipe = new Pipe();
  const opened = runPipeline('open', keys, pipe, discard, t);
  const sealed = runPipeline('seal', keys, source, pipe, t).then(() => pipe.end());
  opened.catch((e: unknown) => pipe.fail(e));
  sealed.catch((e: unknown) => pipe.fail(e));
  const [totals] = await Promise.all([opened, sealed]);
  if (totals.bytesOut !== bytes) throw new Error(`seal+open delivered ${totals.bytesOut} of ${bytes} bytes`);
}

async function main(): Promise<void> {
  const [kind, op, ...args] = process.argv.slice(2);
  const backend = getBackend();
  let keys: Keys = { key: randomBytes(32), suite: 'cobblestone-256' };
  let run: () => Promise<void>;
  if (kind === 'file') {
    const [src, dst, threads, keyHex] = args;
    keys = { key: Buffer.from(keyHex!, 'hex'), suite: 'cobblestone-256' };
    run = () => fileOp(op!, src!, dst!, backend, Number(threads), keys);
  } else if (kind === 'stream') {
    const [bytes, threads] = args;
    const buf = repeatingBuffer(SOURCE_PERIOD, DEFAULT_SLOT_BYTES);
    run = () => streamOp(op!, Number(bytes), backend, Number(threads), keys, buf);
  } else {
    throw new Error(`pipeline-child: unknown kind ${kind}`);
  }
  const { value: seconds, peakRssMiB } = await withPeakRss(async () => {
    const t0 = performance.now();
    await run();
    return (performance.now() - t0) / 1000;
  }, true);
  await closePool();
  process.stdout.write(JSON.stringify({ seconds, peakRssMiB,
    backend: backend.kernel ? `native/${backend.kernel}` : backend.name }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
