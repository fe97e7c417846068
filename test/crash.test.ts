/**
 * Crash safety of sealFile/openFile and the command, with real child processes: a SIGKILL in
 * the middle leaves no destination, only a temporary named with the dead pid; the next run into
 * the directory removes it and nothing else (not a live process's temporary, not a look-alike);
 * SIGINT, SIGTERM and SIGHUP make the command remove its temporary and exit 128 + the signal.
 *
 * "In the middle" is made deterministic by a preload that lets the first write of the output
 * through and stalls every later one, so the child sits with a partial temporary until killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTempName, pidAlive, sweepStaleTemps, tempPathFor } from '../src/io/temp.js';
import { open, openFile, sealFile } from '../src/stream-api.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'test', 'fixtures', 'cli-from-source.mjs');
const MiB = 2 ** 20;

let dir: string;
let keyFile: string;
let key: Uint8Array;
let stall: string;
let apiScript: string;
let seq = 0;
const children = new Set<ChildProcess>();

// Lets the first FileHandle write through, then never settles another (an interval keeps the
// event loop alive, so signal handlers still run).
const STALL = `
import { open } from 'node:fs/promises';
const fh = await open(process.execPath, 'r');
const proto = Object.getPrototypeOf(fh);
await fh.close();
const write = proto.write;
let calls = 0;
proto.write = function (...args) {
  if (calls++ === 0) return write.apply(this, args);
  setInterval(() => {}, 1 << 30);
  return new Promise(() => {});
};
`;

// sealFile/openFile from the TypeScript sources, as a program that uses the library would.
const API = `
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(join(ROOT, 'src/pipeline/ts-hooks.mjs')).href)}, import.meta.url);
const { sealFile, openFile } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/index.ts')).href)});
const [mode, src, dst, keyPath] = process.argv.slice(2);
const key = new Uint8Array(readFileSync(keyPath));
await (mode === 'seal' ? sealFile : openFile)(src, dst, key, { threads: 1, slotBytes: 65536 });
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-crash-'));
  key = new Uint8Array(randomBytes(32));
  keyFile = join(dir, 'k.key');
  await writeFile(keyFile, key);
  await chmod(keyFile, 0o600);
  stall = join(dir, 'stall.mjs');
  await writeFile(stall, STALL);
  apiScript = join(dir, 'api.mjs');
  await writeFile(apiScript, API);
});
afterEach(() => {
  for (const c of children) c.kill('SIGKILL'); // a failed test must not leave a stalled child
  children.clear();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>;
}

function run(args: string[], stalled: boolean): Run {
  const pre = stalled ? ['--import', pathToFileURL(stall).href] : [];
  const child = spawn(process.execPath, [...pre, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>((resolve) =>
    child.on('close', (code, signal) => { children.delete(child); resolve({ code, signal, err }); }));
  return { child, done };
}

const cli = (args: string[], stalled = false) => run([CLI, ...args, '--key-file', keyFile, '--threads', '1'], stalled);
const api = (mode: 'seal' | 'open', src: string, dst: string) => run([apiScript, mode, src, dst, keyFile], true);

/** A fresh directory holding the input: plaintext, or sealed for 'open'. */
async function workdir(mode: 'seal' | 'open', bytes: number): Promise<{ work: string; input: string }> {
  const work = join(dir, `w${seq++}`);
  await mkdir(work);
  const plain = join(dir, `plain${seq++}`);
  await writeFile(plain, randomBytes(bytes));
  if (mode === 'seal') return { work, input: plain };
  const sealed = join(dir, `sealed${seq++}`);
  await sealFile(plain, sealed, key);
  return { work, input: sealed };
}

async function temps(work: string): Promise<string[]> {
  return (await readdir(work)).filter((n) => parseTempName(n) !== null);
}

