/**
 * How close does a remote load come to the network? A sealed safetensors model (2 GiB; 256 MiB
 * with --quick) served by nginx on loopback: bounce(url, { mode: 'open' }) against a plain
 * concurrent ranged download of the same bytes, with the same client (undici, one Agent of
 * `connections` keep-alive sockets), the same ranges (one pipeline slot of sealed records each)
 * and the same connection count, in the same run, for connections 1, 4 and 16; peak RSS of
 * each; and the bytes fetched by read() of one tensor against that tensor's size. Each
 * connection count is warmed up first; then rounds time download and open back to back (order
 * alternating) and report medians, per-round ratios and CPU seconds per GB of each side, with a
 * paragraph on what limits open on loopback.
 *
 *   npm run bench:remote [-- --json FILE] [--quick] [--rounds N] [--markdown]
 *
 * --markdown writes the table into BENCHMARKS.md (between its remote markers); without it
 * nothing but --json is written. Loopback measures the CPU cost of the client and the cipher,
 * not a network: on a real link the download side drops to the link speed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open as fsOpen, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { SEALED_CHUNK_BYTES, HEADER_BYTES } from '../src/cobblestone.js';
import { closePool } from '../src/pipeline/pool.js';
import { DEFAULT_SLOT_BYTES, resolveTuning, slotRingBytes } from '../src/pipeline/options.js';
import { remoteTuning } from '../src/remote/tuning.js';
import { buildHeader } from '../src/safetensors/header.js';
import { SealedSafetensors, bounce, seal, sealFile } from '../src/index.js';
import { Nginx } from './nginx.js';
import { withPeakRss } from './pipeline-child.js';
import { GB, fmt, machineLine, markdownTable, parseFlags, table, writeBenchmarksSection, writeJson } from './report.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export interface RemoteRow {
  connections: number;
  /** Sealed bytes per second of the plain ranged download, GB/s (1e9): median of the rounds. */
  downloadGbps: number;
  /** Sealed bytes per second through bounce(url, { mode: 'open' }), GB/s: median of the rounds. */
  openGbps: number;
  /** Median over the rounds of open / download, each pair timed back to back. */
  ratio: number;
  /** Every round's open / download, to show the noise. */
  ratios: number[];
  /** The first open at this connection count, before its slot ring was cached (first-touch included). */
  firstOpenGbps: number;
  /** CPU seconds (this process, all threads) per GB of sealed bytes: mean of the rounds. */
  downloadCpuPerGB: number;
  openCpuPerGB: number;
  downloadPeakRssMiB: number;
  openPeakRssMiB: number;
  /** The open's slot ring (input and output of every slot): its bound on memory in flight. */
  openRingMiB: number;
}

/** Bytes of the slot ring an open at `connections` allocates (src/remote/tuning.ts). */
function ringMiB(connections: number): number {
  const t = remoteTuning(resolveTuning({}), { connections });
  return (t.inflight * slotRingBytes(t.slotBytes)) / MiB;
}

interface Timed {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Wall and CPU time (process.cpuUsage: every thread of this process, not nginx) and peak RSS of fn. */
async function timed(fn: () => Promise<unknown>): Promise<Timed> {
  const r = await withPeakRss(async () => {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const seconds = (performance.now() - t0) / 1000;
    const u = process.cpuUsage(cpu);
    return { seconds, cpuSeconds: (u.user + u.system) / 1e6 };
  });
  return { ...r.value, peakRssMiB: r.peakRssMiB };
}

/** A safetensors file of `bytes` (64 MiB F32 tensors) written in pieces, never held whole. */
async function writeModel(path: string, bytes: number): Promise<void> {
  const tensorBytes = 64 * MiB;
  const n = Math.max(1, Math.floor(bytes / tensorBytes));
  const tensors = Array.from({ length: n }, (_, i) => ({ name: `layers.${i}.weight`, dtype: 'F32' as const,
    shape: [tensorBytes / 4 / 1024, 1024] }));
  const { header, dataBytes } = buildHeader(tensors);
  const fh = await fsOpen(path, 'w');
  try {
    await fh.write(header, 0, header.length, 0);
    const piece = new Uint8Array(randomBytes(16 * MiB));
    for (let at = 0; at < dataBytes; at += piece.length) {
      await fh.write(piece, 0, Math.min(piece.length, dataBytes - at), header.length + at);
    }
  } finally {
    await fh.close();
  }
}

/** The baseline: the sealed object's body fetched as the pipeline fetches it, bytes discarded. */
async function download(url: string, size: number, connections: number): Promise<number> {
  const agent = new Agent({ connections, keepAliveTimeout: 30_000 });
  const range = (DEFAULT_SLOT_BYTES / (16 * 1024)) * SEALED_CHUNK_BYTES;
  let next = HEADER_BYTES;
  let got = 0;
  const worker = async () => {
    while (next < size) {
      const start = next;
      next = Math.min(size, next + range);
      const res = await request(url, { dispatcher: agent, headers: { range: `bytes=${start}-${next - 1}` } });
      if (res.statusCode !== 206) throw new Error(`HTTP ${res.statusCode}`);
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) got += chunk.length;
    }
  };
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    await agent.close();
  }
  if (got !== size - HEADER_BYTES) throw new Error(`downloaded ${got} of ${size - HEADER_BYTES} bytes`);
  return (performance.now() - t0) / 1000;
}

