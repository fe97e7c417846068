/**
 * Raw mode (c2sp.org/chunked-encryption "Appendix: raw mode") from weightseal/hazmat: round
 * trips on every backend, agreement with the body of a full message under its derived key
 * and base nonce, truncation and tampering, argument errors, and that the main entry point
 * does not export it.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, HEADER_BYTES, deriveKeys, sealedLength } from '../src/cobblestone.js';
import { isWeightsealError, type ErrorCode } from '../src/errors.js';
import { TEST_SALT, sealInline } from '../src/format.js';
import { rawOpen, rawSeal } from '../src/hazmat.js';
import * as main from '../src/index.js';
import { allCases } from './helpers/backends.js';

const C = CHUNK_BYTES;

function expectCode(f: () => unknown, code: ErrorCode, message?: RegExp) {
  try {
    f();
  } catch (e) {
    if (!isWeightsealError(e)) throw e;
    expect(e.code, e.message).toBe(code);
    if (message) expect(e.message).toMatch(message);
    return e;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe.each(allCases())('raw mode on $label', ({ label, backend }) => {
  const sizes = [0, 1, C - 1, C, C + 1, 4 * C, 4 * C + 9, ...(label === 'noble' ? [] : [300 * C + 1])];

  it.each(sizes)('round trip of %i bytes, 16- and 32-byte keys', (n) => {
    for (const k of [randomBytes(16), randomBytes(32)]) {
      const nonce = randomBytes(12), pt = randomBytes(n);
      const sealed = rawSeal(k, nonce, pt, { backend });
      expect(sealed.length).toBe(sealedLength(n, true));
      expect(Buffer.compare(rawOpen(k, nonce, sealed, { backend }), pt)).toBe(0);
    }
  });

  it('is the body of a full message under its derived key and base nonce', () => {
    const key = randomBytes(32), salt = randomBytes(24), pt = randomBytes(3 * C + 5);
    const full = sealInline(key, pt, { backend, context: 'c', [TEST_SALT]: salt });
    const d = deriveKeys('cobblestone-256', key, salt, Buffer.from('c'));
    expect(Buffer.compare(rawSeal(d.key, d.baseNonce, pt, { backend }), full.subarray(HEADER_BYTES))).toBe(0);
    expect(Buffer.compare(rawOpen(createSecretKey(d.key), d.baseNonce, full.subarray(HEADER_BYTES), { backend }), pt)).toBe(0);
  });

  it('rejects truncation, tampering and the wrong nonce, releasing nothing', () => {
    const k = randomBytes(32), nonce = randomBytes(12), pt = randomBytes(2 * C + 100);
    const sealed = rawSeal(k, nonce, pt, { backend });
    expectCode(() => rawOpen(k, nonce, sealed.subarray(0, C + 16), { backend }), 'ERR_TRUNCATED');
    expectCode(() => rawOpen(k, nonce, sealed.subarray(0, 10), { backend }), 'ERR_TRUNCATED');
    expectCode(() => rawOpen(k, nonce, new Uint8Array(0), { backend }), 'ERR_TRUNCATED');
    const bad = Uint8Array.from(sealed);
    bad[C + 16 + 7]! ^= 1;
    const out = new Uint8Array(pt.length).fill(0xee);
    const e = expectCode(() => rawOpen(k, nonce, bad, { backend, output: out }), 'ERR_AUTH_FAILED');
    expect(e.chunk).toBe(1);
    expect(out.every((b) => b === 0)).toBe(true);
    const other = Uint8Array.from(nonce);
    other[0]! ^= 1;
    expect(expectCode(() => rawOpen(k, other, sealed, { backend }), 'ERR_AUTH_FAILED').chunk).toBe(0);
  });
});

describe('raw mode arguments', () => {
  const k = randomBytes(32), nonce = randomBytes(12), pt = randomBytes(10);

  it('says what to pass', () => {
    expectCode(() => rawSeal(randomBytes(24), nonce, pt), 'ERR_INVALID_ARG', /16 bytes .* or 32 bytes/);
    expectCode(() => rawSeal(createSecretKey(randomBytes(20)), nonce, pt), 'ERR_INVALID_ARG', /20-byte KeyObject/);
    expectCode(() => rawSeal(k, randomBytes(16), pt), 'ERR_INVALID_ARG', /baseNonce must be 12 bytes/);
    expectCode(() => rawSeal(k, 'nonce' as never, pt), 'ERR_INVALID_ARG', /baseNonce/);
    expectCode(() => rawSeal(k, nonce, 5 as never), 'ERR_INVALID_ARG', /plaintext/);
    expectCode(() => rawOpen(k, nonce, null as never), 'ERR_INVALID_ARG', /sealed/);
    expectCode(() => rawSeal(k, nonce, pt, { backend: 'x' as never }), 'ERR_INVALID_ARG', /backend/);
    expectCode(() => rawSeal(k, nonce, pt, { backend: 'node', output: new Uint8Array(3) }), 'ERR_INVALID_ARG', /at least 26/);
  });

  it('is exported from weightseal/hazmat only', () => {
    expect('rawSeal' in main).toBe(false);
    expect('rawOpen' in main).toBe(false);
  });
});
