/**
 * `weightseal demo` (`npm run demo`): the whole story on one machine in a few minutes.
 * Generates a synthetic bf16 model, seals it, verifies it, opens it back and checks SHA-256,
 * reads three tensors by name through random access, then compares backends and writes
 * bench-results/<date>.{json,md,svg}. Model files are removed at the end unless --keep.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open as fsOpen, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WeightsealError, invalidArg, ioError } from '../errors.js';
import { SealedSafetensors } from '../safetensors/index.js';
import { trackTemp, untrackTemp } from '../cli/cleanup.js';
import { transformFile } from '../cli/files.js';
import { bytesHuman } from '../cli/inspect.js';
import { progressBar } from '../cli/progress.js';
import type { CliIO } from '../cli/program.js';
import { perCoreRates, runComparison, type PerCore } from './compare.js';
import { supportedKernels } from '../backend/native.js';
import { generateModel } from './model.js';
import { remoteLoad } from './remote.js';
import { comparisonTable, coresTable, machine, stepsTable, writeReports, type DemoResults, type Step } from './report.js';

export interface DemoOptions {
  size?: string;
  dir?: string;
  out?: string;
  keep?: boolean;
  quick?: boolean;
  compareSize?: string;
  threads?: number;
  quiet?: boolean;
  json?: boolean;
}

export const MAX_DEMO_BYTES = 80 * 2 ** 30;

/** "2GiB", "500 MiB", "1.5G", "80GB" (decimal), or plain bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(text);
  if (!m) throw invalidArg(`--size must look like 2GiB, 500MiB or 80GiB, got "${text}"`);
  const exp = ['', 'k', 'm', 'g', 't'].indexOf(m[2]!.toLowerCase());
  // A bare K/M/G/T is binary (as in most tools); "GB" with a B and no i is decimal.
  const decimal = m[3] === '' && /b$/i.test(text.trim()) && exp > 0;
  const bytes = Math.round(Number(m[1]) * (decimal ? 1000 : 1024) ** exp);
  if (bytes < 2 ** 20) throw invalidArg(`--size must be at least 1 MiB, got ${text}`);
  if (bytes > MAX_DEMO_BYTES) throw invalidArg(`--size is at most 80 GiB, got ${text}`);
  return bytes;
}

async function sha256File(path: string, onProgress: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let n = 0;
  for await (const part of createReadStream(path, { highWaterMark: 8 * 2 ** 20 })) {
    hash.update(part as Buffer);
    n += (part as Buffer).length;
    onProgress(n);
  }
  return hash.digest('hex');
}

export async function checkFreeSpace(dir: string, need: number): Promise<void> {
  let free: number;
  try {
    const s = await statfs(dir);
    free = s.bavail * s.bsize;
  } catch (e) {
    throw ioError('check free space in', dir, e);
  }
  if (free < need) {
    throw new WeightsealError('ERR_IO', `${dir} has ${bytesHuman(free)} free but the demo needs ${bytesHuman(need)} ` +
      '(plaintext, sealed and opened copies of the model); pass a smaller --size or another --dir', { path: dir });
  }
}

export async function runDemo(o: DemoOptions, io: CliIO): Promise<DemoResults> {
  const size = parseSize(o.size ?? '2GiB');
  if (o.compareSize) parseSize(o.compareSize);
  const say = (line: string) => { if (!o.quiet && !o.json) io.out(line); };
  const bars = !o.quiet && !o.json;
  const parent = resolve(o.dir ?? tmpdir());
  await mkdir(parent, { recursive: true }).catch((e: unknown) => { throw ioError('create', parent, e); });
  // Three copies on disk at the peak, plus slack for the headers and tags.
  await checkFreeSpace(parent, 3 * size + 64 * 2 ** 20);
  const work = await mkdtemp(join(parent, 'weightseal-demo-'));
  if (!o.keep) trackTemp(work);
  const paths = {
    model: join(work, 'model.safetensors'),
    sealed: join(work, 'model.safetensors.sealed'),
    opened: join(work, 'model.opened.safetensors'),
    key: join(work, 'demo.key'),
  };
  const steps: Step[] = [];
  const key = new Uint8Array(randomBytes(32));
  try {
    say(`weightseal demo: ${bytesHuman(size)} synthetic model in ${work}`);
    if (o.keep) await writeFile(paths.key, key, { mode: 0o600 });

    let bar = progressBar('generate', size, bars);
    const model = await generateModel(paths.model, size, (d) => bar.update(d));
    bar.stop();
    steps.push({ step: 'generate model', seconds: model.seconds, bytes: model.bytes,
      detail: `${model.tensors} bf16 tensors, ${model.config.layers} layers, hidden ${model.config.hidden}` });
    say(`  generated ${bytesHuman(model.bytes)}: ${steps.at(-1)!.detail}`);

    const fileOpts = { progress: bars, ...(o.threads ? { threads: o.threads } : {}) };
    const sealed = await transformFile('seal', paths.model, paths.sealed, key, fileOpts);
    steps.push({ step: 'seal', seconds: sealed.seconds, bytes: sealed.bytesIn, detail: `${bytesHuman(sealed.bytesOut)} sealed` });
    say(`  sealed:   ${sealed.gbps.toFixed(2)} GB/s`);

    const verified = await transformFile('open', paths.sealed, null, key, fileOpts);
    steps.push({ step: 'verify', seconds: verified.seconds, bytes: verified.bytesIn, detail: 'every chunk authenticated' });
    say(`  verified: ${verified.gbps.toFixed(2)} GB/s, every chunk authenticated`);

    const opened = await transformFile('open', paths.sealed, paths.opened, key, fileOpts);
    steps.push({ step: 'open', seconds: opened.seconds, bytes: opened.bytesIn, detail: `${bytesHuman(opened.bytesOut)} plaintext` });
    const t0 = performance.now();
    bar = progressBar('sha-256', opened.bytesOut, bars);
    const digest = await sha256File(paths.opened, (n) => bar.update(n));
    bar.stop();
    if (digest !== model.sha256) {
      throw new WeightsealError('ERR_AUTH_FAILED', `SHA-256 of the opened model ${digest} differs from the original ${model.sha256}`);
    }
    steps.push({ step: 'SHA-256 check', seconds: (performance.now() - t0) / 1000, bytes: opened.bytesOut, detail: 'matches the original' });
    say(`  opened:   ${opened.gbps.toFixed(2)} GB/s; SHA-256 matches (${digest.slice(0, 16)}...)`);
    await rm(paths.opened, { force: true });

    steps.push(await randomAccess(paths, key, say));
    steps.push(...await remoteLoad(paths.sealed, key, say));

    // Per-core rates of the paths users take (the sealed file is in the page cache by now).
    let perCore: PerCore | undefined;
    if (supportedKernels().length > 0) {
      perCore = await perCoreRates(paths.sealed, key, o.quick ? 64 * 2 ** 20 : 256 * 2 ** 20, model.bytes);
      say(`  one core: ordinary Buffer ${perCore.ordinaryBuffer.toFixed(2)} GB/s, page-cached file ` +
        `${perCore.pageCachedFile.toFixed(2)} GB/s`);
    }

    say(`\ncomparing backends (in-memory pipeline, 1 thread and all cores)...`);
    const comparison = await runComparison({
      bytes: o.compareSize ? parseSize(o.compareSize) : o.quick ? 128 * 2 ** 20 : 512 * 2 ** 20,
      runs: o.quick ? 2 : 3,
      ...(o.threads ? { threads: o.threads } : {}),
      log: (l) => say(l),
    });
    const results: DemoResults = {
      date: new Date().toISOString().replace(/:/g, '-').replace(/\..*/, ''),
      machine: machine(),
      model: { bytes: model.bytes, tensors: model.tensors, config: model.config, sha256: model.sha256 },
      steps,
      comparison,
      ...(perCore ? { perCore } : {}),
    };
    const files = await writeReports(resolve(o.out ?? 'bench-results'), results);
    if (o.json) io.out(JSON.stringify({ ok: true, ...results, files }, null, 2));
    say(`\n${stepsTable(steps)}\n\n${comparisonTable(comparison)}\n\n${coresTable(comparison, perCore)}\n`);
    say(`wrote ${files.json}\n      ${files.md}\n      ${files.svg}`);
    say(o.keep ? `kept the model files in ${work} (key: ${paths.key})` : 'removed the model files (pass --keep to keep them)');
    return results;
  } finally {
    key.fill(0);
    if (!o.keep) {
      await rm(work, { recursive: true, force: true });
      untrackTemp(work);
    }
  }
}