const CONNECTIONS = [1, 4, 16];
const CPU_COUNT = availableParallelism();

/**
 * CPU seconds per GB of opening sealed bytes that are already in memory (no HTTP, no copy):
 * the cipher and the pipeline alone, on the same native pool the remote open uses.
 */
async function cipherCost(key: Uint8Array): Promise<{ cpuPerGB: number; gbps: number }> {
  const sealed = await seal(key, new Uint8Array(randomBytes(64 * MiB)));
  await bounce(sealed, key, { mode: 'open', onSlot: () => {} });
  let best = Infinity;
  let cpuSeconds = 0;
  const reps = 4;
  for (let i = 0; i < reps; i++) {
    const t = await timed(() => bounce(sealed, key, { mode: 'open', onSlot: () => {} }));
    best = Math.min(best, t.seconds);
    cpuSeconds += t.cpuSeconds;
  }
  const gb = sealed.length / GB;
  return { cpuPerGB: cpuSeconds / reps / gb, gbps: gb / best };
}

/**
 * What limits open against download on loopback, in this run's own numbers: both sides spend
 * the same CPU on HTTP (undici's parser, the socket reads) on the same cores as nginx, and open
 * adds the copy into slot memory and the cipher on top. Written into the markdown beside the table.
 */
function limitsParagraph(rows: RemoteRow[], cipher: { cpuPerGB: number; gbps: number } | null, rounds: number): string {
  if (rows.length === 0) return '';
  const mean = (f: (r: RemoteRow) => number) => rows.reduce((t, r) => t + f(r), 0) / rows.length;
  const d = mean((r) => r.downloadCpuPerGB);
  const o = mean((r) => r.openCpuPerGB);
  const spread = rows.map((r) => `${Math.min(...r.ratios).toFixed(2)}-${Math.max(...r.ratios).toFixed(2)}`).join(', ');
  return `What limits it: on loopback nothing waits for a network, so both sides are bound by CPU, shared with nginx ` +
    `(${CPU_COUNT} cores here). The plain download costs ${d.toFixed(2)} CPU s per GB in this process (undici's HTTP ` +
    `parsing and the socket reads); open costs ${o.toFixed(2)}, the extra ${(o - d).toFixed(2)} being the one copy of ` +
    'each body chunk into slot memory and the cipher' +
    (cipher ? ` (opening the same kind of bytes from memory, no HTTP: ${cipher.cpuPerGB.toFixed(2)} CPU s per GB, ` +
      `${fmt(cipher.gbps)} GB/s)` : '') +
    `. Where the cores are the limit, open can reach about download x ${d.toFixed(2)} / ${o.toFixed(2)} = ` +
    `${(d / o).toFixed(2)}x; over a real link the download is bound by the network instead and this CPU is spent ` +
    `while waiting for it. Per-round ratios (${rounds} round${rounds === 1 ? '' : 's'}; connections ${rows.map((r) => r.connections).join(', ')}): ` +
    `${spread}.`;
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const writeMarkdown = flags.rest.includes('--markdown');
  const size = flags.quick ? 256 * MiB : 2 * GiB;
  const ri = flags.rest.indexOf('--rounds');
  const rounds = ri >= 0 ? Math.max(1, Number(flags.rest[ri + 1]) || 1) : 3;
  const key = new Uint8Array(randomBytes(32));
  const log = (s: string) => console.error(s);
  const dir = await mkdtemp(join(tmpdir(), 'weightseal-bench-remote-'));
  const nginx = await Nginx.start();
  const rows: RemoteRow[] = [];
  let tensorRead: { tensor: string; byteLength: number; bytesFetched: number; requests: number } | null = null;
  let sealedSize = 0;
  let cipher: { cpuPerGB: number; gbps: number } | null = null;
  try {
    log(`writing a ${size / MiB} MiB model and sealing it into nginx's root`);
    const plainPath = join(dir, 'model.safetensors');
    await writeModel(plainPath, size);
    const r = await sealFile(plainPath, join(nginx.root, 'model.safetensors'), key);
    sealedSize = r.bytesOut;
    await rm(plainPath);
    const url = nginx.url('/model.safetensors');
    const body = sealedSize - HEADER_BYTES;
    const open = (connections: number) => bounce(url, key, { mode: 'open', connections, onSlot: () => {} });
    // Warm up each connection count: the page cache holds the file, the native pool runs, and
    // the slot ring of that size is allocated and cached (its first open is reported apart).
    const firstOpen = new Map<number, number>();
    for (const c of CONNECTIONS) {
      await download(url, sealedSize, c);
      firstOpen.set(c, (await timed(() => open(c))).seconds);
    }
    // Rounds interleave the two sides (order alternating), so the load other processes put on
    // the machine falls on both alike; each round's pair gives one ratio.
    const runs = new Map<number, { d: Timed[]; o: Timed[] }>(CONNECTIONS.map((c) => [c, { d: [], o: [] }]));
    for (let round = 0; round < rounds; round++) {
      for (const c of CONNECTIONS) {
        const r = runs.get(c)!;
        if (round % 2 === 0) {
          r.d.push(await timed(() => download(url, sealedSize, c)));
          r.o.push(await timed(() => open(c)));
        } else {
          r.o.push(await timed(() => open(c)));
          r.d.push(await timed(() => download(url, sealedSize, c)));
        }
      }
    }
    for (const c of CONNECTIONS) {
      const { d, o } = runs.get(c)!;
      const ratios = d.map((x, i) => x.seconds / o[i]!.seconds);
      const cpu = (xs: Timed[]) => xs.reduce((t, x) => t + x.cpuSeconds, 0) / xs.length / (body / GB);
      const row: RemoteRow = {
        connections: c,
        downloadGbps: body / median(d.map((x) => x.seconds)) / GB,
        openGbps: body / median(o.map((x) => x.seconds)) / GB,
        ratio: median(ratios),
        ratios,
        firstOpenGbps: body / firstOpen.get(c)! / GB,
        downloadCpuPerGB: cpu(d),
        openCpuPerGB: cpu(o),
        downloadPeakRssMiB: Math.max(...d.map((x) => x.peakRssMiB)),
        openPeakRssMiB: Math.max(...o.map((x) => x.peakRssMiB)),
        openRingMiB: ringMiB(c),
      };
      rows.push(row);
      log(`connections ${c}: download ${fmt(row.downloadGbps)} GB/s, open ${fmt(row.openGbps)} GB/s, ` +
        `open/download per round ${ratios.map((x) => x.toFixed(2)).join(' ')}`);
    }
    cipher = await cipherCost(key);
    const m = await SealedSafetensors.open(url, key);
    try {
      const t = m.tensors()[Math.floor(m.tensors().length / 2)]!;
      const before = m.stats();
      await m.read(t.name);
      const after = m.stats();
      tensorRead = { tensor: t.name, byteLength: t.byteLength, bytesFetched: after.bytesFetched - before.bytesFetched,
        requests: after.requests - before.requests };
    } finally {
      await m.close();
    }
  } finally {
    await nginx.stop();
    await rm(dir, { recursive: true, force: true });
    await closePool();
  }
  const header = ['connections', 'plain download GB/s', 'open GB/s', 'open / download', 'first open GB/s',
    'download CPU s/GB', 'open CPU s/GB', 'open slot ring MiB', 'download peak RSS MiB', 'open peak RSS MiB'];
  const cells = rows.map((r) => [r.connections, fmt(r.downloadGbps), fmt(r.openGbps), `${r.ratio.toFixed(2)}x`,
    fmt(r.firstOpenGbps), r.downloadCpuPerGB.toFixed(2), r.openCpuPerGB.toFixed(2), r.openRingMiB.toFixed(0),
    r.downloadPeakRssMiB.toFixed(0), r.openPeakRssMiB.toFixed(0)]);
  const readLine = tensorRead ? `read("${tensorRead.tensor}"): ${tensorRead.bytesFetched} bytes fetched in ` +
    `${tensorRead.requests} requests for a ${tensorRead.byteLength}-byte tensor ` +
    `(${(tensorRead.bytesFetched / tensorRead.byteLength).toFixed(4)}x)` : '';
  const limits = limitsParagraph(rows, cipher, rounds);
  console.log(`\n${table(header, cells)}\n\n${readLine}\n\n${limits}`);
  if (flags.json) writeJson(flags.json, { machine: machineLine(), sealedBytes: sealedSize, rounds, rows, tensorRead, cipher });
  if (writeMarkdown) {
    const md = `Remote load (\`npm run bench:remote\`): a ${(sealedSize / GiB).toFixed(2)} GiB sealed model served ` +
      `by nginx on loopback, ${machineLine()}. Sealed bytes per second, median of ${rounds} round${rounds === 1 ? '' : 's'} that time ` +
      'download and open back to back; "first open" is the untimed warm-up open, which also allocates and first-touches ' +
      'that connection count\'s slot ring. Peak RSS is of the whole process, slot rings cached by earlier opens included; ' +
      `the slot ring column is what one open holds in flight.\n\n${markdownTable(header, cells)}\n\n${readLine}\n\n${limits}`;
    console.log(`\nwrote ${writeBenchmarksSection('remote', md)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
