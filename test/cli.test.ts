import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { exitCodeFor } from '../src/cli/exit.js';
import { WeightsealError } from '../src/errors.js';
import { SMALL_MODEL, safetensorsBytes } from './fixtures/safetensors.js';

const ENTRY = fileURLToPath(new URL('./fixtures/cli-from-source.mjs', import.meta.url));
let dir: string;
let keyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-cli-'));
  keyFile = join(dir, 'k.key');
  expect(await cli('keygen', keyFile)).toMatchObject({ code: 0 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

/** The command as a user runs it: a child process, for stdin, signals and real exit codes. */
function spawnCli(args: string[], opts: { stdin?: Uint8Array; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, [ENTRY, ...args], { env: { ...process.env, ...opts.env }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d; });
  child.stderr.on('data', (d: Buffer) => { err += d; });
  if (opts.stdin) child.stdin.end(opts.stdin);
  else child.stdin.end();
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, out, err })));
  return { child, done };
}

async function file(name: string, bytes: Uint8Array): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return p;
}

describe('keygen', () => {
  it('writes 32 random bytes with mode 0600 and refuses to overwrite (exit 3)', async () => {
    const st = await stat(keyFile);
    expect(st.size).toBe(32);
    expect(st.mode & 0o777).toBe(0o600);
    const again = await cli('keygen', keyFile);
    expect(again.code).toBe(3);
    expect(again.err).toMatch(/already exists/);
    const k128 = join(dir, 'k128.key');
    expect((await cli('keygen', k128, '--suite', 'cobblestone-128')).code).toBe(0);
    expect((await stat(k128)).size).toBe(16);
  });
});

describe('seal, open, verify', () => {
  const data = new Uint8Array(randomBytes(300_000));

  it('round-trips a file, with --json results', async () => {
    const input = await file('plain.bin', data);
    const sealed = join(dir, 'plain.bin.sealed');
    const back = join(dir, 'plain.back');
    const s = await cli('seal', input, sealed, '--key-file', keyFile, '--json', '--context', 'v1');
    expect(s.code).toBe(0);
    const r = JSON.parse(s.out);
    expect(r).toMatchObject({ ok: true, input, output: sealed, bytesIn: data.length });
    expect((await stat(sealed)).size).toBe(r.bytesOut);
    const o = await cli('open', sealed, back, '--key-file', keyFile, '--quiet', '--context', 'v1', '--threads', '1');
    expect(o).toMatchObject({ code: 0, out: '' });
    expect(Buffer.from(await readFile(back)).equals(data)).toBe(true);
    const v = await cli('verify', sealed, '--key-file', keyFile, '--context', 'v1', '--json');
    expect(v.code).toBe(0);
    expect(JSON.parse(v.out)).toMatchObject({ ok: true, authenticated: true, bytesOut: data.length });
  });

  it('exit 1 for a wrong key, wrong context or tampering, leaving no output or temp file', async () => {
    const input = await file('t.bin', data);
    const sealed = join(dir, 't.sealed');
    expect((await cli('seal', input, sealed, '--key-file', keyFile, '-q')).code).toBe(0);
    const other = await file('other.key', new Uint8Array(32));
    await chmod(other, 0o600);
    const wrong = await cli('open', sealed, join(dir, 't.out'), '--key-file', other, '--json');
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.out)).toMatchObject({ ok: false, exitCode: 1, error: { code: 'ERR_WRONG_KEY_OR_CONTEXT' } });
    expect((await cli('verify', sealed, '--key-file', keyFile, '--context', 'x', '-q')).code).toBe(1);
    const bytes = new Uint8Array(await readFile(sealed));
    bytes[100_000]! ^= 4;
    const bad = await file('t.bad', bytes);
    const v = await cli('verify', bad, '--key-file', keyFile, '--json');
    expect(v.code).toBe(1);
    expect(JSON.parse(v.out).error.code).toBe('ERR_AUTH_FAILED');
    const o = await cli('open', bad, join(dir, 't.out'), '--key-file', keyFile, '-q');
    expect(o.code).toBe(1);
    expect(o.err).toMatch(/failed authentication/);
    const left = await readdir(dir);
    expect(left.filter((n) => n.startsWith('t.out') || n.includes('.weightseal-'))).toEqual([]);
  });

  it('exit 3 for a missing input or an existing output without --overwrite', async () => {
    expect((await cli('seal', join(dir, 'nope'), join(dir, 'x'), '--key-file', keyFile)).code).toBe(3);
    const input = await file('e.bin', data);
    const out = await file('e.sealed', new Uint8Array([1]));
    const r = await cli('seal', input, out, '--key-file', keyFile);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/--overwrite/);
    expect((await readFile(out)).length).toBe(1);
    expect((await cli('seal', input, out, '--key-file', keyFile, '--overwrite', '-q')).code).toBe(0);
  });

  it('exit 2 for usage errors: no key, a key on argv, bad options, a key of the wrong size', async () => {
    const input = await file('u.bin', data);
    expect((await cli('seal', input, join(dir, 'u1'))).code).toBe(2);
    expect((await cli('seal', input, join(dir, 'u2'), '--key', 'abcd')).code).toBe(2);
    expect((await cli('seal', input, join(dir, 'u3'), '--key-file', keyFile, '--threads', '0')).code).toBe(2);
    expect((await cli('seal', input, join(dir, 'u4'), '--key-file', keyFile, '--backend', 'gpu')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('bench', 'nonsense')).code).toBe(2);
    const short = await file('short.key', new Uint8Array(20));
    await chmod(short, 0o600);
    const r = await cli('seal', input, join(dir, 'u5'), '--key-file', short);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/32-byte/);
    expect((await cli('--help')).code).toBe(0);
  });

  it('warns when the key file is readable by group or others', async () => {
    const loose = join(dir, 'loose.key');
    await writeFile(loose, randomBytes(32));
    await chmod(loose, 0o644);
    const input = await file('w.bin', data);
    const r = await cli('seal', input, join(dir, 'w.sealed'), '--key-file', loose, '-q');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: key file .*loose\.key is accessible by group and others \(mode 0644\); run: chmod 600/);
    const ok = await cli('seal', input, join(dir, 'w2.sealed'), '--key-file', keyFile, '-q');
    expect(ok.err).toBe('');
  });

  it('takes the key as hex from --key-env', async () => {
    const input = await file('env.bin', data);
    const hex = (await readFile(keyFile)).toString('hex');
    process.env.WEIGHTSEAL_TEST_KEY = hex;
    try {
      expect((await cli('seal', input, join(dir, 'env.sealed'), '--key-env', 'WEIGHTSEAL_TEST_KEY', '-q')).code).toBe(0);
      expect((await cli('verify', join(dir, 'env.sealed'), '--key-file', keyFile, '-q')).code).toBe(0);
      expect((await cli('verify', join(dir, 'env.sealed'), '--key-env', 'WEIGHTSEAL_UNSET_VAR', '-q')).code).toBe(2);
    } finally {
      delete process.env.WEIGHTSEAL_TEST_KEY;
    }
  });
});

