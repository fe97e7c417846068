/**
 * openInMemory and `weightseal run` take an http(s):// URL like every other API that takes a
 * path (README "Load from object storage"): the model is read by ranges, headers reach the
 * server, and the URL's query string (a presigned signature) never appears on stderr.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInMemory } from '../src/index.js';
import { seal } from '../src/stream-api.js';
import { RangeServer } from './helpers/range-server.js';
import { MEMFD_READY, memfdSuite, ourMemfds } from './helpers/memfd.js';

const ENTRY = fileURLToPath(new URL('./fixtures/cli-from-source.mjs', import.meta.url));
const plaintext = new Uint8Array(randomBytes(300 * 1024 + 5)); // past 64 KiB: read in ranges
const key = new Uint8Array(randomBytes(32));
const SECRET = '?X-Amz-Signature=s3cr3tsig';
let server: RangeServer;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  server = await RangeServer.start({ authorization: 'Bearer tok3n' });
  server.set('/m.sealed', await seal(key, plaintext, { context: 'r' }));
  dir = await mkdtemp(join(tmpdir(), 'weightseal-run-remote-'));
  keyFile = join(dir, 'k.key');
  await writeFile(keyFile, key, { mode: 0o600 });
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [ENTRY, ...args], { stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d; });
  child.stderr.on('data', (d: Buffer) => { err += d; });
  child.stdin.end();
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

describe.skipIf(!MEMFD_READY)(memfdSuite('openInMemory and run from a URL'), () => {
  it('openInMemory reads a URL by ranges, with its headers', async () => {
    const before = ourMemfds();
    const mf = await openInMemory(server.url('/m.sealed', SECRET), key,
      { context: 'r', headers: { authorization: 'Bearer tok3n' }, connections: 2 });
    try {
      expect(Buffer.from(await readFile(mf.path)).equals(plaintext)).toBe(true);
    } finally {
      await mf.close();
    }
    expect(ourMemfds()).toEqual(before);
    expect(server.log.some((r) => r.range !== null)).toBe(true);
  });

  it('openInMemory of a missing URL is ERR_IO naming it without its query string', async () => {
    const e = await openInMemory(server.url('/nope', SECRET), key, { headers: { authorization: 'Bearer tok3n' } })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_IO' });
    expect(String((e as Error).message)).not.toContain('s3cr3t');
  });

  it('run URL --header reads the model and shows no secret', async () => {
    const r = await cli(['run', server.url('/m.sealed', SECRET), '--key-file', keyFile, '--context', 'r',
      '--header', 'Authorization: Bearer tok3n', '--connections', '2', '--',
      process.execPath, '-e', 'process.stdout.write(String(require("fs").readFileSync("{}").length))']);
    expect(r.err).not.toMatch(/s3cr3t|tok3n/);
    expect(r.out).toBe(String(plaintext.length));
    expect(r.code).toBe(0);
  });
});
