/**
 * Every fault a remote load must survive or report, one test each, injected by our own range
 * server (test/helpers/range-server.ts): retried faults resume the failed range only; the rest
 * fail at once with a coded error that names the URL without its secrets, and never release
 * plaintext that did not verify.
 */
import { randomBytes } from 'node:crypto';
import { same } from './helpers/bytes.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sealInline } from '../src/format.js';
import { SealedFile, SealedSafetensors, bounce, isWeightsealError } from '../src/index.js';
import { HEAD_BYTES } from '../src/remote/object.js';
import { pattern } from './fixtures/safetensors.js';
import { serialise } from './helpers/leaks.js';
import { RangeServer, seeded, type Fault } from './helpers/range-server.js';

const key = new Uint8Array(randomBytes(32));
const plain = pattern(700 * 1024, 9);
const sealed = sealInline(key, plain);
const FAST = { retries: 4, baseDelayMs: 1, maxDelayMs: 5 };
const SECRET_QUERY = '?X-Amz-Credential=AKIAEXAMPLESECRET%2F20260101&X-Amz-Signature=5ecre7519a7ure0000ffff';
const TOKEN = 'Bearer tok-very-secret-123456';

let server: RangeServer;
beforeAll(async () => {
  server = await RangeServer.start();
  server.set('/obj', sealed);
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  server.fault = null;
  server.set('/obj', sealed);
});

/** A fault for the first large ranged read only (not the probe, not the final chunk). */
function once(f: Fault): (req: { headers: { range?: string } }) => Fault | null {
  let used = false;
  return (req) => {
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    if (used || !m || m[1] === '0' || Number(m[2]) - Number(m[1]) < 32 * 1024) return null;
    used = true;
    return f;
  };
}

async function openAndRead(opts: object = {}, url = server.url('/obj')): Promise<Uint8Array> {
  const f = await SealedFile.open(url, key, { retry: FAST, ...opts });
  try {
    return await f.read(0, f.size);
  } finally {
    await f.close();
  }
}

function expectNoSecrets(e: unknown): void {
  const text = serialise(e);
  for (const s of ['AKIAEXAMPLESECRET', '5ecre7519a7ure0000ffff', 'tok-very-secret-123456', 'X-Amz-Signature']) {
    expect(text).not.toContain(s);
  }
}

