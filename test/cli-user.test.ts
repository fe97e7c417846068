// Issue 14, command side: stdin/stdout and pipes, --json for every failure, bench that never
// writes docs, keygen --hex, verify of a sharded index, and the messages users tripped on.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchPlan, runCli } from '../src/cli/program.js';
import { formatEta } from '../src/cli/progress.js';
import { mayWriteDocs, parseFlags } from '../bench/report.js';
import { sealInline } from '../src/format.js';
import { safetensorsBytes, SMALL_MODEL } from './fixtures/safetensors.js';

const ENTRY = fileURLToPath(new URL('./fixtures/cli-from-source.mjs', import.meta.url));
const PLAIN = new Uint8Array(3 * 16384 + 999).map((_, i) => (i * 13) & 0xff);
let dir: string;
let keyFile: string;
let key: Uint8Array;
const p = (name: string) => join(dir, name);

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

/** A child process with binary stdout, for `-` and signals. */
function child(args: string[], stdin?: Uint8Array | 'keep-open') {
  const c = spawn(process.execPath, [ENTRY, ...args], { stdio: 'pipe', cwd: dir });
  const out: Buffer[] = [];
  let err = '';
  c.stdout.on('data', (d: Buffer) => out.push(d));
  c.stderr.on('data', (d: Buffer) => { err += d; });
  if (stdin instanceof Uint8Array) c.stdin.end(stdin);
  else if (stdin !== 'keep-open') c.stdin.end();
  const done = new Promise<{ code: number | null; out: Buffer; err: string }>((resolve) =>
    c.on('close', (code) => resolve({ code, out: Buffer.concat(out), err })));
  return { c, done };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weightseal-cli-user-'));
  keyFile = p('k.key');
  expect((await cli('keygen', keyFile)).code).toBe(0);
  key = new Uint8Array(readFileSync(keyFile));
  writeFileSync(p('plain.bin'), PLAIN);
  writeFileSync(p('plain.sealed'), sealInline(key, PLAIN, { backend: 'node' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stdin and stdout', () => {
  it('seal - reads stdin; open IN - writes verified plaintext to stdout; the summary goes to stderr', async () => {
    const s = await child(['seal', '-', 'from-stdin.sealed', '--key-file', keyFile, '--threads', '1'], PLAIN).done;
    expect(s.code, s.err).toBe(0);
    const o = await child(['open', 'from-stdin.sealed', '-', '--key-file', keyFile, '--threads', '1']).done;
    expect(o.code, o.err).toBe(0);
    expect(o.out.equals(Buffer.from(PLAIN))).toBe(true);
    expect(o.err).toMatch(/opened from-stdin.sealed -> stdout/);
  });

  it('seal - - streams stdin to stdout; --json goes to stderr then', async () => {
    const s = await child(['seal', '-', '-', '--key-file', keyFile, '--json'], PLAIN).done;
    expect(s.code, s.err).toBe(0);
    // stderr may start with the no-addon warning (WEIGHTSEAL_DISABLE_NATIVE): the JSON follows it.
    expect(JSON.parse(s.err.slice(s.err.indexOf('{\n')))).toMatchObject({ ok: true, input: '-', output: '-', bytesIn: PLAIN.length });
    writeFileSync(p('piped.sealed'), s.out);
    const o = await child(['open', 'piped.sealed', '-', '--key-file', keyFile]).done;
    expect(o.out.equals(Buffer.from(PLAIN))).toBe(true);
  });

  it('open to stdout of a modified file releases only verified chunks and exits 1', async () => {
    const t = Buffer.from(readFileSync(p('plain.sealed')));
    t[56 + 2 * 16400 + 1]! ^= 1; // chunk 2
    writeFileSync(p('bad.sealed'), t);
    const o = await child(['open', 'bad.sealed', '-', '--key-file', keyFile, '--threads', '1']).done;
    expect(o.code).toBe(1);
    expect(o.err).toMatch(/ERR_AUTH_FAILED|authentication failed|chunk 2/);
    expect(o.out.length).toBeLessThanOrEqual(2 * 16384);
    expect(o.out.equals(Buffer.from(PLAIN.subarray(0, o.out.length)))).toBe(true);
  });

  it('a FIFO (what <(cmd) gives) is streamed as input, not refused as a directory', { timeout: 60_000 }, async () => {
    execFileSync('mkfifo', [p('in.fifo')]);
    const writer = spawn('sh', ['-c', `cat "${p('plain.bin')}" > "${p('in.fifo')}"`], { stdio: 'ignore' });
    const writerDone = new Promise((r) => writer.on('close', r));
    const s = await child(['seal', p('in.fifo'), 'from-fifo.sealed', '--key-file', keyFile]).done;
    await writerDone;
    expect(s.code, s.err).toBe(0);
    const o = await child(['open', 'from-fifo.sealed', '-', '--key-file', keyFile]).done;
    expect(o.out.equals(Buffer.from(PLAIN))).toBe(true);
  });

  it('refuses IN - together with --key-file -', async () => {
    const r = await cli('seal', '-', p('x'), '--key-file', '-');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cannot both be - \(stdin\)/);
  });
});

describe('--json on every failure', () => {
  it('usage errors print { ok: false } too', async () => {
    for (const argv of [['seal', '--json'], ['seal', 'a', 'b', '--json', '--bogus'], ['verify', '--json', '--threads', '0', 'x']]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(JSON.parse(r.out)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'ERR_USAGE' } });
    }
  });

  it('an interrupt prints { ok: false, exitCode: 130 }', async () => {
    const c = child(['seal', '-', 'never.sealed', '--key-file', keyFile, '--json'], 'keep-open');
    c.c.stdin.write(PLAIN);
    // The temporary file exists once the command is under way (its signal handlers installed).
    const started = Date.now();
    while (!readdirSync(dir).some((n) => n.startsWith('.never.sealed.weightseal-')) && Date.now() - started < 25_000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    c.c.kill('SIGINT');
    const r = await c.done;
    expect(r.code).toBe(130);
    expect(JSON.parse(r.out.toString())).toMatchObject({ ok: false, exitCode: 130, error: { code: 'ERR_ABORTED' } });
    expect(existsSync(p('never.sealed'))).toBe(false);
  }, 40_000);

  it('doctor --json has ok', async () => {
    const r = await cli('doctor', '--json');
    const j = JSON.parse(r.out);
    expect(typeof j.ok).toBe('boolean');
    expect(j.ok).toBe(j.error === null);
    expect(r.code).toBe(j.ok ? 0 : 2);
  });
});

