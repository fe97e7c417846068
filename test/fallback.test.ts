/**
 * The package without a working addon (no compiler at install, another CPU, a corrupt build):
 * `import 'weightseal'` still works on the noble backend, says so once on stderr, and info()
 * lists why. Each case runs a copy of dist/ in a child process, so this process's addon stays
 * loaded.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/backend/addon.js';
import { cpuinfoReport } from '../src/backend/cpuinfo.js';

const root = packageRoot();
let dir: string;

// Seals and opens through the default backend and prints what info() says.
const script = (pkg: string) => `
  import { seal, open, info } from ${JSON.stringify(join(pkg, 'dist/src/index.js'))};
  const key = new Uint8Array(32).fill(3), data = new Uint8Array(40000).map((_, i) => i);
  const back = await open(key, await seal(key, data, { threads: 1 }), { threads: 1 });
  await open(key, await seal(key, data, { threads: 1 }), { threads: 1 });
  const i = info();
  console.log(JSON.stringify({ same: Buffer.from(back).equals(data), backend: i.backend, kernel: i.kernel, addon: i.addon, cpu: i.cpu }));
`;

function runCopy(pkg: string, env: Record<string, string> = {}) {
  // Only what the case sets: a suite run with these set (to test the fallback) must not leak them in.
  const { WEIGHTSEAL_QUIET: _q, WEIGHTSEAL_DISABLE_NATIVE: _d, WEIGHTSEAL_KERNEL: _k, ...inherited } = process.env;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(pkg)], {
    encoding: 'utf8', env: { ...inherited, ...env }, timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return { out: JSON.parse(r.stdout.trim().split('\n').at(-1)!), stderr: r.stderr };
}

/** dist/ and package.json copied, node_modules linked: everything but the addon build. */
function packageCopy(name: string): string {
  const pkg = join(dir, name);
  mkdirSync(pkg);
  cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
  return pkg;
}

beforeAll(() => {
  if (!existsSync(join(root, 'dist/src/index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'weightseal-fallback-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('without the native addon', () => {
  it('works on noble when the addon was never built, says so once, and info() says why', () => {
    const pkg = packageCopy('unbuilt');
    const { out, stderr } = runCopy(pkg);
    expect(out.same).toBe(true);
    expect(out.backend).toBe('noble');
    expect(out.kernel).toBeNull();
    expect(out.addon.loaded).toBe(false);
    expect(out.addon.errors.join('\n')).toMatch(/weightseal\.node: not found \(run `npm run build`\)/);
    expect(stderr.match(/native AES-GCM unavailable/g), stderr).toHaveLength(1);
    expect(stderr).toMatch(/weightseal doctor/);
    // Without cpuid from the addon, the CPU is still described (this machine's own flags).
    expect(out.cpu.source).toBe('/proc/cpuinfo');
    expect(out.cpu.features).toEqual(cpuinfoReport()!.features);
    expect(out.cpu.xcr0).toBeNull();
  });

  it('works on noble when the built addon cannot load, and reports the load error and the build log', () => {
    const pkg = packageCopy('corrupt');
    mkdirSync(join(pkg, 'build/Release'), { recursive: true });
    writeFileSync(join(pkg, 'build/Release/weightseal.node'), 'not a shared object');
    writeFileSync(join(pkg, 'build/addon-error.txt'), 'cmake-js: no C++ compiler found');
    const { out, stderr } = runCopy(pkg);
    expect(out.same).toBe(true);
    expect(out.backend).toBe('noble');
    const errors = out.addon.errors.join('\n');
    expect(errors).toMatch(/build: cmake-js: no C\+\+ compiler found/);
    expect(errors).toMatch(/build\/Release\/weightseal\.node: .*(invalid ELF header|too short|file too short)/);
    expect(stderr.match(/native AES-GCM unavailable/g), stderr).toHaveLength(1);
  });

  it('is silent with WEIGHTSEAL_QUIET, and WEIGHTSEAL_DISABLE_NATIVE turns a working addon off', () => {
    const { out, stderr } = runCopy(root, { WEIGHTSEAL_QUIET: '1', WEIGHTSEAL_DISABLE_NATIVE: '1' });
    expect(out.same).toBe(true);
    expect(out.backend).toBe('noble');
    expect(out.addon.errors).toContain('WEIGHTSEAL_DISABLE_NATIVE is set');
    expect(stderr).not.toMatch(/native AES-GCM unavailable/);
    const doctor = spawnSync(process.execPath, [join(root, 'dist/src/cli/main.js'), 'doctor'], {
      encoding: 'utf8', env: { ...process.env, WEIGHTSEAL_QUIET: '1', WEIGHTSEAL_DISABLE_NATIVE: '1' },
    });
    expect(doctor.stdout).toMatch(/addon\s+NOT loaded/);
    expect(doctor.stdout).toMatch(/WEIGHTSEAL_DISABLE_NATIVE is set, so the native addon is not used; unset it/);
  });
});

describe('CPU features from /proc/cpuinfo', () => {
  it('maps the kernel\'s flag names and reads OS vector state from avx / avx512f', () => {
    const r = cpuinfoReport('processor\t: 0\nflags\t\t: fpu sse4_1 aes pclmulqdq avx avx2 vaes\nbugs\t\t:\n')!;
    expect(r.features).toMatchObject({ sse41: true, aes: true, pclmulqdq: true, avx2: true, vaes: true,
      vpclmulqdq: false, avx512f: false, ssse3: false });
    expect(r).toMatchObject({ source: '/proc/cpuinfo', xcr0: null, osYmm: true, osZmm: false });
    expect(cpuinfoReport('no flags here')).toBeNull();
  });
});
