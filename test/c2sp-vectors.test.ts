/**
 * All 70 Wycheproof c2sp.org/chunked-encryption vectors (35 per suite) on every backend,
 * applied as test/vectors/c2sp_chunked_encryption.md says, through each path that exists
 * here: whole-buffer open, random access (SealedFile: length authentication, whole read,
 * the valid prefix), raw mode (open, and deterministic re-seal) and encryption with the
 * injected salt matching `ct` byte for byte.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../src/errors.js';
import { isWeightsealError } from '../src/errors.js';
import { TEST_SALT, openInline, sealInline, type InternalFormatOptions } from '../src/format.js';
import { rawOpen, rawSeal } from '../src/hazmat.js';
import { SealedFile } from '../src/sealed-file.js';
import { allCases } from './helpers/backends.js';
import {
  hasFlag, loadC2spVectors, matchesMessage, rawApplies, rawBody, referenceOpen, rejectionCodes, sha512Hex, vectorSalt,
  type C2spVector,
} from './helpers/c2sp.js';

const vectors = loadC2spVectors();

function codeOf(f: () => unknown): ErrorCode | 'none' {
  try {
    f();
  } catch (e) {
    if (isWeightsealError(e)) return e.code;
    throw e;
  }
  return 'none';
}

async function codeOfAsync(f: () => Promise<unknown>): Promise<ErrorCode | 'none'> {
  try {
    await f();
  } catch (e) {
    if (isWeightsealError(e)) return e.code;
    throw e;
  }
  return 'none';
}

const messages = new Map<C2spVector, Uint8Array>();
function message(v: C2spVector): Uint8Array {
  let m = messages.get(v);
  if (!m) messages.set(v, (m = referenceOpen(v)));
  return m;
}

const applied: Record<string, number> = {};
function count(path: string): void {
  applied[path] = (applied[path] ?? 0) + 1;
}

afterAll(() => {
  console.log('c2sp vectors applied per path (all backends):\n' +
    Object.entries(applied).sort(([a], [b]) => a.localeCompare(b)).map(([p, n]) => `  ${p.padEnd(52)} ${n}`).join('\n'));
});

it('loads 35 vectors per suite', () => {
  expect(loadC2spVectors('cobblestone-128').length).toBe(35);
  expect(loadC2spVectors('cobblestone-256').length).toBe(35);
});

describe.each(allCases())('c2sp vectors on $label', ({ backend }) => {
  it.each(vectors.map((v) => [v.label, v] as const))('whole-buffer open: %s', (_, v) => {
    const opts = { suite: v.suite, context: v.ctx, backend };
    if (v.valid) {
      const out = openInline(v.key, v.ct, opts);
      expect(out.length).toBe(v.msgLength);
      expect(sha512Hex(out)).toBe(v.msgSha512);
    } else {
      const code = codeOf(() => openInline(v.key, v.ct, opts));
      expect(rejectionCodes(v)).toContain(code);
      count(`whole-buffer open: rejected with ${code}`);
    }
    count('whole-buffer open (openInline)');
  });

  it.each(vectors.map((v) => [v.label, v] as const))('random access: %s', async (_, v) => {
    const opts = { suite: v.suite, context: v.ctx, backend };
    const header = hasFlag(v, 'HeaderFailure');
    // Length authentication happens in SealedFile.open: it decrypts the final chunk.
    const lengthOk = v.valid || (!header && hasFlag(v, 'ValidFinalChunk'));
    let sf: SealedFile | undefined;
    const code = await codeOfAsync(async () => { sf = await SealedFile.fromBytes(v.ct, v.key, opts); });
    count('SealedFile length authentication');
    if (!lengthOk) {
      expect(sf).toBeUndefined();
      // SealedFile tells appended bytes from a modified final chunk, as the streaming APIs do.
      const codes: string[] = hasFlag(v, 'TrailingData') ? [...rejectionCodes(v), 'ERR_TRAILING_DATA'] : rejectionCodes(v);
      expect(codes).toContain(code);
      if (/short final chunk followed by extra/.test(v.comment)) expect(code, v.label).toBe('ERR_TRAILING_DATA');
      return;
    }
    expect(code).toBe('none');
    const f = sf!;
    try {
      const whole = f.read(0, f.size);
      count('SealedFile whole read');
      if (v.valid) {
        expect(f.size).toBe(v.msgLength);
        const out = await whole;
        expect(sha512Hex(out)).toBe(v.msgSha512);
        // A few reads that start and end inside chunks agree with the message.
        const msg = message(v);
        for (const [p, n] of [[1, 5], [f.size >> 1, 20000], [Math.max(0, f.size - 17000), 17000]] as const) {
          const got = await f.read(Math.min(p, f.size), n);
          expect(Buffer.from(got).equals(Buffer.from(msg.subarray(p, p + n)))).toBe(true);
        }
      } else {
        expect(await codeOfAsync(() => whole)).toBe('ERR_AUTH_FAILED');
        if (hasFlag(v, 'PartialPlaintext')) {
          // Reading only the validly encrypted prefix may succeed, and must give that prefix.
          const prefix = await f.read(0, v.msgLength!);
          expect(matchesMessage(v, prefix)).toBe(true);
          count('SealedFile valid-prefix read');
        }
      }
    } finally {
      await f.close();
    }
  });

  const rawVectors = vectors.filter(rawApplies);
  it.each(rawVectors.map((v) => [v.label, v] as const))('raw open: %s', (_, v) => {
    const body = rawBody(v);
    if (v.valid) {
      const out = rawOpen(v.aeadKey!, v.baseNonce!, body, { backend });
      expect(matchesMessage(v, out)).toBe(true);
    } else {
      expect(rejectionCodes(v, true)).toContain(codeOf(() => rawOpen(v.aeadKey!, v.baseNonce!, body, { backend })));
    }
    count('raw open (hazmat.rawOpen)');
  });

  const valid = vectors.filter((v) => v.valid);
  it.each(valid.map((v) => [v.label, v] as const))('raw re-seal: %s', (_, v) => {
    const sealed = rawSeal(v.aeadKey!, v.baseNonce!, message(v), { backend });
    expect(Buffer.from(sealed).equals(Buffer.from(rawBody(v)))).toBe(true);
    count('raw re-seal (hazmat.rawSeal)');
  });

  it.each(valid.map((v) => [v.label, v] as const))('seal with injected salt: %s', (_, v) => {
    const opts: InternalFormatOptions = { suite: v.suite, context: v.ctx, backend, [TEST_SALT]: vectorSalt(v) };
    const sealed = sealInline(v.key, message(v), opts);
    expect(Buffer.from(sealed).equals(Buffer.from(v.ct))).toBe(true);
    count('seal with injected salt (sealInline)');
  });
});