describe('bench', () => {
  it('takes the name as optional: bench --json F runs all, writing F per bench', () => {
    expect(benchPlan(['--json', 'F.json'])).toEqual([
      { name: 'kernels', args: ['--json', 'F.kernels.json'] },
      { name: 'pipeline', args: ['--json', 'F.pipeline.json'] },
    ]);
    expect(benchPlan(['kernels', '--json', 'F', '--quick'])).toEqual([{ name: 'kernels', args: ['--json', 'F', '--quick'] }]);
    expect(benchPlan([])).toHaveLength(2);
  });

  it('never writes docs from the command; the bench scripts write them only when asked', async () => {
    const r = await cli('bench', 'kernels', '--write-docs');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--write-docs is for the repository/);
    expect((await cli('bench', 'bogus')).code).toBe(2);
    // Through the real parser: --json F reaches the plan as options, not as a benchmark named F.
    const j = await cli('bench', '--json', 'F', '--write-docs');
    expect(j.code).toBe(2);
    expect(j.err).toMatch(/--write-docs is for the repository/);
    expect(j.err).not.toMatch(/unknown benchmark/);
    expect(mayWriteDocs(parseFlags([]))).toBe(false);
    expect(mayWriteDocs(parseFlags(['--write-docs', '--quick']))).toBe(false);
    expect(parseFlags(['--write-docs']).writeDocs).toBe(true);
  });
});

describe('keys', () => {
  it('keygen --hex writes 64 hex digits, mode 0600, usable by --key-env and --key-file', async () => {
    const path = p('hex.key');
    expect((await cli('keygen', '--hex', path)).code).toBe(0);
    const text = readFileSync(path, 'latin1');
    expect(text).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await cli('seal', p('plain.bin'), p('hex.sealed'), '--key-file', path)).code).toBe(0);
    process.env.WS_TEST_HEX_KEY = text.trim();
    try {
      expect((await cli('verify', p('hex.sealed'), '--key-env', 'WS_TEST_HEX_KEY')).code).toBe(0);
    } finally {
      delete process.env.WS_TEST_HEX_KEY;
    }
  });

  it('a hex key file with one bad character says which character, not its byte count', async () => {
    const path = p('typo.key');
    writeFileSync(path, 'a'.repeat(40) + 'g' + 'a'.repeat(23) + '\n', { mode: 0o600 });
    const r = await cli('verify', p('plain.sealed'), '--key-file', path);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/looks like a hex key but character 41 of 64 is not a hex digit/);
    expect(r.err).not.toMatch(/65 bytes/);
  });
});

