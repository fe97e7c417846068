#!/usr/bin/env node
// Builds the native addon with cmake-js against node-api-headers, offline. An install never
// fails because of the addon (STYLE habit 10): on failure the reason is saved to
// build/addon-error.txt, and the package runs on the pure-JS backend and says so.
// `--strict` (npm run build) makes a failed build an error instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const errorFile = join(root, 'build', 'addon-error.txt');

function fail(reason) {
  mkdirSync(dirname(errorFile), { recursive: true });
  writeFileSync(errorFile, reason + '\n');
  const msg = `weightseal: native addon not built (${reason.split('\n')[0]}); ` +
    'the pure-JS backend will be used. Run `npx weightseal doctor` for details.';
  console.warn(msg);
  process.exit(strict ? 1 : 0);
}

if (process.env.WEIGHTSEAL_SKIP_ADDON) fail('WEIGHTSEAL_SKIP_ADDON is set');
if (!strict && !process.env.WEIGHTSEAL_BUILD_FROM_SOURCE && await prebuildWorks()) process.exit(0);
if (process.arch !== 'x64' && process.arch !== 'arm64') fail(`no kernels for ${process.arch} (x86-64 and arm64 only)`);

// The installed tarball's prebuilt binary for this platform (prebuilds/, matched as the loader
// does, src/backend/prebuild.ts): when it loads and passes its known-answer self-test there is
// nothing to build. Anything else (no match, musl, a failed load or self-test) builds, and so
// does WEIGHTSEAL_BUILD_FROM_SOURCE=1 (then the local build is used only if the prebuild fails).
async function prebuildWorks() {
  const finder = join(root, 'dist', 'src', 'backend', 'prebuild.js');
  if (!existsSync(join(root, 'prebuilds')) || !existsSync(finder)) return false;
  const { findPrebuild } = await import(pathToFileURL(finder).href);
  const { path, reason } = findPrebuild(root);
  if (!path) {
    console.log(`weightseal: ${reason}; building the addon from source`);
    return false;
  }
  try {
    const failed = createRequire(import.meta.url)(path).selfTest();
    if (failed) throw new Error(`self-test failed: ${failed}`);
  } catch (e) {
    console.log(`weightseal: the ${reason} did not work here (${e.message.split('\n')[0]}); building from source`);
    return false;
  }
  rmSync(errorFile, { force: true });
  console.log(`weightseal: using the ${reason} (self-test passed); nothing to build`);
  return true;
}

let cli;
try {
  cli = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
} catch {
  fail('cmake-js is not installed');
}
rmSync(errorFile, { force: true });
const r = spawnSync(process.execPath, [cli, 'compile', '--directory', root, '--out', 'build'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'pipe'],
  encoding: 'utf8',
});
if (r.stderr) process.stderr.write(r.stderr);
if (r.error) fail(`cmake-js could not run: ${r.error.message}`);
if (r.status !== 0) {
  const tail = (r.stderr || '').trim().split('\n').slice(-20).join('\n');
  fail(`cmake-js exited with status ${r.status}\n${tail}`);
}
