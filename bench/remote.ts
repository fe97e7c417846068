/**
 * How close does a remote load come to the network? A sealed safetensors model (2 GiB; 256 MiB
 * with --quick) served by nginx on loopback: bounce(url, { mode: 'open' }) against a plain
 * concurrent ranged download of the same bytes, with the same client (undici, one Agent of
 * `connections` keep-alive sockets), the same ranges (one pipeline slot of sealed records each)
 * and the same connection count, in the same run, for connections 1, 4 and 16; peak RSS of
 * each; and the bytes fetched by read() of one tensor against that tensor's size.
 *
 *   npm run bench:remote [-- --json FILE] [--quick] [--markdown]
 *
 * --markdown writes the table into BENCHMARKS.md (between its remote markers); without it
 * nothing but --json is written. Loopback measures the CPU cost of the client and the cipher,
 * not a network: on a real link the download side drops to the link speed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open as fsOpen, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { SEALED_CHUNK_BYTES, HEADER_BYTES } from '../src/cobblestone.js';
import { closePool } from '../src/pipeline/pool.js';
import { DEFAULT_SLOT_BYTES } from '../src/pipeline/options.js';
import { buildHeader } from '../src/safetensors/header.js';
import { SealedSafetensors, bounce, sealFile } from '../src/index.js';
import { Nginx } from './nginx.js';
import { withPeakRss } from './pipeline-child.js';
import { GB, fmt, machineLine, markdownTable, parseFlags, table, writeBenchmarksSection, writeJson } from './report.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export interface RemoteRow {
  connections: number;
  /** Sealed bytes per second of the plain ranged download, GB/s (1e9). */
  downloadGbps: number;
  /** Sealed bytes per second through bounce(url, { mode: 'open' }), GB/s. */
  openGbps: number;
  /** openGbps / downloadGbps. */
  ratio: number;
  downloadPeakRssMiB: number;
  openPeakRssMiB: number;
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

async function main(): Promise<void> {
  const flags = parseFlags();
  const writeMarkdown = flags.rest.includes('--markdown');
  const size = flags.quick ? 256 * MiB : 2 * GiB;
  const key = new Uint8Array(randomBytes(32));
  const log = (s: string) => console.error(s);
  const dir = await mkdtemp(join(tmpdir(), 'weightseal-bench-remote-'));
  const nginx = await Nginx.start();
  const rows: RemoteRow[] = [];
  let tensorRead: { tensor: string; byteLength: number; bytesFetched: number; requests: number } | null = null;
  let sealedSize = 0;
  try {
    log(`writing a ${size / MiB} MiB model and sealing it into nginx's root`);
    const plainPath = join(dir, 'model.safetensors');
    await writeModel(plainPath, size);
    const r = await sealFile(plainPath, join(nginx.root, 'model.safetensors'), key);
    sealedSize = r.bytesOut;
    await rm(plainPath);
    const url = nginx.url('/model.safetensors');
    // Warm up: the page cache holds the file, and the workers are started.
    await download(url, sealedSize, 4);
    await bounce(url, key, { mode: 'open', connections: 4, onSlot: () => {} });
    for (const connections of [1, 4, 16]) {
      const d = await withPeakRss(() => download(url, sealedSize, connections));
      const o = await withPeakRss(async () => {
        const t0 = performance.now();
        await bounce(url, key, { mode: 'open', connections, onSlot: () => {} });
        return (performance.now() - t0) / 1000;
      });
      const body = sealedSize - HEADER_BYTES;
      const row: RemoteRow = {
        connections, downloadGbps: body / d.value / GB, openGbps: body / o.value / GB, ratio: d.value / o.value,
        downloadPeakRssMiB: d.peakRssMiB, openPeakRssMiB: o.peakRssMiB,
      };
      rows.push(row);
      log(`connections ${connections}: download ${fmt(row.downloadGbps)} GB/s, open ${fmt(row.openGbps)} GB/s`);
    }
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
  const header = ['connections', 'plain download GB/s', 'open GB/s', 'open / download', 'download peak RSS MiB',
    'open peak RSS MiB'];
  const cells = rows.map((r) => [r.connections, fmt(r.downloadGbps), fmt(r.openGbps), `${r.ratio.toFixed(2)}x`,
    r.downloadPeakRssMiB.toFixed(0), r.openPeakRssMiB.toFixed(0)]);
  const readLine = tensorRead ? `read("${tensorRead.tensor}"): ${tensorRead.bytesFetched} bytes fetched in ` +
    `${tensorRead.requests} requests for a ${tensorRead.byteLength}-byte tensor ` +
    `(${(tensorRead.bytesFetched / tensorRead.byteLength).toFixed(4)}x)` : '';
  console.log(`\n${table(header, cells)}\n\n${readLine}`);
  if (flags.json) writeJson(flags.json, { machine: machineLine(), sealedBytes: sealedSize, rows, tensorRead });
  if (writeMarkdown) {
    const md = `Remote load (\`npm run bench:remote\`): a ${(sealedSize / GiB).toFixed(2)} GiB sealed model served ` +
      `by nginx on loopback, ${machineLine()}. Sealed bytes per second.\n\n${markdownTable(header, cells)}\n\n${readLine}`;
    console.log(`\nwrote ${writeBenchmarksSection('remote', md)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
