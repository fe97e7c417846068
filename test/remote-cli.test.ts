/**
 * The command with URL inputs: open, verify and inspect read http:// objects; --header carries
 * credentials; neither the token nor a presigned query string appears in any output, --json
 * included, whether the command succeeds or fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { sealInline } from '../src/format.js';
import { SealedSafetensors } from '../src/index.js';
import { SMALL_MODEL, safetensorsBytes, type FixtureTensor } from './fixtures/safetensors.js';
import { same } from './helpers/bytes.js';
import { RangeServer } from './helpers/range-server.js';

const TOKEN = 'Bearer cli-secret-token-98765';
const QUERY = '?X-Amz-Signature=cafe0123456789signature&X-Amz-Credential=AKIACLISECRET';
const key = new Uint8Array(randomBytes(32));
const { bytes: plain } = safetensorsBytes(SMALL_MODEL, { format: 'pt' });
/** A sharded checkpoint: two sealed shards and a sealed index beside them. */
const SHARDED: FixtureTensor[] = Array.from({ length: 6 }, (_, i) => ({ name: `layers.${i}.weight`, dtype: 'F32' as const,
  shape: [64, 65 + i] }));
const plainA = safetensorsBytes(SHARDED.slice(0, 3), {}, 21).bytes;
const plainB = safetensorsBytes(SHARDED.slice(3), {}, 22).bytes;
const shardA = sealInline(key, plainA);
const shardB = sealInline(key, plainB);
const weightMap = Object.fromEntries(SHARDED.map((t, i) => [t.name, i < 3 ? 'model-00001-of-00002.safetensors' :
  'model-00002-of-00002.safetensors']));
const indexBytes = sealInline(key, new TextEncoder().encode(JSON.stringify({ weight_map: weightMap })));

let server: RangeServer;
let dir: string;
let keyFile: string;
beforeAll(async () => {
  server = await RangeServer.start({ authorization: TOKEN });
  server.set('/model.safetensors', sealInline(key, plain));
  server.set('/sharded/model.safetensors.index.json', indexBytes);
  server.set('/sharded/model-00001-of-00002.safetensors', shardA);
  server.set('/sharded/model-00002-of-00002.safetensors', shardB);
  dir = await mkdtemp(join(tmpdir(), 'weightseal-rcli-'));
  keyFile = join(dir, 'k.key');
  await writeFile(keyFile, key);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

function noSecrets(text: string): void {
  for (const s of ['cli-secret-token-98765', 'cafe0123456789signature', 'AKIACLISECRET', 'X-Amz-Signature']) {
    expect(text).not.toContain(s);
  }
}

describe('weightseal with URL inputs', () => {
  const url = () => server.url('/model.safetensors', QUERY);

  it('open URL OUT --json', async () => {
    const out = join(dir, 'opened.safetensors');
    const r = await cli('open', url(), out, '--key-file', keyFile, '--header', `Authorization: ${TOKEN}`,
      '--connections', '2', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, input: server.url('/model.safetensors') });
    expect(same(await readFile(out), plain)).toBe(true);
    noSecrets(r.out + r.err);
  });

  it('verify URL and inspect URL', async () => {
    const v = await cli('verify', url(), '--key-file', keyFile, '--header', `Authorization: ${TOKEN}`);
    expect(v.code).toBe(0);
    expect(v.out).toContain(server.url('/model.safetensors'));
    const i = await cli('inspect', url(), '--key-file', keyFile, '--header', `Authorization: ${TOKEN}`, '--json');
    expect(i.code).toBe(0);
    expect(JSON.parse(i.out)).toMatchObject({ tensors: SMALL_MODEL.length, file: server.url('/model.safetensors') });
    noSecrets(v.out + v.err + i.out + i.err);
  });

  it('a refused request exits 3 with ERR_IO and no secret in --json or stderr', async () => {
    const r = await cli('verify', url(), '--key-file', keyFile, '--header', `Authorization: ${TOKEN}x`, '--json');
    expect(r.code).toBe(3);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: 'ERR_IO' } });
    expect(r.err).toContain('HTTP 403');
    noSecrets(r.out + r.err);
  });
});

describe('weightseal verify of a sharded index by URL', () => {
  const index = (query = QUERY) => server.url('/sharded/model.safetensors.index.json', query);
  const auth = ['--header', `Authorization: ${TOKEN}`];

  it('authenticates the index and every shard, naming each without secrets', async () => {
    const r = await cli('verify', index(), '--key-file', keyFile, ...auth, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ ok: true, authenticated: true, input: server.url('/sharded/model.safetensors.index.json') });
    expect(j.shards.map((x: { path: string }) => x.path)).toEqual([
      server.url('/sharded/model-00001-of-00002.safetensors'), server.url('/sharded/model-00002-of-00002.safetensors')]);
    expect(j.bytesIn).toBe(shardA.length + shardB.length);
    // Every shard was opened to its end, not only its header: all of its plaintext came out.
    expect(j.bytesOut).toBe(plainA.length + plainB.length);
    noSecrets(r.out + r.err);
    const text = await cli('verify', index(), '--key-file', keyFile, ...auth);
    expect(text.code).toBe(0);
    expect(text.out).toContain('index and 2 shards authenticated');
  });

  it('a shard with a flipped byte in its tensor data fails ERR_AUTH_FAILED', async () => {
    const bad = shardB.slice();
    bad[bad.length - 100]! ^= 1;
    server.set('/sharded/model-00002-of-00002.safetensors', bad);
    try {
      const r = await cli('verify', index(), '--key-file', keyFile, ...auth, '--json');
      expect(r.code).not.toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: 'ERR_AUTH_FAILED' } });
      noSecrets(r.out + r.err);
    } finally {
      server.set('/sharded/model-00002-of-00002.safetensors', shardB);
    }
  });

  it('a presigned index whose shards are refused: the 403 says the query string is not carried to shards', async () => {
    // As S3 does: the index object is signed by its query; a shard URL resolved from it has none.
    server.fault = (req) => (req.url?.includes('-of-00002') && !req.url.includes('?') ? { kind: 'status', status: 403 } : null);
    try {
      const r = await cli('verify', index(), '--key-file', keyFile, ...auth, '--json');
      expect(r.code).toBe(3);
      const j = JSON.parse(r.out);
      expect(j).toMatchObject({ ok: false, error: { code: 'ERR_IO' } });
      expect(j.error.message).toContain('HTTP 403');
      expect(j.error.message).toContain('without its query string');
      expect(j.error.message).toContain('s3://');
      noSecrets(r.out + r.err);
      const e = await SealedSafetensors.open(index(), key, { headers: { authorization: TOKEN } }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'ERR_IO', status: 403 });
      expect((e as Error).message).toContain('own presigned URL');
      // Without a query on the index there is no presigned signature to blame: the plain 403.
      const plainIndex = await SealedSafetensors.open(index(''), key, { headers: { authorization: TOKEN } })
        .catch((x: unknown) => x);
      expect(plainIndex).toMatchObject({ code: 'ERR_IO', status: 403 });
      expect((plainIndex as Error).message).not.toContain('query string');
    } finally {
      server.fault = null;
    }
  });
});
