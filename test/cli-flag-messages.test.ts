/**
 * The command's messages name its own flags, not the library's options: `verify` of a plaintext
 * sharded index says --plaintext-index (not `plaintextIndex: true`) and then verifies with it;
 * an unavailable backend says --backend (not `backend "noble"`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { seal } from '../src/stream-api.js';

const key = new Uint8Array(randomBytes(32));
let dir: string;

function safetensors(name: string, size: number): Uint8Array {
  let h = JSON.stringify({ [name]: { dtype: 'U8', shape: [size], data_offsets: [0, size] } });
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const out = new Uint8Array(8 + h.length + size);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(Buffer.from(h), 8);
  out.set(randomBytes(size), 8 + h.length);
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-pindex-'));
  await writeFile(join(dir, 'k.key'), key, { mode: 0o600 });
  await writeFile(join(dir, 's1.safetensors'), await seal(key, safetensors('a', 100)));
  await writeFile(join(dir, 's2.safetensors'), await seal(key, safetensors('b', 200)));
  await writeFile(join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: { a: 's1.safetensors', b: 's2.safetensors' } }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (s) => { out += s + '\n'; }, err: (s) => { err += s + '\n'; } });
  return { code, out, err };
}

it('a plaintext index without --plaintext-index names the flag, then verifies with it', async () => {
  const index = join(dir, 'model.safetensors.index.json');
  const bad = await cli(['verify', index, '--key-file', join(dir, 'k.key'), '-q']);
  expect(bad.code).toBe(1);
  expect(bad.err).toContain('--plaintext-index');
  expect(bad.err).not.toContain('plaintextIndex');
  const ok = await cli(['verify', index, '--key-file', join(dir, 'k.key'), '--plaintext-index', '--json']);
  expect(ok.code).toBe(0);
  expect(JSON.parse(ok.out)).toMatchObject({ ok: true, authenticated: true });
});

it('an unavailable backend names the --backend flag', async () => {
  const { addonStatus } = await import('../src/backend/addon.js');
  if (addonStatus().addon) {
    // With the addon loaded --backend native works: provoke the error in a child without it.
    const { spawnSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const entry = fileURLToPath(new URL('./fixtures/cli-from-source.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [entry, 'verify', join(dir, 's1.safetensors'), '--key-file', join(dir, 'k.key'),
      '--backend', 'native', '-q'], { env: { ...process.env, WEIGHTSEAL_DISABLE_NATIVE: '1', WEIGHTSEAL_QUIET: '1' }, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/pass --backend noble or --backend node/);
  } else {
    const r = await cli(['verify', join(dir, 's1.safetensors'), '--key-file', join(dir, 'k.key'), '--backend', 'native', '-q']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/pass --backend noble or --backend node/);
  }
});