describe('retried faults', () => {
  it('a connection reset mid-body is retried from the first byte not received', async () => {
    server.fault = once({ kind: 'reset', after: 20_000 });
    const start = server.log.length;
    expect(same(await openAndRead(), plain)).toBe(true);
    const ranges = server.log.slice(start).map((r) => r.range!);
    // The reset range and its resumption: the retry starts 20 000 bytes into it.
    const reset = server.log.slice(start).findIndex((r) => r.bytes === 20_000);
    expect(reset).toBeGreaterThanOrEqual(0);
    const first = Number(/bytes=(\d+)-/.exec(ranges[reset]!)![1]);
    const end = /-(\d+)$/.exec(ranges[reset]!)![1];
    expect(ranges).toContain(`bytes=${first + 20_000}-${end}`);
  });

  it('a stall (no bytes for stallMs) is retried', async () => {
    server.fault = once({ kind: 'stall', after: 1000 });
    expect(same(await openAndRead({ retry: { ...FAST, stallMs: 300 } }), plain)).toBe(true);
  });

  it.each([429, 500, 502, 503, 504])('HTTP %i is retried', async (status) => {
    server.fault = once({ kind: 'status', status });
    expect(same(await openAndRead(), plain)).toBe(true);
  });

  it('Retry-After is honoured', async () => {
    server.fault = once({ kind: 'status', status: 503, retryAfter: '1' });
    const t0 = performance.now();
    expect(same(await openAndRead(), plain)).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('under 5% injected resets a whole load fetches at most 1.1x the object', async () => {
    const rnd = seeded(42);
    let faults = 0;
    server.fault = (req) => {
      if ((req.headers.range ?? '').startsWith('bytes=0-') || rnd() >= 0.05) return null;
      faults++;
      return { kind: 'reset', after: Math.floor(rnd() * 60_000) };
    };
    const before = server.bytesSent;
    const out = new Uint8Array(plain.length);
    await bounce(server.url('/obj'), key, {
      mode: 'open', threads: 1, slotBytes: 16 * 1024, connections: 4, retry: FAST,
      onSlot: (v, o) => { out.set(v, o); },
    });
    expect(same(out, plain)).toBe(true);
    expect(faults).toBeGreaterThan(0);
    expect(server.bytesSent - before).toBeLessThanOrEqual(sealed.length * 1.1);
  });
});

describe('faults that fail at once', () => {
  it.each([401, 403, 404])('HTTP %i is ERR_IO with the status and URL, not retried', async (status) => {
    server.fault = once({ kind: 'status', status });
    const start = server.log.length;
    const e = await openAndRead({}, server.url('/obj', SECRET_QUERY)).catch((x: unknown) => x);
    expect(isWeightsealError(e, 'ERR_IO')).toBe(true);
    expect((e as { status: number }).status).toBe(status);
    expect((e as Error).message).toContain(`HTTP ${status}`);
    expect((e as Error).message).toContain(server.url('/obj'));
    expect(server.log.slice(start).filter((r) => r.status === status)).toHaveLength(1);
    expectNoSecrets(e);
  });

  it('a 404 at open is ERR_IO', async () => {
    await expect(SealedFile.open(server.url('/missing'), key)).rejects.toMatchObject({ code: 'ERR_IO', status: 404 });
  });

  it('retries exhausted: ERR_IO naming the URL and the last cause', async () => {
    server.fault = (req) => ((req.headers.range ?? '').startsWith('bytes=0-') ? null : { kind: 'status', status: 503 });
    const start = server.log.length;
    const e = await openAndRead({}, server.url('/obj', SECRET_QUERY)).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_IO' });
    expect((e as Error).message).toContain(server.url('/obj'));
    expect((e as Error).message).toContain('HTTP 503');
    expect((e as Error).message).toContain('5 attempts');
    expect(server.log.slice(start).filter((r) => r.status === 503)).toHaveLength(FAST.retries + 1);
    expectNoSecrets(e);
  });

  it('200 instead of 206 is ERR_RANGE_NOT_SUPPORTED, at open and mid-load', async () => {
    server.fault = () => ({ kind: 'ignore-range' });
    await expect(SealedFile.open(server.url('/obj'), key)).rejects.toMatchObject({ code: 'ERR_RANGE_NOT_SUPPORTED' });
    server.fault = once({ kind: 'ignore-range' });
    await expect(openAndRead()).rejects.toMatchObject({ code: 'ERR_RANGE_NOT_SUPPORTED' });
  });

  it('a short body is ERR_BAD_RESPONSE', async () => {
    server.fault = once({ kind: 'short', by: 100 });
    await expect(openAndRead()).rejects.toMatchObject({ code: 'ERR_BAD_RESPONSE' });
  });

  it('a long body is ERR_BAD_RESPONSE', async () => {
    server.fault = once({ kind: 'long', by: 100 });
    await expect(openAndRead()).rejects.toMatchObject({ code: 'ERR_BAD_RESPONSE' });
  });

  it('an object replaced mid-load is ERR_REMOTE_CHANGED (If-Match answered with 412)', async () => {
    const f = await SealedFile.open(server.url('/obj'), key, { retry: FAST });
    try {
      server.set('/obj', sealInline(key, plain));
      await expect(f.read(HEAD_BYTES, 100_000)).rejects.toMatchObject({ code: 'ERR_REMOTE_CHANGED' });
      expect(server.log.at(-1)!.headers['if-match']).toBeDefined();
    } finally {
      await f.close();
    }
  });

  it('an object replaced mid-load is ERR_REMOTE_CHANGED when the server ignores If-Match', async () => {
    const loose = await RangeServer.start({ conditional: false });
    try {
      loose.set('/obj', sealed);
      const f = await SealedFile.open(loose.url('/obj'), key, { retry: FAST });
      try {
        loose.set('/obj', sealInline(key, plain));
        await expect(f.read(HEAD_BYTES, 100_000)).rejects.toMatchObject({ code: 'ERR_REMOTE_CHANGED' });
      } finally {
        await f.close();
      }
    } finally {
      await loose.close();
    }
  });

  it('without an ETag, Last-Modified is sent back as If-Unmodified-Since', async () => {
    const s = await RangeServer.start({ etag: false });
    try {
      s.set('/obj', sealed);
      const f = await SealedFile.open(s.url('/obj'), key, { retry: FAST });
      try {
        s.set('/obj', sealInline(key, plain));
        await expect(f.read(HEAD_BYTES, 100_000)).rejects.toMatchObject({ code: 'ERR_REMOTE_CHANGED' });
        expect(s.log.at(-1)!.headers['if-unmodified-since']).toBeDefined();
      } finally {
        await f.close();
      }
    } finally {
      await s.close();
    }
  });

  it('bytes altered in transit are ERR_AUTH_FAILED and never released', async () => {
    server.fault = once({ kind: 'flip', offset: 5000 });
    const delivered: Uint8Array[] = [];
    const e = await bounce(server.url('/obj'), key, {
      mode: 'open', threads: 1, slotBytes: 64 * 1024, connections: 2, retry: FAST,
      onSlot: (v, o) => { delivered.push(Uint8Array.from(v)); expect(same(v, plain.subarray(o, o + v.length))).toBe(true); },
    }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_AUTH_FAILED' });
    expect(delivered.reduce((n, v) => n + v.length, 0)).toBeLessThan(plain.length);
  });

  it('SealedSafetensors.open of a remote object with a flipped header byte fails, never parses', async () => {
    server.fault = (req) => ((req.headers.range ?? '').startsWith('bytes=0-') ? { kind: 'flip', offset: 100 } : null);
    await expect(SealedSafetensors.open(server.url('/obj'), key, { retry: FAST })).rejects
      .toMatchObject({ code: expect.stringMatching(/ERR_AUTH_FAILED|ERR_WRONG_KEY_OR_CONTEXT/) });
  });
});

describe('abort and clean-up', () => {
  it('signal aborts every request in flight at once and leaves no socket open', async () => {
    server.fault = (req) => ((req.headers.range ?? '').startsWith('bytes=0-') ? null : { kind: 'stall', after: 100 });
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 200);
    const e = await bounce(server.url('/obj'), key, {
      mode: 'open', threads: 1, slotBytes: 16 * 1024, connections: 4, signal: ac.signal, onSlot: () => {},
    }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_ABORTED' });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(await server.settled()).toBe(0);
  });

  it('SealedFile.close() closes its connections', async () => {
    const f = await SealedFile.open(server.url('/obj'), key);
    await f.read(0, 300_000);
    await f.close();
    expect(await server.settled()).toBe(0);
  });
});

describe('secrets', () => {
  it('presigned query strings and Authorization headers never appear in errors', async () => {
    const s = await RangeServer.start({ authorization: TOKEN });
    try {
      s.set('/obj', sealed);
      // Right token: loads. Wrong token: 403, message without the token or the query.
      expect(same(await openAndRead({ headers: { authorization: TOKEN } }, s.url('/obj', SECRET_QUERY)), plain)).toBe(true);
      const e = await openAndRead({ headers: { authorization: 'Bearer tok-very-secret-123456x' } }, s.url('/obj', SECRET_QUERY))
        .catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'ERR_IO', status: 403 });
      expect((e as Error).message).toContain(`http://127.0.0.1:${s.port}/obj`);
      expectNoSecrets(e);
    } finally {
      await s.close();
    }
  });

  it('a connection error names scheme://host/path only', async () => {
    const s = await RangeServer.start();
    const url = s.url('/obj', SECRET_QUERY);
    await s.close();
    const e = await SealedFile.open(url, key, { retry: { retries: 1, baseDelayMs: 1 } }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_IO' });
    expect((e as Error).message).toContain(`http://127.0.0.1:${s.port}/obj`);
    expectNoSecrets(e);
  });

  it('follows a redirect once, at open, and reads ranges from where it led', async () => {
    server.set('/moved', sealed);
    server.fault = (req) => (req.url?.startsWith('/start') ? { kind: 'redirect', location: `/moved${SECRET_QUERY}` } : null);
    server.set('/start', new Uint8Array(1));
    const start = server.log.length;
    expect(same(await openAndRead({}, server.url('/start')), plain)).toBe(true);
    expect(server.log.slice(start).filter((r) => r.path === '/start')).toHaveLength(1);
  });
});
