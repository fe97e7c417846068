/** The pure parts of remote loading: redaction, Retry-After and backoff, option checks, rank shares. */
import { describe, expect, it } from 'vitest';
import { SealedFile, bounce } from '../src/index.js';
import { PART_BYTES, partCuts } from '../src/remote/object.js';
import { checkRemote, isRemoteUrl } from '../src/remote/options.js';
import { Redactor, redactUrl } from '../src/remote/redact.js';
import { DEFAULT_RETRY, backoff, parseRetryAfter, sleep } from '../src/remote/retry.js';
import { resolveShardUrl } from '../src/remote/shards.js';
import { assignRanks } from '../src/safetensors/ranks.js';

const key = new Uint8Array(32);

describe('redaction', () => {
  it('shows scheme://host/path only', () => {
    expect(redactUrl('https://user:pw@bucket.s3.amazonaws.com/a/b.safetensors?X-Amz-Signature=abc#frag'))
      .toBe('https://bucket.s3.amazonaws.com/a/b.safetensors');
    expect(redactUrl('s3://bucket/key/x')).toBe('s3://bucket/key/x');
    expect(redactUrl('not a url')).toBe('(unparseable URL)');
  });

  it('scrubs query values, user info and header values from text', () => {
    const r = new Redactor().addUrl('https://u:passw0rd@h/p?sig=s3cr3tvalue&x=1').addHeaders({ authorization: 'Bearer tokentoken' });
    const text = r.scrub('GET https://u:passw0rd@h/p?sig=s3cr3tvalue failed; sig=s3cr3tvalue; auth tokentoken; other http://x/y?q=1');
    for (const s of ['passw0rd', 's3cr3tvalue', 'tokentoken', 'q=1']) expect(text).not.toContain(s);
    expect(text).toContain('https://h/p');
    const cause = r.cause(Object.assign(new Error('boom s3cr3tvalue'), { code: 'ECONNRESET' }));
    expect(cause.message).not.toContain('s3cr3tvalue');
    expect((cause as { code?: string }).code).toBe('ECONNRESET');
  });
});

describe('splitting a read into parallel parts', () => {
  it('cuts round(length / PART_BYTES) near-equal parts covering every byte once', () => {
    // A 4 MiB slot of sealed records is 4,198,400 bytes: one part, not 4 MiB plus 4 KiB.
    expect(partCuts(4_198_400)).toEqual([0, 4_198_400]);
    expect(partCuts(1)).toEqual([0, 1]);
    const len = 64 * PART_BYTES + 12_345;
    const cuts = partCuts(len);
    expect(cuts.length - 1).toBe(64);
    expect(cuts[0]).toBe(0);
    expect(cuts.at(-1)).toBe(len);
    for (let k = 1; k < cuts.length; k++) {
      const n = cuts[k]! - cuts[k - 1]!;
      expect(n).toBeGreaterThanOrEqual(Math.floor(len / 64));
      expect(n).toBeLessThanOrEqual(Math.ceil(len / 64));
    }
    expect(partCuts(Math.floor(1.6 * PART_BYTES)).length - 1).toBe(2);
  });
});

describe('retry timing', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    const now = Date.parse('Wed, 01 Jan 2026 00:00:00 GMT');
    expect(parseRetryAfter('Wed, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(undefined)).toBeNull();
  });

  it('backs off exponentially with full jitter, capped, and never below Retry-After', () => {
    expect(backoff(DEFAULT_RETRY, 0, null, () => 0.999)).toBeLessThan(DEFAULT_RETRY.baseDelayMs);
    expect(backoff(DEFAULT_RETRY, 3, null, () => 0.999)).toBeGreaterThan(DEFAULT_RETRY.baseDelayMs * 7);
    expect(backoff(DEFAULT_RETRY, 30, null, () => 0.999)).toBeLessThanOrEqual(DEFAULT_RETRY.maxDelayMs);
    expect(backoff(DEFAULT_RETRY, 0, 5000, () => 0)).toBe(5000);
  });

  it('sleep ends at once on abort', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('options', () => {
  it('recognises remote URLs', () => {
    for (const u of ['http://h/x', 'HTTPS://h/x', 's3://b/k', new URL('https://h/x')]) expect(isRemoteUrl(u)).toBe(true);
    for (const u of ['/tmp/x', 'file:///x', 'model.safetensors', 3]) expect(isRemoteUrl(u)).toBe(false);
  });

  it.each([
    [{ connections: 0 }], [{ connections: 1.5 }], [{ connections: '8' }], [{ headers: 'x' }], [{ headers: { a: 1 } }],
    [{ headers: { Range: 'bytes=0-1' } }], [{ retry: { retries: -1 } }], [{ retry: { stallMs: 0 } }], [{ s3: 'x' }],
    [{ signal: {} }],
  ])('rejects %j with ERR_INVALID_ARG before any request', async (o) => {
    expect(() => checkRemote(o as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    await expect(SealedFile.open('http://127.0.0.1:9/x', key, o as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(bounce('http://127.0.0.1:9/x', key, { mode: 'open', onSlot: () => {}, ...(o as object) }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});

describe('shard URLs and rank shares', () => {
  it('resolves shard names beside the index, never outside it', () => {
    const index = new URL('https://h/org/m/resolve/main/model.safetensors.index.json?sig=1');
    expect(resolveShardUrl(index, 'model-00001-of-00002.safetensors'))
      .toBe('https://h/org/m/resolve/main/model-00001-of-00002.safetensors');
    expect(resolveShardUrl(new URL('s3://b/dir/model.safetensors.index.json'), 'a.safetensors')).toBe('s3://b/dir/a.safetensors');
    for (const bad of ['../x.safetensors', '/x.safetensors', 'https://evil/x', 'a/../../x', 'a\\b', 'a//b']) {
      expect(resolveShardUrl(index, bad)).toBeNull();
    }
  });

  it('assigns contiguous, balanced, complete shares', () => {
    const sizes = [100, 5, 5, 90, 30, 30, 30, 0, 10, 100];
    for (const n of [1, 2, 3, 4, 7, 16]) {
      const ranks = assignRanks(sizes.map((byteLength) => ({ byteLength })), n);
      expect(ranks.every((r) => r >= 0 && r < n)).toBe(true);
      const nonEmpty = ranks.filter((_, i) => sizes[i]! > 0);
      for (let i = 1; i < nonEmpty.length; i++) expect(nonEmpty[i]!).toBeGreaterThanOrEqual(nonEmpty[i - 1]!);
      const per = Array.from({ length: n }, (_, r) => sizes.reduce((s, b, i) => s + (ranks[i] === r ? b : 0), 0));
      const total = sizes.reduce((a, b) => a + b, 0);
      for (const p of per) expect(Math.abs(p - total / n)).toBeLessThanOrEqual(100);
    }
  });
});
