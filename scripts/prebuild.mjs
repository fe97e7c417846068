#!/usr/bin/env node
// Builds the prebuilt addons the npm tarball carries: `npm run prebuilds`, and `prepack`.
// (Not named "prebuild": npm would run that before every `npm run build`.)
//   prebuilds/linux-x64/node.napi.glibc.node     this machine's compiler
//   prebuilds/linux-arm64/node.napi.glibc.node   g++-aarch64-linux-gnu, cmake/aarch64-linux-gnu.cmake
// Node-API 8, so one binary per platform serves Node 20, 22 and 24. The names follow
// node-gyp-build's tags; "glibc" keeps them from loading on musl (Alpine). Each binary is
// portable: static libstdc++/libgcc, no GLIBC version above 2.28, instruction-set flags on the
// kernel files only (CMakeLists.txt); test/prebuild.test.ts checks all three.
// Fails when a target cannot be built, so `npm pack` never ships a tarball without them.
// `--clean` removes prebuilds/ (postpack: a checkout then loads its own build/ again).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuilds = join(root, 'prebuilds');

if (process.argv.includes('--clean')) {
  rmSync(prebuilds, { recursive: true, force: true });
  process.exit(0);
}

const TARGETS = [
  { name: 'linux-x64', cmake: [] },
  {
    name: 'linux-arm64',
    cmake: [`--CDCMAKE_TOOLCHAIN_FILE=${join(root, 'cmake', 'aarch64-linux-gnu.cmake')}`],
    needs: 'aarch64-linux-gnu-g++',
    apt: 'g++-aarch64-linux-gnu',
  },
];

function die(msg) {
  console.error(`weightseal prebuild: ${msg}`);
  process.exit(1);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  die(`prebuilds are made on linux-x64 (this is ${process.platform}-${process.arch})`);
}
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const cli = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');

for (const t of TARGETS) {
  if (only && only !== t.name) continue;
  if (t.needs && spawnSync(t.needs, ['--version'], { stdio: 'ignore' }).status !== 0) {
    die(`${t.name} needs ${t.needs}: apt-get install ${t.apt}`);
  }
  const out = join(root, 'build-prebuild', t.name);
  console.log(`weightseal prebuild: building ${t.name}`);
  const r = spawnSync(process.execPath, [cli, 'compile', '--directory', root, '--out', out,
    '--CDCMAKE_EXPORT_COMPILE_COMMANDS=ON', ...t.cmake], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) die(`${t.name}: cmake-js exited with status ${r.status}`);
  const dest = join(prebuilds, t.name);
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  copyFileSync(join(out, 'Release', 'weightseal.node'), join(dest, 'node.napi.glibc.node'));
  console.log(`weightseal prebuild: prebuilds/${t.name}/node.napi.glibc.node`);
}
