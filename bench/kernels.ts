/**
 * How fast is one core? Single-threaded AES-GCM: each native kernel against OpenSSL's EVP
 * (the OpenSSL inside this node binary, called from the addon with no allocation),
 * node:crypto, @noble/ciphers, the CTR-only ceiling of the fastest kernel, and memcpy.
 *
 *   npm run bench:kernels [-- --json FILE] [--quick] [--write-docs]
 *
 * Every figure is from this run; ratios compare rows of this run only (STYLE habit 9).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { Bench } from 'tinybench';
import { addonStatus } from '../src/backend/addon.js';
import { chunkNonce } from '../src/backend/chunks.js';
import { nativeBackend, supportedKernels, type NativeGcmKey } from '../src/backend/native.js';
import {
  mayWriteDocs,
  GB, fmt, machineLine, markdownTable, parseFlags, ratio, table, writeBenchmarksSection, writeJson,
} from './report.js';

export interface KernelRow {
  name: string;
  kernel: string | null;
  keyBits: number;
  op: 'seal' | 'open' | 'ctr' | 'copy';
  chunkBytes: number;
  gbps: number;
}

const CHUNK = 16384;
const BATCH = 4 * 1024 * 1024;
const MESSAGE = 1024 * 1024;
const TAG = 16;
const N_CHUNKS = BATCH / CHUNK;

interface Case {
  row: Omit<KernelRow, 'gbps'>;
  bytes: number; // plaintext bytes per call of fn
  totalBytes: number;
  fn: () => void;
}

/** Sealing a 4 MiB run one chunk at a time with node:crypto: the check every kernel must pass. */
function referenceBatch(key: Uint8Array, base: Uint8Array, pt: Uint8Array): Buffer {
  const nonce = new Uint8Array(12);
  const parts: Buffer[] = [];
  for (let i = 0; i < N_CHUNKS; i++) {
    const c = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, chunkNonce(base, i, nonce));
    parts.push(c.update(pt.subarray(i * CHUNK, (i + 1) * CHUNK)), c.final(), c.getAuthTag());
  }
  return Buffer.concat(parts);
}

function nativeCases(kernel: string, keyBits: number, pt: Uint8Array, target: number): Case[] {
  const key = randomBytes(keyBits / 8), base = randomBytes(12), iv = randomBytes(12);
  const gk = nativeBackend(kernel).importKey(key) as NativeGcmKey;
  const sealed = new Uint8Array(BATCH + N_CHUNKS * TAG);
  const opened = new Uint8Array(BATCH);
  gk.sealChunks(base, 0, pt, CHUNK, N_CHUNKS, sealed);
  if (!referenceBatch(key, base, pt).equals(sealed)) throw new Error(`${kernel}: output differs from node:crypto`);
  const msgSealed = new Uint8Array(MESSAGE + TAG);
  const msgOpened = new Uint8Array(MESSAGE);
  const msg = pt.subarray(0, MESSAGE);
  gk.seal(iv, new Uint8Array(0), msg, msgSealed);
  const row = { name: 'native', kernel, keyBits };
  return [
    { row: { ...row, op: 'seal', chunkBytes: CHUNK }, bytes: BATCH, totalBytes: target,
      fn: () => gk.sealChunks(base, 0, pt, CHUNK, N_CHUNKS, sealed) },
    { row: { ...row, op: 'open', chunkBytes: CHUNK }, bytes: BATCH, totalBytes: target,
      fn: () => { if (gk.openChunks(base, 0, sealed, CHUNK, N_CHUNKS, opened) !== -1) throw new Error('open failed'); } },
    { row: { ...row, op: 'seal', chunkBytes: MESSAGE }, bytes: MESSAGE, totalBytes: target,
      fn: () => gk.seal(iv, new Uint8Array(0), msg, msgSealed) },
    { row: { ...row, op: 'open', chunkBytes: MESSAGE }, bytes: MESSAGE, totalBytes: target,
      fn: () => { if (!gk.open(iv, new Uint8Array(0), msgSealed, msgOpened)) throw new Error('open failed'); } },
  ];
}

