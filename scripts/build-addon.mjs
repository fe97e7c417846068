#!/usr/bin/env node
// Builds the native addon with cmake-js against node-api-headers, offline. An install never
// fails because of the addon (STYLE habit 10): on failure the reason is saved to
// build/addon-error.txt, and the package runs on the pure-JS backend and says so.
// `--strict` (npm run build) makes a failed build an error instead.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
if (process.arch !== 'x64') fail(`no kernels for ${process.arch} (x86-64 only)`);

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
