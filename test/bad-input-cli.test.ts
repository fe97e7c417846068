/**
 * Bad input inventory of the `weightseal` command (docs/errors.md, docs/cli.md): every
 * subcommand run as a child process, as users run it, with wrong arguments, keys, files and
 * data. Each row checks the exit code (0 ok, 1 auth/format, 2 usage, 3 I/O), the guidance on
 * stderr, and that no byte of the key in play appears on stderr or stdout.
 *
 * Runs dist/src/cli/main.js (build first: `npm run build`); WEIGHTSEAL_CLI_FROM_SOURCE=1 runs
 * the TypeScript sources instead (test/fixtures/cli-from-source.mjs).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealInline } from '../src/format.js';
import { SMALL_MODEL, safetensorsBytes } from './fixtures/safetensors.js';
import { expectNoKey } from './helpers/leaks.js';
import { addonStatus } from '../src/backend/addon.js';

/** Whether the addon loads here: without it, forcing a kernel fails for the missing backend. */
const NATIVE = addonStatus().addon !== null;

const FROM_SOURCE = process.env.WEIGHTSEAL_CLI_FROM_SOURCE === '1';
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? './fixtures/cli-from-source.mjs' : '../dist/src/cli/main.js',
  import.meta.url));

const KEY = new Uint8Array(32).fill(0xa5);
const RKEY = new Uint8Array(randomBytes(32));
const PLAIN = new Uint8Array(2 * 16384 + 77).map((_, i) => i * 11);

let dir: string;
const p = (name: string) => join(dir, name);
let outNo = 0;
const fresh = () => p(`out-${outNo++}`);

beforeAll(() => {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run \`npm run build\` (or set WEIGHTSEAL_CLI_FROM_SOURCE=1)`);
  dir = mkdtempSync(join(tmpdir(), 'weightseal-cli-bad-'));
  const key = (name: string, bytes: Uint8Array | string) => writeFileSync(p(name), bytes, { mode: 0o600 });
  key('k.key', KEY);
  key('hex.key', Buffer.from(RKEY).toString('hex') + '\n');
  key('k16.key', KEY.subarray(0, 16));
  key('k0.key', new Uint8Array(0));
  key('k24.key', KEY.subarray(0, 24));
  key('k31.key', KEY.subarray(0, 31));
  key('k33.key', new Uint8Array(33).fill(0xa5));
  key('hex24.key', Buffer.from(KEY.subarray(0, 24)).toString('hex'));
  mkdirSync(p('a-directory'));
  mkdirSync(p('key-dir'));
  writeFileSync(p('plain.bin'), PLAIN);
  writeFileSync(p('exists'), 'x');
  const sealed = sealInline(KEY, PLAIN, { backend: 'node' });
  writeFileSync(p('plain.sealed'), sealed);
  writeFileSync(p('ctx.sealed'), sealInline(KEY, PLAIN, { backend: 'node', context: 'v1' }));
  writeFileSync(p('truncated.sealed'), sealed.subarray(0, sealed.length - 7));
  const bad = sealed.slice();
  bad[56 + 16400 + 3]! ^= 1;
  writeFileSync(p('tampered.sealed'), bad);
  writeFileSync(p('model.sealed'), sealInline(KEY, safetensorsBytes(SMALL_MODEL).bytes, { backend: 'node' }));
  writeFileSync(p('hex.sealed'), sealInline(RKEY, PLAIN, { backend: 'node' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  out: string;
  err: string;
  raw: Buffer;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY, ...args], {
      env: { ...process.env, WEIGHTSEAL_QUIET: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const raw = Buffer.concat([...out, ...err]);
      resolve({ code, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString(), raw });
    });
  });
}

function expectNoKeyIn(r: Run, keys: Uint8Array[]): void {
  expectNoKey(r.raw.toString('latin1'), keys);
}