function ceilingCases(kernel: string, pt: Uint8Array, target: number): Case[] {
  const addon = addonStatus().addon!;
  const gk = nativeBackend(kernel).importKey(randomBytes(32)) as NativeGcmKey;
  const iv = randomBytes(12);
  const out = new Uint8Array(BATCH);
  const copy = new Uint8Array(BATCH);
  return [
    { row: { name: 'ctr-only', kernel, keyBits: 256, op: 'ctr', chunkBytes: BATCH }, bytes: BATCH, totalBytes: target,
      fn: () => gk.ctr(iv, pt, out) },
    { row: { name: 'memcpy', kernel: null, keyBits: 0, op: 'copy', chunkBytes: BATCH }, bytes: BATCH, totalBytes: target,
      fn: () => addon.memcpy(copy, pt) },
  ];
}

function opensslCases(keyBits: number, pt: Uint8Array, target: number): Case[] {
  const addon = addonStatus().addon!;
  const key = randomBytes(keyBits / 8), base = randomBytes(12), iv = randomBytes(12);
  const enc = new addon.OpensslGcm(key, true);
  const dec = new addon.OpensslGcm(key, false);
  const sealed = new Uint8Array(BATCH + N_CHUNKS * TAG);
  const opened = new Uint8Array(BATCH);
  // Nonces and views precomputed: the timed loop is only the EVP calls.
  const nonces = Array.from({ length: N_CHUNKS }, (_, i) => chunkNonce(base, i, new Uint8Array(12)));
  const ptViews = nonces.map((_, i) => pt.subarray(i * CHUNK, (i + 1) * CHUNK));
  const ctViews = nonces.map((_, i) => sealed.subarray(i * (CHUNK + TAG), i * (CHUNK + TAG) + CHUNK));
  const tagViews = nonces.map((_, i) => sealed.subarray(i * (CHUNK + TAG) + CHUNK, (i + 1) * (CHUNK + TAG)));
  const outViews = nonces.map((_, i) => opened.subarray(i * CHUNK, (i + 1) * CHUNK));
  const sealBatch = () => { for (let i = 0; i < N_CHUNKS; i++) enc.run(nonces[i]!, ptViews[i]!, ctViews[i]!, tagViews[i]!); };
  sealBatch();
  if (!referenceBatch(key, base, pt).equals(sealed)) throw new Error('OpenSSL EVP output differs from node:crypto');
  const msg = pt.subarray(0, MESSAGE), msgOut = new Uint8Array(MESSAGE), msgTag = new Uint8Array(TAG), msgBack = new Uint8Array(MESSAGE);
  enc.run(iv, msg, msgOut, msgTag);
  const row = { name: 'openssl-evp', kernel: null, keyBits };
  return [
    { row: { ...row, op: 'seal', chunkBytes: CHUNK }, bytes: BATCH, totalBytes: target, fn: sealBatch },
    { row: { ...row, op: 'open', chunkBytes: CHUNK }, bytes: BATCH, totalBytes: target,
      fn: () => { for (let i = 0; i < N_CHUNKS; i++) if (!dec.run(nonces[i]!, ctViews[i]!, outViews[i]!, tagViews[i]!)) throw new Error('open failed'); } },
    { row: { ...row, op: 'seal', chunkBytes: MESSAGE }, bytes: MESSAGE, totalBytes: target, fn: () => enc.run(iv, msg, msgOut, msgTag) },
    { row: { ...row, op: 'open', chunkBytes: MESSAGE }, bytes: MESSAGE, totalBytes: target,
      fn: () => { if (!dec.run(iv, msgOut, msgBack, msgTag)) throw new Error('open failed'); } },
  ];
}

