/**
 * S3 faults through @aws-sdk/client-s3: s3rver behind a fault-injecting proxy (both on
 * 127.0.0.1). 429/503 are retried with our backoff, and a Retry-After the endpoint sends is
 * the least wait, on downloads and on multipart uploads alike; one longer than
 * retry.maxRetryAfterMs fails at once with ERR_IO.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sealFile, SealedFile } from '../src/index.js';
import { sdkRetryAfter } from '../src/remote/s3.js';
import { same } from './helpers/bytes.js';
import { pattern } from './fixtures/safetensors.js';
import { S3Server, S3_CREDENTIALS } from './helpers/s3.js';
import { S3FaultProxy, type S3Fault } from './helpers/s3-proxy.js';

const key = new Uint8Array(randomBytes(32));
const plain = pattern(300 * 1024, 3);
/** Backoff steps of at most 5 ms: any wait near a second can only come from Retry-After. */
const FAST = { retries: 3, baseDelayMs: 1, maxDelayMs: 5 };

let s3: S3Server;
let proxy: S3FaultProxy;
let dir: string;
let src: string;
const opts = () => ({ s3: { endpoint: proxy.endpoint, region: 'us-east-1', credentials: S3_CREDENTIALS }, retry: FAST });

beforeAll(async () => {
  s3 = await S3Server.start(['models']);
  proxy = await S3FaultProxy.start(s3.endpoint);
  dir = await mkdtemp(join(tmpdir(), 'weightseal-s3faults-'));
  src = join(dir, 'plain.bin');
  await writeFile(src, plain);
  await sealFile(src, 's3://models/obj.bin', key, { ...opts(), threads: 1 });
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  proxy.fault = null;
});

/** The fault for the first ranged GET past the first 64 KiB (not the open's probe), once. */
function onceOnRangedGet(f: S3Fault) {
  let used = false;
  return (req: { method?: string; headers: { range?: string } }) => {
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    if (used || req.method !== 'GET' || !m || m[1] === '0') return null;
    used = true;
    return f;
  };
}

async function readAll(): Promise<Uint8Array> {
  const f = await SealedFile.open('s3://models/obj.bin', key, opts());
  try {
    return await f.read(0, f.size);
  } finally {
    await f.close();
  }
}

describe('S3 Retry-After', () => {
  it('reads the header off the SDK error ($response), in seconds or as a date', () => {
    expect(sdkRetryAfter({ $response: { headers: { 'retry-after': '2' } } })).toBe(2000);
    expect(sdkRetryAfter({ $response: { headers: { 'Retry-After': '0' } } })).toBe(0);
    expect(sdkRetryAfter({ $response: { headers: {} } })).toBeNull();
    expect(sdkRetryAfter({})).toBeNull();
  });

  it.each([[503, 'SlowDown'], [429, 'TooManyRequests']])('HTTP %i on a ranged GET waits the Retry-After, then resumes',
    async (status, code) => {
      proxy.fault = onceOnRangedGet({ status, code, retryAfter: '1' });
      const start = proxy.log.length;
      const t0 = performance.now();
      expect(same(await readAll(), plain)).toBe(true);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
      const log = proxy.log.slice(start);
      const i = log.findIndex((l) => l.faulted === status);
      expect(i).toBeGreaterThanOrEqual(0);
      // The same range asked again after the wait, and served.
      expect(log.slice(i + 1).some((l) => l.range === log[i]!.range && l.faulted === 0)).toBe(true);
    });

  it('a Retry-After over retry.maxRetryAfterMs fails at once with ERR_IO naming the wait', async () => {
    proxy.fault = onceOnRangedGet({ status: 503, code: 'SlowDown', retryAfter: '3600' });
    const t0 = performance.now();
    const e = await (async () => {
      const f = await SealedFile.open('s3://models/obj.bin', key, { ...opts(), retry: { ...FAST, maxRetryAfterMs: 2000 } });
      try {
        await f.read(0, f.size);
      } finally {
        await f.close();
      }
    })().catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_IO' });
    expect((e as Error).message).toContain('s3://models/obj.bin');
    expect((e as Error).message).toContain('HTTP 503');
    expect((e as Error).message).toContain('retry after 3600 s');
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('a multipart upload waits the Retry-After of a throttled part', async () => {
    let used = false;
    proxy.fault = (req) => {
      if (used || req.method !== 'PUT' || !/partNumber=/.test(req.url ?? '')) return null;
      used = true;
      return { status: 503, code: 'SlowDown', retryAfter: '1' };
    };
    const t0 = performance.now();
    await sealFile(src, 's3://models/up.bin', key, { ...opts(), threads: 1 });
    expect(used).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
    const f = await SealedFile.open('s3://models/up.bin', key, opts());
    try {
      expect(same(await f.read(0, f.size), plain)).toBe(true);
    } finally {
      await f.close();
    }
  });
});