/** Three tensors by name from the sealed file, each checked against the plaintext file. */
async function randomAccess(paths: { model: string; sealed: string }, key: Uint8Array,
  say: (l: string) => void): Promise<Step> {
  const t0 = performance.now();
  const m = await SealedSafetensors.open(paths.sealed, key);
  const plain = await fsOpen(paths.model, 'r');
  let bytes = 0;
  try {
    const names = m.tensors().map((t) => t.name);
    const layers = names.filter((n) => n.endsWith('.mlp.down_proj.weight'));
    const pick = ['model.embed_tokens.weight', layers[Math.floor(layers.length / 2)] ?? names[1]!, 'lm_head.weight'];
    for (const name of pick) {
      const t = m.tensor(name);
      const got = await m.read(name);
      const want = new Uint8Array(t.byteLength);
      await plain.read(want, 0, t.byteLength, t.byteOffset);
      if (!Buffer.from(got).equals(want)) {
        throw new WeightsealError('ERR_AUTH_FAILED', `tensor ${name} read through random access differs from the plaintext`);
      }
      bytes += t.byteLength;
      say(`  read ${name} [${t.shape.join(', ')}] ${t.dtype} by name: ${bytesHuman(t.byteLength)}, matches the plaintext`);
    }
  } finally {
    await plain.close();
    await m.close();
  }
  return { step: 'random access (3 tensors)', seconds: (performance.now() - t0) / 1000, bytes,
    detail: 'embed, a middle down_proj, lm_head match' };
}
