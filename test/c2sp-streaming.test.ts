/**
 * The Wycheproof c2sp.org/chunked-encryption vectors (test/vectors/, applied as
 * c2sp_chunked_encryption.md says) through the streaming openers: Node Transform, Web
 * TransformStream and bounce, inline and on workers, on every backend. A streaming opener may
 * release at most the valid prefix (msgLength/msgSha512 of PartialPlaintext vectors), must
 * fail, and must keep failing. Valid vectors are re-sealed through the streams under their
 * own salt (the test-only hook) and must match `ct` byte for byte.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TEST_SALT } from '../src/format.js';
import type { PipelineOptions } from '../src/stream-api.js';
import { bounce, createOpenStream, createSealStream, openWebStream, sealWebStream } from '../src/stream-api.js';
import { allCases } from './helpers/backends.js';
import { code, concat, equal, pieces, throughNode, throughWeb, type Drained } from './pipeline-helpers.js';

interface Vector {
  tcId: number;
  comment: string;
  key: string;
  ctx: string;
  ct: string;
  msgLength?: number;
  msgSha512?: string;
  result: 'valid' | 'invalid';
  flags: string[];
}

const suites = [
  ['cobblestone-128', 'c2sp_chunked_encryption_aes_128_gcm_test.json'],
  ['cobblestone-256', 'c2sp_chunked_encryption_aes_256_gcm_test.json'],
] as const;

const vectors = suites.flatMap(([suite, file]) => {
  const doc = JSON.parse(readFileSync(new URL(`./vectors/${file}`, import.meta.url), 'utf8')) as {
    testGroups: { tests: Vector[] }[];
  };
  return doc.testGroups.flatMap((g) => g.tests).map((v) => ({
    ...v, suite, label: `${suite} #${v.tcId} ${v.comment}`,
    keyBytes: new Uint8Array(Buffer.from(v.key, 'hex')),
    ctxBytes: new Uint8Array(Buffer.from(v.ctx, 'hex')),
    ctBytes: new Uint8Array(inflateSync(Buffer.from(v.ct, 'hex'))),
  }));
});

const sha512 = (b: Uint8Array) => createHash('sha512').update(b).digest('hex');

/** The code each kind of invalid vector must fail with (a cut mid-record is also a bad tag). */
function expectedCodes(flags: string[]): string[] {
  if (flags.includes('InvalidKeySize')) return ['ERR_INVALID_ARG'];
  if (flags.includes('HeaderFailure')) return flags.includes('Truncation') ? ['ERR_TRUNCATED'] : ['ERR_WRONG_KEY_OR_CONTEXT'];
  // Bytes after a valid short final chunk are ERR_TRAILING_DATA; bytes after a full chunk with
  // no final chunk at all (#18, #19) are indistinguishable from a cut or corrupted final record.
  if (flags.includes('TrailingData')) return ['ERR_TRAILING_DATA', 'ERR_AUTH_FAILED', 'ERR_TRUNCATED'];
  if (flags.includes('Truncation')) return ['ERR_TRUNCATED', 'ERR_AUTH_FAILED'];
  return ['ERR_AUTH_FAILED'];
}

type Opener = (key: Uint8Array, ct: Uint8Array, opts: PipelineOptions) => Promise<Drained>;

const openers: [string, Opener][] = [
  ['Node Transform', (k, ct, o) => throughNode(createOpenStream(k, o), pieces(ct, 10_000))],
  ['Web TransformStream', (k, ct, o) => throughWeb(openWebStream(k, o), pieces(ct, 13_000, 4))],
  ['bounce', async (k, ct, o) => {
    const parts: Uint8Array[] = [];
    let error: unknown = null;
    try {
      await bounce((async function* () { yield* pieces(ct, 20_000, 9); })(), k,
        { ...o, mode: 'open', onSlot: (v) => { parts.push(Uint8Array.from(v)); } });
    } catch (e) {
      error = e;
    }
    return { out: concat(parts), error };
  }],
];

describe.each(allCases())('c2sp vectors through streaming open on $label', ({ backend }) => {
  describe.each(openers)('%s', (_name, openVia) => {
    it.each([1, 2])('all vectors, threads %i', async (threads) => {
      for (const v of vectors) {
        const opts: PipelineOptions = { backend, threads, suite: v.suite, context: v.ctxBytes, slotBytes: 32768, inflight: 3 };
        let r: Drained;
        try {
          r = await openVia(v.keyBytes, v.ctBytes, opts);
        } catch (e) {
          r = { out: new Uint8Array(0), error: e }; // refused when the key was provided
        }
        if (v.result === 'valid') {
          expect(r.error, v.label).toBe(null);
          expect(r.out.length, v.label).toBe(v.msgLength);
          expect(sha512(r.out), v.label).toBe(v.msgSha512);
          continue;
        }
        expect(expectedCodes(v.flags), `${v.label}: ${String(r.error)}`).toContain(code(r.error));
        if (/short final chunk followed by extra/.test(v.comment)) expect(code(r.error), v.label).toBe('ERR_TRAILING_DATA');
        // Never more than the valid prefix; nothing at all without one.
        const prefix = v.flags.includes('PartialPlaintext') ? v.msgLength! : 0;
        expect(r.out.length, v.label).toBeLessThanOrEqual(prefix);
        if (r.out.length === prefix && prefix > 0) expect(sha512(r.out), v.label).toBe(v.msgSha512);
      }
    });
  });

  it('re-seals every valid vector through Node and Web streams under its salt, matching ct', async () => {
    for (const v of vectors.filter((x) => x.result === 'valid')) {
      const opened = await throughWeb(openWebStream(v.keyBytes, { backend, suite: v.suite, context: v.ctxBytes }), [v.ctBytes]);
      const opts = { backend, threads: 2, suite: v.suite, context: v.ctxBytes, slotBytes: 32768,
        [TEST_SALT]: v.ctBytes.subarray(0, 24) } as PipelineOptions;
      const a = await throughNode(createSealStream(v.keyBytes, opts), pieces(opened.out, 12_345));
      const b = await throughWeb(sealWebStream(v.keyBytes, opts), pieces(opened.out, 54_321));
      expect(a.error ?? b.error, v.label).toBe(null);
      expect(equal(a.out, v.ctBytes), v.label).toBe(true);
      expect(equal(b.out, v.ctBytes), v.label).toBe(true);
    }
  });
});
