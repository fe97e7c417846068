/**
 * sealInline/openInline and the header helpers on every backend: round trips at the sizes
 * that break chunking (empty, one byte, either side of a chunk, exact multiples, across a
 * batch run of 256 chunks, random sizes to 64 MiB), cross-backend agreement, the output
 * buffer, key and context forms, and argument errors that say what to pass.
 */
import { createSecretKey, randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, HEADER_BYTES, deriveKeys, sealedLength } from '../src/cobblestone.js';
import { isWeightsealError, type ErrorCode } from '../src/errors.js';
import {
  RUN_CHUNKS, TEST_SALT, createHeader, importDerived, openChunkRun, openInline, parseHeader, sealChunkRun,
  sealInline, wipeDerived,
} from '../src/format.js';
import { nodeBackend } from '../src/backend/index.js';
import { allCases } from './helpers/backends.js';

function expectCode(f: () => unknown, code: ErrorCode, message?: RegExp): void {
  try {
    f();
  } catch (e) {
    if (!isWeightsealError(e)) throw e;
    expect(e.code).toBe(code);
    if (message) expect(e.message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

const C = CHUNK_BYTES;

describe.each(allCases())('sealInline/openInline on $label', ({ label, backend }) => {
  const slow = label === 'noble';
  const sizes = [0, 1, C - 1, C, C + 1, 2 * C, 3 * C - 1, 5 * C + 7,
    ...(slow ? [] : [RUN_CHUNKS * C, RUN_CHUNKS * C - 1, (RUN_CHUNKS + 1) * C + 3, 2 * RUN_CHUNKS * C])];
  const key = randomBytes(32);

  it.each(sizes)('round trip of %i bytes', (n) => {
    const pt = randomBytes(n);
    const copy = Buffer.from(pt);
    const sealed = sealInline(key, pt, { backend });
    expect(sealed.length).toBe(sealedLength(n));
    expect(sealed.length).toBe(HEADER_BYTES + n + (Math.floor(n / C) + 1) * 16);
    const back = openInline(key, sealed, { backend });
    expect(Buffer.compare(back, pt)).toBe(0);
    expect(Buffer.compare(pt, copy)).toBe(0); // input not mutated
  });

  it('round trips random sizes', () => {
    const max = slow ? 200_000 : 64 << 20;
    const lens = slow ? [randomInt(max), randomInt(max)] : [64 << 20, randomInt(max), randomInt(8 << 20)];
    for (const n of lens) {
      const pt = randomBytes(n);
      const back = openInline(key, sealInline(key, pt, { backend }), { backend });
      expect(Buffer.compare(back, pt), `size ${n}`).toBe(0);
    }
  });

  it('cobblestone-128 with a 16-byte key and a context', () => {
    const k16 = randomBytes(16), pt = randomBytes(C + 5);
    const sealed = sealInline(k16, pt, { suite: 'cobblestone-128', context: 'model v1', backend });
    const back = openInline(k16, sealed, { suite: 'cobblestone-128', context: 'model v1', backend });
    expect(Buffer.compare(back, pt)).toBe(0);
    expectCode(() => openInline(k16, sealed, { suite: 'cobblestone-128', context: 'model v2', backend }),
      'ERR_WRONG_KEY_OR_CONTEXT');
  });

  it('opens what every other backend sealed', () => {
    const pt = randomBytes(2 * C + 99);
    const salt = randomBytes(24);
    const mine = sealInline(key, pt, { backend, [TEST_SALT]: salt });
    for (const other of allCases()) {
      const theirs = sealInline(key, pt, { backend: other.backend, [TEST_SALT]: salt });
      expect(Buffer.compare(theirs, mine), other.label).toBe(0);
      expect(Buffer.compare(openInline(key, mine, { backend: other.backend }), pt)).toBe(0);
    }
  });

  it('zeroes the whole output when a chunk in a later batch run fails', () => {
    if (slow) return;
    const n = (RUN_CHUNKS + 10) * C;
    const pt = randomBytes(n);
    const sealed = sealInline(key, pt, { backend });
    const bad = RUN_CHUNKS + 3;
    sealed[HEADER_BYTES + bad * (C + 16) + 100]! ^= 0x80;
    const out = new Uint8Array(n).fill(0xee);
    try {
      openInline(key, sealed, { backend, output: out });
      throw new Error('opened a tampered message');
    } catch (e) {
      if (!isWeightsealError(e, 'ERR_AUTH_FAILED')) throw e;
      expect(e.chunk).toBe(bad);
    }
    expect(out.every((b) => b === 0)).toBe(true);
  });
});

describe('whole-buffer API details', () => {
  const key = randomBytes(32);
  const backend = 'node' as const;

  it('a string context is its UTF-8 bytes; no context is the empty context', () => {
    const pt = randomBytes(100);
    const sealed = sealInline(key, pt, { backend, context: 'gewichte ✓' });
    expect(Buffer.compare(openInline(key, sealed, { backend, context: Buffer.from('gewichte ✓') }), pt)).toBe(0);
    const plain = sealInline(key, pt, { backend });
    expect(Buffer.compare(openInline(key, plain, { backend, context: new Uint8Array(0) }), pt)).toBe(0);
    expect(Buffer.compare(openInline(key, plain, { backend, context: '' }), pt)).toBe(0);
  });

  it('takes a secret KeyObject and leaves it usable', () => {
    const ko = createSecretKey(key);
    const pt = randomBytes(C + 1);
    const sealed = sealInline(ko, pt, { backend });
    expect(Buffer.compare(openInline(key, sealed, { backend }), pt)).toBe(0);
    expect(Buffer.compare(openInline(ko, sealed, { backend }), pt)).toBe(0);
    expect(Buffer.compare(ko.export(), key)).toBe(0);
  });

  it('draws a fresh salt per message', () => {
    const pt = randomBytes(10);
    const a = sealInline(key, pt, { backend }), b = sealInline(key, pt, { backend });
    expect(Buffer.compare(a.subarray(0, 24), b.subarray(0, 24))).not.toBe(0);
  });

  it('writes into a caller buffer and refuses one too small or overlapping', () => {
    const pt = randomBytes(C + 3);
    const big = new Uint8Array(sealedLength(pt.length) + 10);
    const sealed = sealInline(key, pt, { backend, output: big });
    expect(sealed.buffer).toBe(big.buffer);
    expect(sealed.length).toBe(sealedLength(pt.length));
    const out = new Uint8Array(pt.length);
    const got = openInline(key, sealed, { backend, output: out });
    expect(got.buffer).toBe(out.buffer);
    expect(got.length).toBe(pt.length);
    expect(Buffer.compare(out, pt)).toBe(0);
    expectCode(() => sealInline(key, pt, { backend, output: new Uint8Array(10) }), 'ERR_INVALID_ARG', /at least/);
    expectCode(() => openInline(key, sealed, { backend, output: new Uint8Array(5) }), 'ERR_INVALID_ARG', /at least/);
    const shared = new Uint8Array(sealedLength(pt.length) + pt.length);
    shared.set(pt, 0);
    expectCode(() => sealInline(key, shared.subarray(0, pt.length), { backend, output: shared.subarray(5) }),
      'ERR_INVALID_ARG', /overlap/);
    shared.set(sealed, 0);
    expectCode(() => openInline(key, shared.subarray(0, sealed.length), { backend, output: shared.subarray(100) }),
      'ERR_INVALID_ARG', /overlap/);
  });

  it('rejects bad arguments with ERR_INVALID_ARG saying what to pass', () => {
    const pt = new Uint8Array(4);
    const sealed = sealInline(key, pt, { backend });
    expectCode(() => sealInline('secret' as never, pt), 'ERR_INVALID_ARG', /Uint8Array or a secret KeyObject/);
    expectCode(() => sealInline(randomBytes(16), pt, { backend, suite: 'cobblestone-256' }), 'ERR_INVALID_ARG', /cobblestone-128/);
    expectCode(() => sealInline(randomBytes(24), pt, { backend }), 'ERR_INVALID_ARG', /32-byte key/);
    expectCode(() => sealInline(key, 'text' as never, { backend }), 'ERR_INVALID_ARG', /plaintext must be a Uint8Array/);
    expectCode(() => sealInline(key, pt, { suite: 'aes' as never }), 'ERR_INVALID_ARG', /suite/);
    expectCode(() => sealInline(key, pt, { context: 5 as never, backend }), 'ERR_INVALID_ARG', /context/);
    expectCode(() => sealInline(key, pt, { backend: 'gpu' as never }), 'ERR_INVALID_ARG', /backend/);
    expectCode(() => sealInline(key, pt, 'fast' as never), 'ERR_INVALID_ARG', /options/);
    expectCode(() => openInline(key, [1, 2] as never, { backend }), 'ERR_INVALID_ARG', /sealed/);
    // The key is checked before the data, so a wrong-size key is never reported as truncation.
    expectCode(() => openInline(randomBytes(31), new Uint8Array(3), { backend }), 'ERR_INVALID_ARG');
    expectCode(() => openInline(key, sealed, { backend, suite: 'cobblestone-128' }), 'ERR_INVALID_ARG');
  });
});

describe('header helpers', () => {
  const key = randomBytes(32);

  it('parseHeader recovers what createHeader derived, and checks the commitment', () => {
    const salt = randomBytes(24);
    const { header, derived } = createHeader(key, 'cobblestone-256', 'ctx', salt);
    expect(header.length).toBe(HEADER_BYTES);
    expect(Buffer.compare(header.subarray(0, 24), salt)).toBe(0);
    const ref = deriveKeys('cobblestone-256', key, salt, Buffer.from('ctx'));
    const keyOf = (d: typeof derived) => { const k = new Uint8Array(32); d.writeKey(k); return k; };
    expect(Buffer.compare(keyOf(derived), ref.key)).toBe(0);
    expect(Buffer.compare(header.subarray(24), ref.commitment)).toBe(0);
    const back = parseHeader(key, header, 'cobblestone-256', 'ctx');
    expect(Buffer.compare(keyOf(back), ref.key)).toBe(0);
    expect(Buffer.compare(back.baseNonce, ref.baseNonce)).toBe(0);
    wipeDerived(derived);
    expect(derived.baseNonce.every((b) => b === 0)).toBe(true);
    expect(() => keyOf(derived)).toThrow(); // the key (native memory with the addon) is gone

    expectCode(() => parseHeader(key, header, 'cobblestone-256', 'other'), 'ERR_WRONG_KEY_OR_CONTEXT');
    expectCode(() => parseHeader(randomBytes(32), header, 'cobblestone-256', 'ctx'), 'ERR_WRONG_KEY_OR_CONTEXT');
    expectCode(() => parseHeader(key, header.subarray(0, 55), 'cobblestone-256', 'ctx'), 'ERR_TRUNCATED');
    // A longer buffer is fine: only the first 56 bytes are the header.
    const longer = new Uint8Array(100);
    longer.set(header);
    expect(Buffer.compare(keyOf(parseHeader(key, longer, 'cobblestone-256', 'ctx')), ref.key)).toBe(0);
  });

  it('createHeader refuses a salt that is not 24 bytes', () => {
    expectCode(() => createHeader(key, 'cobblestone-256', undefined, new Uint8Array(16)), 'ERR_INVALID_ARG', /24 bytes/);
  });
});

describe('chunk counter limit', () => {
  it('aborts before the counter reaches 2^38 ("Message chunking")', () => {
    const { derived } = createHeader(randomBytes(32));
    const gk = importDerived(nodeBackend, derived);
    try {
      const out = new Uint8Array(2 * (C + 16));
      // The last two counters below the limit are fine; one more is refused.
      sealChunkRun(gk, derived.baseNonce, 2 ** 38 - 2, new Uint8Array(C + 1), 2, out);
      openChunkRun(gk, derived.baseNonce, 2 ** 38 - 2, out.subarray(0, C + 17 + 16), 2, new Uint8Array(C + 1));
      expectCode(() => sealChunkRun(gk, derived.baseNonce, 2 ** 38 - 1, new Uint8Array(C + 1), 2, out), 'ERR_TOO_LARGE', /2\^38/);
      expectCode(() => openChunkRun(gk, derived.baseNonce, 2 ** 38 - 1, out, 2, new Uint8Array(C + 1)), 'ERR_TOO_LARGE');
    } finally {
      gk.destroy();
      wipeDerived(derived);
    }
  });
});