describe('verify', () => {
  it('reports plaintext and sealed sizes as what they are', async () => {
    const r = await cli('verify', p('plain.sealed'), '--key-file', keyFile, '--json');
    const j = JSON.parse(r.out);
    expect(j.bytesIn).toBe(statSync(p('plain.sealed')).size);
    expect(j.bytesOut).toBe(PLAIN.length);
    const h = await cli('verify', p('plain.sealed'), '--key-file', keyFile);
    expect(h.out).toMatch(/OK, 49\.0 KiB of plaintext authenticated in 49\.1 KiB sealed/);
  });

  it('verifies a sharded checkpoint through its index, and fails on a bad shard', async () => {
    const d = p('ck');
    mkdirSync(d);
    const a = safetensorsBytes(SMALL_MODEL.slice(0, 3));
    const b = safetensorsBytes(SMALL_MODEL.slice(3));
    const map = Object.fromEntries([
      ...SMALL_MODEL.slice(0, 3).map((t) => [t.name, 'a.safetensors']),
      ...SMALL_MODEL.slice(3).map((t) => [t.name, 'b.safetensors']),
    ]);
    writeFileSync(join(d, 'a.safetensors'), sealInline(key, a.bytes, { backend: 'node' }));
    const bSealed = Buffer.from(sealInline(key, b.bytes, { backend: 'node' }));
    writeFileSync(join(d, 'b.safetensors'), bSealed);
    const index = new TextEncoder().encode(JSON.stringify({ weight_map: map }));
    writeFileSync(join(d, 'model.safetensors.index.json'), sealInline(key, index, { backend: 'node' }));
    const ok = await cli('verify', join(d, 'model.safetensors.index.json'), '--key-file', keyFile, '--json');
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ ok: true, authenticated: true, bytesOut: a.bytes.length + b.bytes.length });
    expect(JSON.parse(ok.out).shards).toHaveLength(2);
    bSealed[bSealed.length - 3]! ^= 1;
    writeFileSync(join(d, 'b.safetensors'), bSealed);
    const bad = await cli('verify', join(d, 'model.safetensors.index.json'), '--key-file', keyFile);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/b\.safetensors/);
  });
});

describe('messages', () => {
  it('inspect without a key mentions --plaintext; a sealed file under --plaintext says it is sealed', async () => {
    const r = await cli('inspect', p('plain.sealed'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--plaintext/);
    writeFileSync(p('st.sealed'), sealInline(key, safetensorsBytes(SMALL_MODEL).bytes, { backend: 'node' }));
    const s = await cli('inspect', p('st.sealed'), '--plaintext');
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/this file is sealed.*drop --plaintext/);
  });

  it('wrong context names the command\'s options; a directory OUT does not suggest --overwrite', async () => {
    const w = await cli('open', p('plain.sealed'), p('w.out'), '--key-file', keyFile, '--context', 'nope');
    expect(w.code).toBe(1);
    expect(w.err).toMatch(/--context/);
    mkdirSync(p('outdir'));
    const d = await cli('seal', p('plain.bin'), p('outdir'), '--key-file', keyFile);
    expect(d.code).toBe(3);
    expect(d.err).toMatch(/is a directory/);
    expect(d.err).not.toMatch(/--overwrite/);
    const o = await cli('seal', p('plain.bin'), p('outdir'), '--key-file', keyFile, '--overwrite');
    expect(o.code).toBe(3);
  });

  it('ETA never reads 60 in a field', () => {
    expect(formatEta(3 * 3600 + 59 * 60 + 59.6)).toBe('4h00m');
    expect(formatEta(3599.7)).toBe('1h00m');
    expect(formatEta(119.6)).toBe('2m00s');
    expect(formatEta(59.4)).toBe('59s');
    expect(formatEta(NaN)).toBe('--');
  });

  it('demo --help prints the size default once', async () => {
    const r = await cli('demo', '--help');
    expect(r.out.match(/2GiB"?\)/g)?.length ?? 0).toBe(1);
  });
});
