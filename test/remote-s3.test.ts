/**
 * s3:// through @aws-sdk/client-s3 against s3rver on loopback: sealFile into a multipart
 * upload (parts in parallel), SealedSafetensors.open / bounce from s3://, no partial object
 * after a failed upload, and no credentials in any error.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { same } from './helpers/bytes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { sealedLength } from '../src/cobblestone.js';
import { SealedSafetensors, bounce, sealFile } from '../src/index.js';
import { safetensorsBytes, type FixtureTensor } from './fixtures/safetensors.js';
import { serialise } from './helpers/leaks.js';
import { S3Server, S3_CREDENTIALS } from './helpers/s3.js';

const key = new Uint8Array(randomBytes(32));
/** About 18 MiB: three 8 MiB parts. */
const MODEL: FixtureTensor[] = Array.from({ length: 9 }, (_, i) => ({ name: `layers.${i}.weight`, dtype: 'F32' as const,
  shape: [1024, 512] }));
const { bytes: plain, data } = safetensorsBytes(MODEL, { format: 'pt' }, 11);

let s3: S3Server;
let dir: string;
let src: string;
beforeAll(async () => {
  s3 = await S3Server.start(['models']);
  dir = await mkdtemp(join(tmpdir(), 'weightseal-s3src-'));
  src = join(dir, 'model.safetensors');
  await writeFile(src, plain);
});
afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function exists(objectKey: string): Promise<boolean> {
  const c = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
  try {
    await c.send(new HeadObjectCommand({ Bucket: 'models', Key: objectKey }));
    return true;
  } catch {
    return false;
  } finally {
    c.destroy();
  }
}

describe('s3:// with s3rver', () => {
  it('sealFile(local, s3://) uploads in parts; SealedSafetensors.open(s3://) reads it back', async () => {
    const r = await sealFile(src, 's3://models/llm/model.safetensors', key, { ...s3.options, threads: 1, connections: 3 });
    expect(r.bytesOut).toBe(sealedLength(plain.length));
    const m = await SealedSafetensors.open('s3://models/llm/model.safetensors', key, s3.options);
    try {
      expect(m.stats().requests).toBeLessThanOrEqual(3);
      expect(same(await m.read('layers.4.weight'), data.get('layers.4.weight')!)).toBe(true);
      const names: string[] = [];
      for await (const t of m.stream({ rank: 1, worldSize: 2 })) {
        expect(same(t.data, data.get(t.name)!)).toBe(true);
        names.push(t.name);
      }
      expect(names.length).toBeGreaterThan(0);
    } finally {
      await m.close();
    }
    const out = new Uint8Array(plain.length);
    await bounce('s3://models/llm/model.safetensors', key, { ...s3.options, mode: 'open', threads: 1,
      onSlot: (v, o) => { out.set(v, o); } });
    expect(same(out, plain)).toBe(true);
  });

  it('weightseal seal IN s3://... with the endpoint, region and credentials from the environment', async () => {
    const keyFile = join(dir, 'k.key');
    await writeFile(keyFile, key);
    const env = { AWS_ENDPOINT_URL: s3.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      let out = '';
      const code = await runCli(['seal', src, 's3://models/cli/model.safetensors', '--key-file', keyFile, '--threads', '1',
        '--json'], { out: (t) => { out += t; }, err: () => {} });
      expect(code).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ ok: true, output: 's3://models/cli/model.safetensors' });
      const m = await SealedSafetensors.open('s3://models/cli/model.safetensors', key);
      try {
        expect(same(await m.read('layers.0.weight'), data.get('layers.0.weight')!)).toBe(true);
      } finally {
        await m.close();
      }
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('refuses to replace an existing object unless overwrite', async () => {
    await sealFile(src, 's3://models/twice.safetensors', key, { ...s3.options, threads: 1 });
    await expect(sealFile(src, 's3://models/twice.safetensors', key, { ...s3.options, threads: 1 }))
      .rejects.toMatchObject({ code: 'ERR_EXISTS' });
    await sealFile(src, 's3://models/twice.safetensors', key, { ...s3.options, threads: 1, overwrite: true });
  });

  it('a failed upload leaves no object behind', async () => {
    const ac = new AbortController();
    const p = sealFile(src, 's3://models/aborted.safetensors', key, { ...s3.options, threads: 1, signal: ac.signal });
    setTimeout(() => ac.abort(), 5);
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(await exists('aborted.safetensors')).toBe(false);
  });

  it('a missing bucket or key is ERR_IO; credentials never appear in errors', async () => {
    const creds = { accessKeyId: 'AKIAWEIGHTSEALTEST', secretAccessKey: 'very/secret+key/0123456789abcdef' };
    const opts = { s3: { ...s3.options.s3, credentials: creds }, retry: { retries: 1, baseDelayMs: 1 } };
    const e1 = await SealedSafetensors.open('s3://models/nope.safetensors', key, opts).catch((x: unknown) => x);
    expect(e1).toMatchObject({ code: 'ERR_IO' });
    expect((e1 as Error).message).toContain('s3://models/nope.safetensors');
    for (const e of [e1]) {
      const text = serialise(e);
      expect(text).not.toContain(creds.secretAccessKey);
      expect(text).not.toContain(creds.accessKeyId);
    }
  });
});
