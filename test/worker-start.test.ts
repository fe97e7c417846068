/**
 * Issue 13, item 7: pool workers that cannot start (no file descriptors left). The call
 * rejects with ERR_IO carrying the worker error as its cause, the process does not exit on
 * piscina's 'error' event, and the next call, with descriptors freed, runs on a new pool.
 * In a child process (helpers/emfile-child.mjs) under a small `ulimit -n`, so starving it is quick.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./helpers/emfile-child.mjs', import.meta.url));

it.runIf(process.platform === 'linux')('a pool that cannot start workers rejects with ERR_IO and recovers', () => {
  const r = spawnSync('bash', ['-c', `ulimit -n 1024 && exec "${process.execPath}" "${CHILD}"`], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, WEIGHTSEAL_QUIET: '1' },
  });
  expect(r.status, r.stderr).toBe(0); // not killed by an unhandled 'error' event, not hung
  const out = JSON.parse(r.stdout) as {
    held: number; starved: { code?: string; cause?: string; message?: string }; recovered: { ok?: boolean };
  };
  expect(out.held).toBeGreaterThan(0);
  expect(out.starved.code).toBe('ERR_IO');
  expect(out.starved.cause).toBe('ERR_WORKER_INIT_FAILED');
  expect(out.starved.message).toMatch(/ulimit -n|threads: 1/);
  expect(out.recovered.ok).toBe(true);
});
