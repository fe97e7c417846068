// Child process for test/worker-start.test.ts: takes every free file descriptor, runs a
// 2-thread seal (its pool workers cannot start), frees them, and runs it again. Prints one
// JSON line; the process must neither exit early nor hang.
import { closeSync, openSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('../..', import.meta.url).pathname;
register(pathToFileURL(join(root, 'src/pipeline/ts-hooks.mjs')).href, import.meta.url);
const { seal, open } = await import(pathToFileURL(join(root, 'src/index.ts')).href);

const key = new Uint8Array(32).fill(1);
const pt = new Uint8Array(8 * 16384 + 5).fill(2);
// A JS backend: only those run on piscina workers (which need descriptors to start); the native
// backend's threads are the addon's own pthreads, which need none.
const opts = { threads: 2, slotBytes: 16384, backend: 'node' };
const result = { held: 0, starved: null, recovered: null };
const hang = setTimeout(() => {
  process.stdout.write(JSON.stringify({ ...result, hung: true }) + '\n');
  process.exit(3);
}, 20_000);

const held = [];
try {
  for (;;) held.push(openSync('/dev/null', 'r'));
} catch {
  result.held = held.length;
}
try {
  await seal(key, pt, opts);
  result.starved = { ok: true };
} catch (e) {
  result.starved = { code: e.code, cause: e.cause?.code ?? null, message: e.message };
}
for (const fd of held) closeSync(fd);
try {
  const sealed = await seal(key, pt, opts);
  const back = await open(key, sealed, opts);
  result.recovered = { ok: back.length === pt.length && back.every((b) => b === 2) };
} catch (e) {
  result.recovered = { code: e.code, message: e.message };
}
clearTimeout(hang);
process.stdout.write(JSON.stringify(result) + '\n');
