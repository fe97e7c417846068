/**
 * Against a real server: Debian's nginx on loopback (test/helpers/nginx.ts). Range reads of a
 * sealed model, keep-alive (many requests per connection), and a sharded index. Skipped, and
 * saying why, where nginx is not installed; CI (.ci/run) installs it, and fails without it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { same } from './helpers/bytes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { sealInline } from '../src/format.js';
import { SealedSafetensors, bounce } from '../src/index.js';
import { safetensorsBytes, type FixtureTensor } from './fixtures/safetensors.js';
import { NGINX, Nginx } from './helpers/nginx.js';

const required = process.env.CI === 'true';
const skip = !NGINX && !required;
if (skip) console.warn('remote-nginx.test.ts skipped: nginx is not installed (apt-get install nginx; .ci/run does)');

const key = new Uint8Array(randomBytes(32));
const MODEL: FixtureTensor[] = Array.from({ length: 12 }, (_, i) => ({ name: `layers.${i}.weight`, dtype: 'F32' as const,
  shape: [128, 129 + i] }));

describe.skipIf(skip)('nginx on loopback', () => {
  let nginx: Nginx;
  const { bytes: plain, data } = safetensorsBytes(MODEL, { format: 'pt' }, 5);
  const sealed = sealInline(key, plain);
  const shardPlain = [safetensorsBytes(MODEL.slice(0, 5), {}, 6).bytes, safetensorsBytes(MODEL.slice(5), {}, 7).bytes];
  beforeAll(async () => {
    nginx = await Nginx.start();
    await nginx.put('/model.safetensors', sealed);
    await nginx.put('/sharded/model-00001-of-00002.safetensors', sealInline(key, shardPlain[0]!));
    await nginx.put('/sharded/model-00002-of-00002.safetensors', sealInline(key, shardPlain[1]!));
    const weight_map: Record<string, string> = {};
    MODEL.forEach((t, i) => { weight_map[t.name] = i < 5 ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors'; });
    await nginx.put('/sharded/model.safetensors.index.json', sealInline(key, new TextEncoder().encode(JSON.stringify({ weight_map }))));
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('range reads: tensors() in at most 3 requests, read(name) fetches only its records', async () => {
    const m = await SealedSafetensors.open(nginx.url('/model.safetensors'), key);
    try {
      expect(m.stats().requests).toBeLessThanOrEqual(3);
      const t = m.tensor('layers.7.weight');
      const before = m.stats().bytesFetched;
      expect(same(await m.read(t.name), data.get(t.name)!)).toBe(true);
      expect(m.stats().bytesFetched - before).toBeLessThan(t.byteLength + 2 * 16400 + 16 * 8);
    } finally {
      await m.close();
    }
    const log = await nginx.accessLog();
    // Every ranged request was answered with 206 (the startup probe has no Range).
    const ranged = log.filter((l) => l.range !== '-');
    expect(ranged.length).toBeGreaterThanOrEqual(3);
    expect(ranged.every((l) => l.status === 206)).toBe(true);
  });

  it('bounce(url) over keep-alive connections: many requests per connection', async () => {
    const before = (await nginx.accessLog()).length;
    const out = new Uint8Array(plain.length);
    await bounce(nginx.url('/model.safetensors'), key, {
      mode: 'open', threads: 1, slotBytes: 16 * 1024, connections: 2, onSlot: (v, o) => { out.set(v, o); },
    });
    expect(same(out, plain)).toBe(true);
    const log = (await nginx.accessLog()).slice(before);
    expect(log.length).toBeGreaterThan(10);
    expect(new Set(log.map((l) => l.connection)).size).toBeLessThanOrEqual(2);
    expect(Math.max(...log.map((l) => l.requests))).toBeGreaterThan(5);
  });

  it('bounce(url): each pipeline slot is one ranged request (no short tail request per slot)', async () => {
    // 9 MiB of plaintext in 4 MiB slots: 4,198,400 sealed bytes each, over PART_BYTES (4 MiB) by 4 KiB.
    const big = new Uint8Array(randomBytes(9 * 1024 * 1024));
    await nginx.put('/big.bin', sealInline(key, big));
    const before = (await nginx.accessLog()).length;
    const out = new Uint8Array(big.length);
    await bounce(nginx.url('/big.bin'), key, { mode: 'open', connections: 1, onSlot: (v, o) => { out.set(v, o); } });
    expect(same(out, big)).toBe(true);
    const log = (await nginx.accessLog()).slice(before);
    // The first 64 KiB (header and first records) once, then one request for each of the 3 slots.
    expect(log.map((l) => l.status)).toEqual([206, 206, 206, 206]);
    // Sealed: 56-byte header, then 576 full records and an empty final one (9 MiB is a multiple of 16 KiB).
    expect(log.slice(1).map((l) => l.bytes)).toEqual([4198400, 4198400, 64 * 16400 + 16]);
  });

  it('a sharded index URL', async () => {
    const m = await SealedSafetensors.open(nginx.url('/sharded/model.safetensors.index.json'), key);
    try {
      const names: string[] = [];
      for await (const t of m.stream()) names.push(t.name);
      expect(names).toEqual(MODEL.map((t) => t.name));
    } finally {
      await m.close();
    }
  });

  it('weightseal verify <sharded index URL> authenticates the index and every shard', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weightseal-nginx-key-'));
    try {
      await writeFile(join(dir, 'k.key'), key);
      let out = '';
      const code = await runCli(['verify', nginx.url('/sharded/model.safetensors.index.json'), '--key-file',
        join(dir, 'k.key'), '--json'], { out: (t) => { out += t; }, err: () => {} });
      expect(code).toBe(0);
      const j = JSON.parse(out);
      expect(j).toMatchObject({ ok: true, authenticated: true });
      expect(j.shards.map((x: { path: string }) => x.path)).toEqual([
        nginx.url('/sharded/model-00001-of-00002.safetensors'), nginx.url('/sharded/model-00002-of-00002.safetensors')]);
      // Every shard opened to its end: all of its plaintext came out.
      expect(j.bytesOut).toBe(shardPlain.reduce((n, p) => n + p.length, 0));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