describe('inspect', () => {
  it('prints the tensor table of a sealed safetensors file, or JSON', async () => {
    const { bytes } = safetensorsBytes(SMALL_MODEL, { format: 'pt' });
    const plain = await file('m.safetensors', bytes);
    const sealed = join(dir, 'm.sealed');
    expect((await cli('seal', plain, sealed, '--key-file', keyFile, '-q')).code).toBe(0);
    const r = await cli('inspect', sealed, '--key-file', keyFile);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/sealed safetensors, 8 tensors/);
    expect(r.out).toMatch(/lm_head\.weight\s+BF16\s+\[64, 96\]/);
    const j = JSON.parse((await cli('inspect', sealed, '--key-file', keyFile, '--json')).out);
    expect(j.table.map((t: { name: string }) => t.name)).toEqual(SMALL_MODEL.map((t) => t.name));
    expect(j.metadata).toEqual({ format: 'pt' });
    const p = await cli('inspect', plain, '--plaintext', '--json');
    expect(JSON.parse(p.out)).toMatchObject({ sealed: false, tensors: 8 });
    // A sealed file that is not safetensors: format failure, exit 1.
    const notSt = await file('n.bin', new Uint8Array(randomBytes(1000)));
    await cli('seal', notSt, join(dir, 'n.sealed'), '--key-file', keyFile, '-q');
    const bad = await cli('inspect', join(dir, 'n.sealed'), '--key-file', keyFile, '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.out).error.code).toBe('ERR_BAD_SAFETENSORS');
  });
});

describe('doctor and exit codes', () => {
  it('doctor reports the CPU, addon and advice', async () => {
    const r = await cli('doctor', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toHaveProperty('backend');
    expect(j).toHaveProperty('addon.errors');
    expect(Array.isArray(j.advice)).toBe(true);
    expect((await cli('doctor')).out).toMatch(/advice:/);
  });

  it.each([
    ['ERR_AUTH_FAILED', 1], ['ERR_WRONG_KEY_OR_CONTEXT', 1], ['ERR_TRUNCATED', 1], ['ERR_TRAILING_DATA', 1],
    ['ERR_BAD_SAFETENSORS', 1], ['ERR_INVALID_ARG', 2], ['ERR_BACKEND_UNAVAILABLE', 2], ['ERR_IO', 3], ['ERR_EXISTS', 3],
    ['ERR_ABORTED', 130],
  ] as const)('%s exits %i', (code, exit) => {
    expect(exitCodeFor(new WeightsealError(code, 'x'))).toBe(exit);
  });
});

describe('as a process', () => {
  it('reads the key from stdin with --key-file -', async () => {
    const input = await file('stdin.bin', new Uint8Array(randomBytes(5000)));
    const { done } = spawnCli(['seal', input, join(dir, 'stdin.sealed'), '--key-file', '-', '--json'],
      { stdin: await readFile(keyFile) });
    const r = await done;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, bytesIn: 5000 });
    expect((await cli('verify', join(dir, 'stdin.sealed'), '--key-file', keyFile, '-q')).code).toBe(0);
  });

  it('Ctrl-C removes the temporary file and exits 130', async () => {
    // noble on one thread runs at tens of MB/s: long enough to interrupt mid-way.
    const input = await file('big.bin', new Uint8Array(randomBytes(96 * 2 ** 20)));
    const work = await mkdtemp(join(dir, 'sigint-'));
    const out = join(work, 'big.sealed');
    const { child, done } = spawnCli(['seal', input, out, '--key-file', keyFile, '--backend', 'noble', '--threads', '1']);
    for (let i = 0; i < 400; i++) {
      const names = await readdir(work);
      if (names.some((n) => n.startsWith('.big.sealed.weightseal-') && n.endsWith('.tmp'))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect((await readdir(work)).length).toBe(1);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.err).toMatch(/interrupted \(SIGINT\): removed 1 temporary file/);
    expect(await readdir(work)).toEqual([]);
  }, 30_000);
});