interface Row {
  name: string;
  args: () => string[];
  exit: number;
  /** What stderr must say (the guidance). */
  err: RegExp;
  env?: Record<string, string>;
  /** Files that must not exist afterwards (outputs never published on failure). */
  absent?: () => string[];
}

const key = ['--key-file'];
const K = () => [...key, p('k.key')];
const Q = '--quiet';

const ROWS: Row[] = [
  // The command itself.
  { name: 'no command', args: () => [], exit: 2, err: /Usage: weightseal/ },
  { name: 'unknown command', args: () => ['encrypt'], exit: 2, err: /unknown command 'encrypt'/ },
  // keygen
  { name: 'keygen without OUT', args: () => ['keygen'], exit: 2, err: /missing required argument 'out'/ },
  { name: 'keygen onto an existing file', args: () => ['keygen', p('exists')], exit: 3, err: /already exists; keygen never overwrites a key \(remove it first\)/ },
  { name: 'keygen onto a directory', args: () => ['keygen', p('a-directory')], exit: 3, err: /already exists/ },
  { name: 'keygen into a missing directory', args: () => ['keygen', p('nope/k.key')], exit: 3, err: /check the path exists/ },
  { name: 'keygen --suite aes-192', args: () => ['keygen', fresh(), '--suite', 'aes-192'], exit: 2, err: /Allowed choices are cobblestone-256, cobblestone-128/ },
  // seal: keys
  { name: 'seal without a key', args: () => ['seal', p('plain.bin'), fresh(), Q], exit: 2, err: /a key is needed: --key-file PATH/ },
  { name: 'seal --key-file missing', args: () => ['seal', p('plain.bin'), fresh(), ...key, p('none.key'), Q], exit: 3, err: /cannot read key file .*check the path exists/ },
  { name: 'seal --key-file a directory', args: () => ['seal', p('plain.bin'), fresh(), ...key, p('key-dir'), Q], exit: 3, err: /give a file, not a directory/ },
  ...(['k0', 'k24', 'k31', 'k33', 'hex24'] as const).map((k): Row => ({
    name: `seal --key-file ${k}.key (wrong size)`, args: () => ['seal', p('plain.bin'), fresh(), ...key, p(`${k}.key`), Q],
    exit: 2, err: /must hold a 32-byte \(or 16-byte\) key, raw or as hex.*weightseal keygen/ })),
  { name: 'seal --key-file and --key-env', args: () => ['seal', p('plain.bin'), fresh(), ...K(), '--key-env', 'WS_KEY', Q], exit: 2,
    err: /give one of --key-file and --key-env, not both/, env: { WS_KEY: Buffer.from(KEY).toString('hex') } },
  { name: 'seal --key-env unset', args: () => ['seal', p('plain.bin'), fresh(), '--key-env', 'WS_UNSET_KEY', Q], exit: 2, err: /is not set/ },
  { name: 'seal --key-env not hex', args: () => ['seal', p('plain.bin'), fresh(), '--key-env', 'WS_KEY', Q], exit: 2,
    err: /must hold the key as 64 \(or 32\) hex digits/, env: { WS_KEY: 'a5'.repeat(24) } },
  { name: 'seal 16-byte key with --suite cobblestone-256', args: () => ['seal', p('plain.bin'), fresh(), ...key, p('k16.key'), '--suite', 'cobblestone-256', Q],
    exit: 2, err: /needs a 32-byte key, got 16 bytes \(use suite 'cobblestone-128'/ },
  // seal: options
  ...(['0', '-1', '1.5', 'many'] as const).map((t): Row => ({
    name: `seal --threads ${t}`, args: () => ['seal', p('plain.bin'), fresh(), ...K(), `--threads=${t}`, Q], exit: 2,
    err: /--threads must be a positive integer/ })),
  { name: 'seal --suite bogus', args: () => ['seal', p('plain.bin'), fresh(), ...K(), '--suite', 'bogus', Q], exit: 2, err: /Allowed choices/ },
  { name: 'seal --backend cuda', args: () => ['seal', p('plain.bin'), fresh(), ...K(), '--backend', 'cuda', Q], exit: 2, err: /Allowed choices are native, noble, node/ },
  { name: 'seal unknown option', args: () => ['seal', p('plain.bin'), fresh(), ...K(), '--fast'], exit: 2, err: /unknown option '--fast'/ },
  { name: 'seal without OUT', args: () => ['seal', p('plain.bin'), ...K()], exit: 2, err: /missing required argument 'out'/ },
  { name: 'seal forced kernel this CPU lacks', args: () => ['seal', p('plain.bin'), fresh(), ...K(), '--backend', 'native', Q], exit: 2,
    err: NATIVE ? /unknown kernel "bogus"; choose one of/ : /the native addon is not loaded/, env: { WEIGHTSEAL_KERNEL: 'bogus' } },
  // seal: files
  { name: 'seal IN missing', args: () => ['seal', p('none.bin'), fresh(), ...K(), Q], exit: 3, err: /check the path exists/ },
  { name: 'seal IN a directory', args: () => ['seal', p('a-directory'), fresh(), ...K(), Q], exit: 3, err: /not a regular file/ },
  { name: 'seal OUT exists', args: () => ['seal', p('plain.bin'), p('exists'), ...K(), Q], exit: 3, err: /already exists; .*pass --overwrite/ },
  { name: 'seal OUT in a missing directory', args: () => ['seal', p('plain.bin'), p('nope/out'), ...K(), Q], exit: 3, err: /check the path exists/ },
  // open
  { name: 'open with the wrong key', args: () => ['open', p('hex.sealed'), fresh(), ...K(), Q], exit: 1, err: /check --key-file\/--key-env and --context/ },
  { name: 'open with a hex key file, wrong context', args: () => ['open', p('hex.sealed'), fresh(), ...key, p('hex.key'), '--context', 'v2', Q],
    exit: 1, err: /different key, suite or context/ },
  { name: 'open without the context it was sealed with', args: () => ['open', p('ctx.sealed'), fresh(), ...K(), Q], exit: 1, err: /--context/ },
  { name: 'open truncated', args: () => ['open', p('truncated.sealed'), fresh(), ...K(), Q], exit: 1, err: /truncated|cut short/ },
  { name: 'open a modified chunk', args: () => ['open', p('tampered.sealed'), fresh(), ...K(), Q], exit: 1, err: /chunk 1 failed authentication.*no plaintext of it was released/ },
  { name: 'open OUT exists', args: () => ['open', p('plain.sealed'), p('exists'), ...K(), Q], exit: 3, err: /pass --overwrite/ },
  { name: 'open IN missing', args: () => ['open', p('none.sealed'), fresh(), ...K(), Q], exit: 3, err: /check the path exists/ },
  { name: 'open a plaintext file', args: () => ['open', p('plain.bin'), fresh(), ...K(), Q], exit: 1, err: /key commitment mismatch/ },
  // verify
  { name: 'verify a modified chunk', args: () => ['verify', p('tampered.sealed'), ...K(), Q], exit: 1, err: /chunk 1 failed authentication/ },
  { name: 'verify IN missing', args: () => ['verify', p('none.sealed'), ...K(), Q], exit: 3, err: /check the path exists/ },
  { name: 'verify IN a directory', args: () => ['verify', p('a-directory'), ...K(), Q], exit: 3, err: /not a regular file/ },
  { name: 'verify without a key', args: () => ['verify', p('plain.sealed'), Q], exit: 2, err: /a key is needed/ },
  // inspect
  { name: 'inspect a sealed file that is not safetensors', args: () => ['inspect', p('plain.sealed'), ...K()], exit: 1, err: /not a valid safetensors file/ },
  { name: 'inspect with the wrong key', args: () => ['inspect', p('model.sealed'), ...key, p('hex.key')], exit: 1, err: /check --key-file\/--key-env and --context/ },
  { name: 'inspect IN missing', args: () => ['inspect', p('none.sealed'), ...K()], exit: 3, err: /check the path exists/ },
  { name: 'inspect IN a directory', args: () => ['inspect', p('a-directory'), ...K()], exit: 3, err: /give a file, not a directory/ },
  { name: 'inspect --plaintext IN missing', args: () => ['inspect', p('none.safetensors'), '--plaintext'], exit: 3, err: /check the path exists/ },
  { name: 'inspect --plaintext of a sealed file', args: () => ['inspect', p('model.sealed'), '--plaintext'], exit: 1, err: /not a valid safetensors file/ },
  // bench, demo, doctor
  { name: 'bench unknown benchmark', args: () => ['bench', 'gpu'], exit: 2, err: /unknown benchmark "gpu" \(kernels, pipeline or all\)/ },
  { name: 'demo --size lots', args: () => ['demo', '--size', 'lots', Q], exit: 2, err: /--size must look like 2GiB/ },
  { name: 'demo --size 1KiB', args: () => ['demo', '--size', '1KiB', Q], exit: 2, err: /--size must be at least 1 MiB/ },
  { name: 'demo --threads 0', args: () => ['demo', '--threads', '0', Q], exit: 2, err: /--threads must be a positive integer/ },
  { name: 'doctor with an argument', args: () => ['doctor', 'now'], exit: 2, err: /too many arguments for 'doctor'/ },
  { name: 'doctor unknown option', args: () => ['doctor', '--fix'], exit: 2, err: /unknown option '--fix'/ },
];

describe('weightseal: bad input rows', () => {
  it.each(ROWS)('$name -> exit $exit', async (row) => {
    const args = row.args();
    const r = await run(args, row.env);
    expect(r.code, r.err).toBe(row.exit);
    expect(r.err).toMatch(row.err);
    expect(r.err).not.toMatch(/\n\s+at .*\.(js|ts):\d+/); // no stack trace for a documented failure
    expectNoKeyIn(r, [KEY, RKEY]);
    // A failed seal/open never leaves its OUT or a temporary file behind.
    for (const f of readdirSync(dir)) expect(f, 'temporary file left behind').not.toMatch(/weightseal.*\.tmp$/);
    if (['seal', 'open'].includes(args[0]!) && args[2]?.startsWith(join(dir, 'out-'))) expect(existsSync(args[2])).toBe(false);
  });

  it('--json failure: stdout is one object with ok: false, the exit code and the error code', async () => {
    const r = await run(['verify', p('tampered.sealed'), ...K(), '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, exitCode: 1, error: { code: 'ERR_AUTH_FAILED' } });
    expectNoKeyIn(r, [KEY]);
  });

  it('--json usage failure carries ERR_INVALID_ARG and exit 2', async () => {
    const r = await run(['seal', p('plain.bin'), fresh(), ...key, p('k24.key'), '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'ERR_INVALID_ARG' } });
    expectNoKeyIn(r, [KEY]);
  });

  it('a key file readable by others: a warning on stderr that names the mode, never the key', async () => {
    writeFileSync(p('loose.key'), KEY, { mode: 0o644 });
    const r = await run(['verify', p('plain.sealed'), ...key, p('loose.key'), Q]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: key file .* \(mode 0644\); run: chmod 600/);
    expectNoKeyIn(r, [KEY]);
  });

  it('an unreadable input (chmod 000) -> exit 3', async (ctx) => {
    if (process.getuid?.() === 0) {
      console.log('skipped: running as root, which reads a chmod 000 file anyway');
      ctx.skip();
    }
    const { chmodSync } = await import('node:fs');
    writeFileSync(p('locked.bin'), PLAIN);
    chmodSync(p('locked.bin'), 0o000);
    const r = await run(['seal', p('locked.bin'), fresh(), ...K(), Q]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/check file permissions/);
  });
});