/** node:crypto and noble as an application would call them: one cipher object per chunk. */
function jsCases(pt: Uint8Array, nodeTarget: number, nobleTarget: number): Case[] {
  const key = randomBytes(32), base = randomBytes(12);
  const nonces = Array.from({ length: N_CHUNKS }, (_, i) => chunkNonce(base, i, new Uint8Array(12)));
  const chunks = nonces.map((_, i) => pt.subarray(i * CHUNK, (i + 1) * CHUNK));
  const sealedChunks = chunks.map((c, i) => {
    const e = createCipheriv('aes-256-gcm', key, nonces[i]!);
    return Buffer.concat([e.update(c), e.final(), e.getAuthTag()]);
  });
  // noble is ~1000x slower: time it on a 256 KiB slice of the batch.
  const nobleN = 16;
  return [
    { row: { name: 'node:crypto', kernel: null, keyBits: 256, op: 'seal', chunkBytes: CHUNK }, bytes: BATCH, totalBytes: nodeTarget,
      fn: () => { for (let i = 0; i < N_CHUNKS; i++) { const e = createCipheriv('aes-256-gcm', key, nonces[i]!); e.update(chunks[i]!); e.final(); e.getAuthTag(); } } },
    { row: { name: 'node:crypto', kernel: null, keyBits: 256, op: 'open', chunkBytes: CHUNK }, bytes: BATCH, totalBytes: nodeTarget,
      fn: () => {
        for (let i = 0; i < N_CHUNKS; i++) {
          decipherOk(key, nonces[i]!, sealedChunks[i]!);
        }
      } },
    { row: { name: 'noble', kernel: null, keyBits: 256, op: 'seal', chunkBytes: CHUNK }, bytes: nobleN * CHUNK, totalBytes: nobleTarget,
      fn: () => { for (let i = 0; i < nobleN; i++) gcm(key, nonces[i]!).encrypt(chunks[i]!); } },
    { row: { name: 'noble', kernel: null, keyBits: 256, op: 'open', chunkBytes: CHUNK }, bytes: nobleN * CHUNK, totalBytes: nobleTarget,
      fn: () => { for (let i = 0; i < nobleN; i++) gcm(key, nonces[i]!).decrypt(sealedChunks[i]!); } },
  ];
}

function decipherOk(key: Uint8Array, nonce: Uint8Array, sealed: Buffer): boolean {
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  d.update(sealed.subarray(0, sealed.length - TAG));
  d.final(); // throws on a bad tag
  return true;
}

async function measure(c: Case): Promise<KernelRow> {
  const iterations = Math.max(4, Math.ceil(c.totalBytes / c.bytes));
  const bench = new Bench({ iterations, time: 0, warmupIterations: Math.max(2, Math.ceil(iterations / 16)), warmupTime: 0 });
  bench.add(c.row.name, c.fn);
  await bench.run();
  const result = bench.tasks[0]!.result as { state: string; period?: number; error?: Error };
  if (result.state !== 'completed' || !result.period) throw result.error ?? new Error(`${c.row.name}: ${result.state}`);
  return { ...c.row, gbps: c.bytes / (result.period / 1000) / GB };
}

export async function runKernelBench(opts: { quick?: boolean; log?: (s: string) => void } = {}): Promise<KernelRow[]> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const { addon, errors } = addonStatus();
  const target = opts.quick ? 64 * 2 ** 20 : 2 ** 30;
  const pt = randomBytes(BATCH);
  const cases: Case[] = [];
  const kernels = supportedKernels();
  if (!addon || kernels.length === 0) log(`native addon unavailable (${errors.join('; ')}): JS rows only`);
  for (const k of kernels) for (const bits of [256, 128]) cases.push(...nativeCases(k, bits, pt, target));
  if (kernels[0]) cases.push(...ceilingCases(kernels[0], pt, target));
  if (addon?.info().openssl) for (const bits of [256, 128]) cases.push(...opensslCases(bits, pt, target));
  cases.push(...jsCases(pt, opts.quick ? 16 * 2 ** 20 : 512 * 2 ** 20, opts.quick ? 2 ** 20 : 16 * 2 ** 20));
  const rows: KernelRow[] = [];
  for (const c of cases) {
    const r = await measure(c);
    log(`  ${r.name.padEnd(12)} ${String(r.kernel ?? '').padEnd(8)} AES-${r.keyBits || '-'} ${r.op.padEnd(4)} ${String(r.chunkBytes).padStart(7)} B  ${fmt(r.gbps)} GB/s`);
    rows.push(r);
  }
  return rows;
}

