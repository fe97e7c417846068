/**
 * What does opening into memory cost? openInMemory of a page-cached sealed file (verified
 * slots pwritten into a memfd) against openFile to a tmpfs path (/dev/shm: the same copy into
 * shmem pages, plus a temporary file, fsync and rename) and against bounce with a consumer that
 * does nothing (the pipeline alone: the floor both others stand on). Same file, same threads,
 * interleaved repetitions in one run; each row's best time.
 *
 *   npm run bench:memfd [-- --json FILE] [--quick] [--size 2GiB] [--threads N] [--reps N] [--dir DIR]
 *
 * Before timing, the three routes must agree: the SHA-256 of the memfd, of the tmpfs file and
 * of the bytes bounce delivered are compared (STYLE habit 9). Linux with the addon only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open as fsOpen, rm, unlink } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openInMemory } from '../src/io/memory-file.js';
import { closePool } from '../src/pipeline/pool.js';
import { bounce, openFile, sealFile } from '../src/stream-api.js';
import { GB, fmt, machineLine, parseFlags, ratio, table, writeJson } from './report.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const SHM = '/dev/shm';

type Op = 'openInMemory' | 'openFile to /dev/shm' | 'bounce (no-op consumer)';

export interface MemfdRow {
  op: Op;
  threads: number;
  bytes: number;
  /** Best of the repetitions. */
  seconds: number;
  gbps: number;
  /** Against bounce with the no-op consumer, same run. */
  vsBounce: number;
}

function flagValue(rest: string[], name: string): string | undefined {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : rest.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(GiB|MiB|KiB|B)?$/i.exec(s.trim());
  if (!m) throw new Error(`--size: expected e.g. 2GiB or 512MiB, got ${s}`);
  const unit = (m[2] ?? 'B').toLowerCase();
  return Math.round(Number(m[1]) * (unit === 'gib' ? GiB : unit === 'mib' ? MiB : unit === 'kib' ? 1024 : 1));
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const part of createReadStream(path, { highWaterMark: 8 * MiB })) h.update(part as Buffer);
  return h.digest('hex');
}

/** A plaintext of `size` bytes from one random 16 MiB block (content does not change the cost), sealed. */
async function makeSealed(dir: string, size: number, key: Uint8Array): Promise<string> {
  const plain = join(dir, 'plain.bin');
  const block = randomBytes(16 * MiB);
  const fh = await fsOpen(plain, 'w');
  try {
    for (let at = 0; at < size; at += block.length) await fh.write(block, 0, Math.min(block.length, size - at), at);
  } finally {
    await fh.close();
  }
  const sealed = join(dir, 'model.sealed');
  await sealFile(plain, sealed, key);
  await unlink(plain);
  return sealed;
}

async function main(): Promise<void> {
  const flags = parseFlags();
  if (process.platform !== 'linux') throw new Error('bench:memfd needs Linux (memfd, /dev/shm)');
  const size = parseSize(flagValue(flags.rest, '--size') ?? (flags.quick ? '256MiB' : '2GiB'));
  const threads = Number(flagValue(flags.rest, '--threads') ?? availableParallelism());
  const reps = Number(flagValue(flags.rest, '--reps') ?? (flags.quick ? 2 : 5));
  const log = (s: string) => process.stderr.write(s + '\n');
  const key = new Uint8Array(randomBytes(32));
  const dir = await mkdtemp(join(flagValue(flags.rest, '--dir') ?? tmpdir(), 'weightseal-bench-memfd-'));
  const shmDst = join(SHM, `weightseal-bench-${process.pid}.bin`);
  try {
    log(`${machineLine()}\nsealing ${(size / MiB).toFixed(0)} MiB in ${dir}; threads ${threads}, ${reps} repetitions`);
    const sealed = await makeSealed(dir, size, key);
    await sha256File(sealed); // into the page cache: the rows measure the pipeline, not the disk
    const o = { threads };

    // The three routes agree before anything is timed.
    const mf = await openInMemory(sealed, key, o);
    const viaMemfd = await sha256File(mf.path);
    await mf.close();
    await openFile(sealed, shmDst, key, { ...o, overwrite: true });
    const viaShm = await sha256File(shmDst);
    await unlink(shmDst);
    const h = createHash('sha256');
    await bounce(sealed, key, { ...o, mode: 'open', onSlot: (v) => { h.update(v); } });
    const viaBounce = h.digest('hex');
    if (viaMemfd !== viaShm || viaMemfd !== viaBounce) throw new Error('the three routes disagree: not timing');

    const ops: Record<Op, () => Promise<void>> = {
      'openInMemory': async () => { await (await openInMemory(sealed, key, o)).close(); },
      'openFile to /dev/shm': async () => { await openFile(sealed, shmDst, key, { ...o, overwrite: true }); await unlink(shmDst); },
      'bounce (no-op consumer)': async () => { await bounce(sealed, key, { ...o, mode: 'open', onSlot: () => undefined }); },
    };
    const best = new Map<Op, number>();
    for (let r = 0; r < reps; r++) {
      for (const op of Object.keys(ops) as Op[]) {
        const t0 = performance.now();
        await ops[op]();
        const s = (performance.now() - t0) / 1000;
        best.set(op, Math.min(best.get(op) ?? Infinity, s));
      }
    }
    const floor = best.get('bounce (no-op consumer)')!;
    const rows: MemfdRow[] = (Object.keys(ops) as Op[]).map((op) => {
      const seconds = best.get(op)!;
      return { op, threads, bytes: size, seconds, gbps: size / seconds / GB, vsBounce: floor / seconds };
    });
    console.log(table(['route', 'threads', 'GB/s', 'seconds', 'vs bounce'],
      rows.map((r) => [r.op, r.threads, fmt(r.gbps), r.seconds.toFixed(3), ratio(floor, r.seconds)])));
    if (flags.json) writeJson(flags.json, { machine: machineLine(), rows });
  } finally {
    await unlink(shmDst).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await closePool();
  }
}

await main();
