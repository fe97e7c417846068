/**
 * Load order (src/backend/addon.ts): a matching prebuild, then the local build, then noble.
 * Each case lays out a copy of the package (dist/, package.json, node_modules linked) with the
 * prebuilds/ and build/ it describes, and asks info() in a child process what loaded and why.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonStatus, packageRoot } from '../src/backend/addon.js';

const root = packageRoot();
const built = join(root, 'build', 'Release', 'weightseal.node');
let dir: string;

beforeAll(() => {
  if (!existsSync(join(root, 'dist/src/index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'weightseal-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Layout {
  prebuilds?: Record<string, 'addon' | 'garbage'>;
  build?: boolean;
}

function packageCopy(name: string, layout: Layout): string {
  const pkg = join(dir, name);
  mkdirSync(pkg);
  cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
  for (const [file, what] of Object.entries(layout.prebuilds ?? {})) {
    mkdirSync(join(pkg, 'prebuilds', file, '..'), { recursive: true });
    if (what === 'addon') copyFileSync(built, join(pkg, 'prebuilds', file));
    else writeFileSync(join(pkg, 'prebuilds', file), 'not a shared object');
  }
  if (layout.build) {
    mkdirSync(join(pkg, 'build', 'Release'), { recursive: true });
    copyFileSync(built, join(pkg, 'build', 'Release', 'weightseal.node'));
  }
  return pkg;
}

function infoOf(pkg: string) {
  const { WEIGHTSEAL_DISABLE_NATIVE: _d, WEIGHTSEAL_KERNEL: _k, WEIGHTSEAL_ADDON: _a, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { info } from ${JSON.stringify(join(pkg, 'dist/src/index.js'))};
    const i = info();
    console.log(JSON.stringify({ backend: i.backend, ...i.addon }));
  `], { encoding: 'utf8', env: { ...env, WEIGHTSEAL_QUIET: '1' }, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

const native = !process.env.WEIGHTSEAL_DISABLE_NATIVE && process.platform === 'linux' && process.arch === 'x64' &&
  existsSync(built);

describe.skipIf(!native)('which addon loads', () => {
  it('the matching prebuild first, even with a local build present', () => {
    const pkg = packageCopy('both', {
      prebuilds: { 'linux-x64/node.napi.glibc.node': 'addon', 'linux-arm64/node.napi.glibc.node': 'garbage' },
      build: true,
    });
    const i = infoOf(pkg);
    expect(i).toMatchObject({ backend: 'native', loaded: true, source: 'prebuild', errors: [] });
    expect(i.path).toBe(join(pkg, 'prebuilds/linux-x64/node.napi.glibc.node'));
    expect(i.reason).toBe('prebuilt binary for linux-x64; it passed its self-test');
  });

  it('the local build when the prebuild cannot load, with the prebuild\'s error kept', () => {
    const pkg = packageCopy('broken-prebuild', { prebuilds: { 'linux-x64/node.napi.glibc.node': 'garbage' }, build: true });
    const i = infoOf(pkg);
    expect(i).toMatchObject({ backend: 'native', source: 'build' });
    expect(i.errors.join('\n')).toMatch(/prebuilds\/linux-x64\/node\.napi\.glibc\.node: .*(invalid ELF header|too short)/);
    expect(i.reason).toMatch(/local build from source \(the prebuilt binary failed/);
  });

  it('no prebuild for this platform or this C library: the local build, and the reason says so', () => {
    const other = infoOf(packageCopy('arm-only', { prebuilds: { 'linux-arm64/node.napi.glibc.node': 'addon' }, build: true }));
    expect(other).toMatchObject({ source: 'build', errors: [] });
    expect(other.reason).toMatch(/no prebuilt binary for linux-x64 \(shipped: linux-arm64\)/);
    const musl = infoOf(packageCopy('musl-only', { prebuilds: { 'linux-x64/node.napi.musl.node': 'addon' }, build: true }));
    expect(musl).toMatchObject({ source: 'build', errors: [] });
    expect(musl.reason).toMatch(/prebuilds\/linux-x64 has no binary for this C library/);
  });

  it('noble when neither loads, naming both failures', () => {
    const i = infoOf(packageCopy('nothing', { prebuilds: { 'linux-x64/node.napi.glibc.node': 'garbage' } }));
    expect(i).toMatchObject({ backend: 'noble', loaded: false, source: null });
    expect(i.errors.join('\n')).toMatch(/node\.napi\.glibc\.node: .*(invalid ELF header|too short)/);
    expect(i.errors.join('\n')).toMatch(/build\/Release\/weightseal\.node: not found/);
  });
});

it('this process\'s addon passed its own known-answer self-test', () => {
  const { addon } = addonStatus();
  if (!addon) return;
  expect(addon.selfTest!()).toBeNull();
});