/** The headline: fastest native kernel vs each baseline, AES-256, 16 KiB chunks. */
export function kernelRatios(rows: KernelRow[]): { op: string; against: string; value: number }[] {
  const pick = (name: string, op: string, chunk = CHUNK, bits = 256) =>
    rows.filter((r) => r.name === name && r.op === op && r.chunkBytes === chunk && r.keyBits === bits)
      .reduce((m, r) => Math.max(m, r.gbps), 0);
  const ceiling = rows.find((r) => r.op === 'ctr')?.gbps ?? 0;
  const out: { op: string; against: string; value: number }[] = [];
  for (const op of ['seal', 'open']) {
    const best = pick('native', op);
    if (!best) continue;
    for (const [against, v] of [['OpenSSL EVP', pick('openssl-evp', op)], ['CTR ceiling', ceiling],
      ['noble', pick('noble', op)], ['node:crypto', pick('node:crypto', op)]] as const) {
      if (v) out.push({ op, against, value: best / v });
    }
  }
  return out;
}

/** README's headline: AES-256-GCM on 16 KiB chunks, one thread, every contender and the ceilings. */
function readmeSummary(rows: KernelRow[]): string {
  const at = (name: string, op: string, kernel: string | null = null) => rows.find((r) => r.name === name &&
    r.op === op && (kernel === null || r.kernel === kernel) && (op === 'ctr' || op === 'copy' ||
      (r.keyBits === 256 && r.chunkBytes === CHUNK)))?.gbps;
  const show = (v: number | undefined) => (v === undefined ? '-' : fmt(v));
  const body: (string | number)[][] = [];
  for (const k of supportedKernels()) body.push([`weightseal native ${k}`, show(at('native', 'seal', k)), show(at('native', 'open', k))]);
  body.push(['OpenSSL EVP (Node\'s own, no allocation)', show(at('openssl-evp', 'seal')), show(at('openssl-evp', 'open'))]);
  body.push(['node:crypto', show(at('node:crypto', 'seal')), show(at('node:crypto', 'open'))]);
  body.push(['@noble/ciphers', show(at('noble', 'seal')), show(at('noble', 'open'))]);
  body.push(['CTR only, no GHASH (ceiling)', show(at('ctr-only', 'ctr')), '-']);
  body.push(['memcpy', show(at('memcpy', 'copy')), '-']);
  const ratios = kernelRatios(rows).map((x) => `${x.op} ${ratio(x.value, 1)} ${x.against}`).join(', ');
  return `AES-256-GCM, 16 KiB chunks, one thread, GB/s (${new Date().toISOString().slice(0, 10)}):\n\n` +
    `${markdownTable(['', 'seal', 'open'], body)}\n\nFastest native kernel: ${ratios}.\n`;
}

function report(rows: KernelRow[]): { text: string; markdown: string } {
  const header = ['backend', 'kernel', 'key', 'op', 'chunk', 'GB/s'];
  const body = rows.map((r) => [r.name, r.kernel ?? '-', r.keyBits ? `AES-${r.keyBits}` : '-', r.op,
    r.chunkBytes >= MESSAGE ? `${r.chunkBytes / MESSAGE} MiB` : `${r.chunkBytes / 1024} KiB`, fmt(r.gbps)]);
  const ratios = kernelRatios(rows).map((x) => [x.op, x.against, ratio(x.value, 1)]);
  const rh = ['op (AES-256, 16 KiB)', 'fastest native vs', 'ratio'];
  return {
    text: `${table(header, body)}\n\n${table(rh, ratios)}`,
    markdown: `## Kernels, one thread\n\n${machineLine()}; ${new Date().toISOString()}.\n\n` +
      `${markdownTable(header, body)}\n\n${markdownTable(rh, ratios)}\n`,
  };
}

async function main(): Promise<void> {
  const flags = parseFlags();
  console.log(`weightseal kernel bench: ${machineLine()}`);
  const rows = await runKernelBench({ quick: flags.quick });
  const { text, markdown } = report(rows);
  console.log(`\n${text}`);
  if (flags.json) writeJson(flags.json, rows);
  if (mayWriteDocs(flags)) {
    console.log(`\nwrote ${writeBenchmarksSection('kernels', markdown)}`);
    console.log(`wrote ${writeBenchmarksSection('readme-kernels', readmeSummary(rows), 'README.md')}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
