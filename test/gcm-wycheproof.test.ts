/**
 * Wycheproof aes_gcm_test.json (test/vectors, Apache-2.0) on every backend and kernel:
 * valid vectors open and re-seal byte for byte, invalid ones are rejected. AES-192 is not
 * offered by weightseal and must be refused as an invalid argument; noble refuses IVs under
 * 8 bytes and node:crypto IVs over 255 bytes (limits of those libraries), counted, not hidden.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { gcmOpen, gcmSeal } from '../src/hazmat.js';
import { allCases, hex } from './helpers/backends.js';

interface Vector {
  tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string;
  result: 'valid' | 'invalid' | 'acceptable'; keySize: number; ivSize: number;
}

/** IV lengths a backend refuses with ERR_INVALID_ARG (documented in README, Limitations). */
const IV_LIMITS: Record<string, [number, number]> = { noble: [8, Infinity], node: [1, 255] };

const file = JSON.parse(readFileSync(new URL('./vectors/aes_gcm_test.json', import.meta.url), 'utf8'));
const vectors: Vector[] = file.testGroups.flatMap((g: { keySize: number; ivSize: number; tagSize: number; tests: Vector[] }) =>
  g.tagSize === 128 ? g.tests.map((t) => ({ ...t, keySize: g.keySize, ivSize: g.ivSize })) : []);

describe.each(allCases())('Wycheproof AES-GCM on $label', ({ label, backend }) => {
  const counts = { valid: 0, invalid: 0, aes192Refused: 0, ivRefused: 0 };
  afterAll(() => console.log(`wycheproof aes_gcm ${label}: ${JSON.stringify(counts)}`));

  it(`runs all ${vectors.length} vectors with 16-byte tags`, () => {
    expect(vectors.length).toBe(316);
    for (const v of vectors) {
      const key = hex(v.key), iv = hex(v.iv), aad = hex(v.aad), msg = hex(v.msg);
      const sealed = hex(v.ct + v.tag);
      const where = `tcId ${v.tcId}`;
      if (v.keySize === 192) {
        expect(() => gcmSeal(key, iv, msg, aad, { backend }), where).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
        counts.aes192Refused++;
        continue;
      }
      const [minIv, maxIv] = IV_LIMITS[label] ?? [1, Infinity];
      if (iv.length > 0 && (iv.length < minIv || iv.length > maxIv)) {
        expect(() => gcmOpen(key, iv, sealed, aad, { backend }), where).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
        counts.ivRefused++;
        continue;
      }
      if (v.result === 'valid') {
        expect(Buffer.from(gcmOpen(key, iv, sealed, aad, { backend })).toString('hex'), where).toBe(v.msg);
        expect(Buffer.from(gcmSeal(key, iv, msg, aad, { backend })).toString('hex'), where).toBe(v.ct + v.tag);
        counts.valid++;
      } else {
        const code = iv.length === 0 ? 'ERR_INVALID_ARG' : 'ERR_AUTH_FAILED';
        expect(() => gcmOpen(key, iv, sealed, aad, { backend }), where).toThrow(expect.objectContaining({ code }));
        counts.invalid++;
      }
    }
    expect(counts.valid + counts.invalid + counts.aes192Refused + counts.ivRefused).toBe(316);
    expect(counts.valid).toBeGreaterThan(label === 'noble' ? 100 : 110);
  });
});