/** Waits until `work` holds a temporary with bytes in it, i.e. the child is mid-operation. */
async function midway(r: Run, work: string): Promise<string> {
  let exited = false;
  void r.done.then(() => { exited = true; });
  for (let i = 0; i < 1000; i++) {
    for (const n of await temps(work)) {
      if ((await stat(join(work, n)).catch(() => null))?.size) return n;
    }
    if (exited) throw new Error(`child ended before writing: ${(await r.done).err}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error('no temporary file appeared');
}

async function gone(path: string): Promise<boolean> {
  return stat(path).then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
}

/** Files a sweep must leave alone, beside one stale temporary of `deadPid`. */
async function bystanders(work: string, deadPid: number, livePid: number): Promise<string[]> {
  const hex = () => randomBytes(6).toString('hex');
  const names = [
    `.live.weightseal-${livePid}-${hex()}.tmp`, // its owner is running
    `.x.weightseal-${deadPid}-${hex()}.tmp.bak`, // not the pattern: suffix
    `x.weightseal-${deadPid}-${hex()}.tmp`, // not the pattern: no leading dot
    `.x.weightseal-${deadPid}-nothex123456.tmp`, // not the pattern: random part
    `.x.weightseal-0-${hex()}.tmp`, // pid 0 is no process
  ];
  for (const n of names) await writeFile(join(work, n), 'keep');
  const asDir = `.d.weightseal-${deadPid}-${hex()}.tmp`;
  await mkdir(join(work, asDir));
  const asLink = `.l.weightseal-${deadPid}-${hex()}.tmp`;
  await symlink(join(work, names[1]!), join(work, asLink));
  return [...names, asDir, asLink];
}

describe('temporary names', () => {
  it('encode the destination and the owning pid; look-alikes do not parse', () => {
    const t = basename(tempPathFor('/some/dir/model.safetensors'));
    expect(t).toMatch(/^\.model\.safetensors\.weightseal-\d+-[0-9a-f]{12}\.tmp$/);
    expect(parseTempName(t)).toEqual({ target: 'model.safetensors', pid: process.pid });
    expect(parseTempName('.m.weightseal-12-0123456789ab.tmp~')).toBeNull();
    expect(parseTempName('.m.weightseal-0-0123456789ab.tmp')).toBeNull();
    expect(parseTempName('.m.weightseal-99999999999-0123456789ab.tmp')).toBeNull();
    expect(pidAlive(process.pid)).toBe(true);
  });

  it('a sweep of a missing directory removes nothing and does not throw', async () => {
    expect(await sweepStaleTemps(join(dir, 'no-such-dir'))).toEqual([]);
  });
});

describe.each(['seal', 'open'] as const)('SIGKILL in the middle of %sFile', (mode) => {
  it('leaves no destination, a temporary named with the dead pid, and the next call sweeps only that', async () => {
    const { work, input } = await workdir(mode, 2 * MiB);
    const dst = join(work, 'out.bin');
    const r = api(mode, input, dst);
    const tmp = await midway(r, work);
    r.child.kill('SIGKILL');
    expect((await r.done).signal).toBe('SIGKILL');
    expect(await gone(dst)).toBe(true);
    expect(await temps(work)).toEqual([tmp]);
    expect(parseTempName(tmp)).toEqual({ target: 'out.bin', pid: r.child.pid });
    expect(pidAlive(r.child.pid!)).toBe(false);

    // The next call into the directory, from this process: its own and its parent's (live) temporaries stay.
    const keep = await bystanders(work, r.child.pid!, process.ppid);
    const mine = basename(tempPathFor(join(work, 'mine')));
    await writeFile(join(work, mine), 'keep');
    const again = join(work, 'again.bin');
    await (mode === 'seal' ? sealFile : openFile)(input, again, key);
    expect((await readdir(work)).sort()).toEqual([...keep, mine, 'again.bin'].sort());
    const plain = mode === 'seal' ? await open(key, new Uint8Array(await readFile(again))) : await readFile(again);
    expect(plain.length).toBe(2 * MiB);
  }, 60_000); // two command runs from source: slow on a loaded 2-core machine
});

describe.each(['seal', 'open'] as const)('SIGKILL in the middle of weightseal %s', (mode) => {
  it('leaves no OUT, and the next command sweeps the stale temporary but not a live one', async () => {
    const { work, input } = await workdir(mode, 12 * MiB); // three 4 MiB slots: the second write stalls
    const out = join(work, 'out.bin');
    const r = cli([mode, input, out, '-q'], true);
    const tmp = await midway(r, work);
    r.child.kill('SIGKILL');
    expect((await r.done).signal).toBe('SIGKILL');
    expect(await gone(out)).toBe(true);
    expect(parseTempName(tmp)).toEqual({ target: 'out.bin', pid: r.child.pid });

    // This test process is alive and not the command: its temporary must survive the sweep.
    const keep = await bystanders(work, r.child.pid!, process.pid);
    const next = await cli([mode, input, out]).done;
    expect(next.code, next.err).toBe(0);
    expect(next.err).toContain(`removed stale temporary file ${join(work, tmp)} (its process ${r.child.pid} is gone)`);
    expect((await readdir(work)).sort()).toEqual([...keep, 'out.bin'].sort());
    expect((await stat(out)).size).toBeGreaterThan(0);
  }, 60_000); // two command runs from source: slow on a loaded 2-core machine
});

describe.each([['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const)('%s to weightseal seal', (signal, exit) => {
  it(`removes the temporary file, leaves no OUT and exits ${exit}`, async () => {
    const { work, input } = await workdir('seal', 12 * MiB);
    const out = join(work, 'out.bin');
    const r = cli(['seal', input, out], true);
    await midway(r, work);
    r.child.kill(signal);
    const res = await r.done;
    expect(res.code, res.err).toBe(exit);
    expect(res.err).toContain(`interrupted (${signal}): removed 1 temporary file`);
    expect(await readdir(work)).toEqual([]);
  }, 30_000);
});
