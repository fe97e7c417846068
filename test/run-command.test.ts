/**
 * `weightseal run MODEL --key-file K -- CMD ARGS...`: the child reads the plaintext through the
 * `{}` path (its descriptor 3, a memfd), nothing is written under the working or temporary
 * directories, signals reach the child, the exit code is the child's, and the memory file is
 * closed afterwards. Without the addon the command says why it cannot run (exit 2).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { CHILD_PATH, substitute } from '../src/cli/run.js';
import { seal } from '../src/stream-api.js';
import { MEMFD_READY, memfdSuite, ourMemfds } from './helpers/memfd.js';

const ENTRY = fileURLToPath(new URL('./fixtures/cli-from-source.mjs', import.meta.url));
const plaintext = new Uint8Array(randomBytes(200 * 1024 + 17));
const key = new Uint8Array(randomBytes(32));
let dir: string;
let model: string;
let keyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-run-'));
  model = join(dir, 'model.sealed');
  keyFile = join(dir, 'k.key');
  await writeFile(keyFile, key, { mode: 0o600 });
  await writeFile(model, await seal(key, plaintext, { context: 'run' }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The command as a user runs it: a child process with its own cwd and environment. */
function spawnCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, [ENTRY, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d; });
  child.stderr.on('data', (d: Buffer) => { err += d; });
  child.stdin.end();
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, out, err })));
  return { child, done };
}

/** Every path under dir, recursively. */
async function listing(d: string): Promise<string[]> {
  return (await readdir(d, { recursive: true })).map(String).sort();
}

const quietCli = (argv: string[]) => runCli(argv, { out: () => {}, err: () => {} });

it('substitutes every {} in each argument, also inside one', () => {
  expect(substitute(['-m', '{}', '--model={}', 'x{}y{}', 'plain'])).toEqual({
    args: ['-m', CHILD_PATH, `--model=${CHILD_PATH}`, `x${CHILD_PATH}y${CHILD_PATH}`, 'plain'], used: true });
  expect(substitute(['a', 'b'])).toEqual({ args: ['a', 'b'], used: false });
});

describe.skipIf(!MEMFD_READY)(memfdSuite('weightseal run'), () => {
  it('the child reads the plaintext through {} (a memfd) and nothing is written under cwd or TMPDIR', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'weightseal-run-cwd-'));
    const tmp = await mkdtemp(join(tmpdir(), 'weightseal-run-tmp-'));
    try {
      const hasher = 'const fs = require("fs"), p = process.argv[1];' +
        'console.log(require("crypto").createHash("sha256").update(fs.readFileSync(p)).digest("hex"), fs.readlinkSync(p))';
      const { done } = spawnCli(['run', model, '--key-file', keyFile, '--context', 'run', '--', process.execPath, '-e', hasher, '{}'],
        { cwd, env: { TMPDIR: tmp, TMP: tmp, TEMP: tmp } });
      const r = await done;
      expect(r.err).toContain(`{} = ${CHILD_PATH}`);
      expect(r.code).toBe(0);
      const [hash, link] = r.out.trim().split(' ');
      expect(hash).toBe(createHash('sha256').update(plaintext).digest('hex'));
      expect(link).toMatch(/^\/memfd:weightseal/);
      expect(await listing(cwd)).toEqual([]);
      expect(await listing(tmp)).toEqual([]);
    } finally {
      await rm(cwd, { recursive: true, force: true });
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('exits with the child\'s code (128 + N for a signal) and closes the memory file afterwards', async () => {
    const before = ourMemfds();
    const base = ['run', model, '--key-file', keyFile, '--context', 'run', '-q', '--', process.execPath, '-e'];
    expect(await quietCli([...base, 'process.exit(require("fs").statSync(process.argv[1]).size % 200)', '{}']))
      .toBe(plaintext.length % 200);
    expect(await quietCli([...base, 'process.kill(process.pid, "SIGKILL")', '{}'])).toBe(128 + 9);
    expect(ourMemfds()).toEqual(before);
  });

  it('forwards SIGTERM to the child', async () => {
    const script = 'process.on("SIGTERM", () => { console.log("child got SIGTERM"); process.exit(5); });' +
      'console.log("ready"); setInterval(() => undefined, 1000);'; // no {} here: it would be replaced too
    const { child, done } = spawnCli(['run', model, '--key-file', keyFile, '--context', 'run', '-q', '--',
      process.execPath, '-e', script, '{}']);
    const ready = new Promise<boolean>((resolve) => {
      child.stdout.on('data', (d: Buffer) => { if (String(d).includes('ready')) resolve(true); });
      void done.then(() => resolve(false)); // a child that died early fails here, not by timeout
    });
    expect(await ready).toBe(true);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.out).toContain('child got SIGTERM');
    expect(r.code).toBe(5);
  });

  it('runs nothing when the open fails, and says so for a missing command (127)', async () => {
    const before = ourMemfds();
    // Exit 9 from the child would mean it ran; the wrong context fails the open first (exit 1).
    expect(await quietCli(['run', model, '--key-file', keyFile, '--context', 'other', '--', process.execPath, '-e',
      'process.exit(9)'])).toBe(1);
    expect(await quietCli(['run', model, '--key-file', keyFile, '--context', 'run', '--',
      join(dir, 'no-such-command'), '{}'])).toBe(127);
    expect(await quietCli(['run', model, '--key-file', keyFile, '--context', 'run'])).toBe(2);
    expect(ourMemfds()).toEqual(before);
  });
});

describe('weightseal run without the addon', () => {
  it('exits 2 with ERR_UNSUPPORTED naming the missing addon (WEIGHTSEAL_DISABLE_NATIVE=1)', async () => {
    const { done } = spawnCli(['run', model, '--key-file', keyFile, '--context', 'run', '--',
      process.execPath, '-e', 'process.exit(9)', '{}'], { env: { WEIGHTSEAL_DISABLE_NATIVE: '1' } });
    const r = await done;
    expect(r.code).toBe(2);
    expect(r.err).toMatch(process.platform === 'linux' ? /needs the native addon/ : /needs Linux/);
    expect(r.err).not.toContain(Buffer.from(key).toString('hex'));
  });
});
