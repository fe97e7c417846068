/**
 * Tampering on the whole-buffer path (openInline) and the random-access path (SealedFile
 * from bytes and from a file), on every backend: a flipped bit in the salt, the commitment,
 * every chunk body and tag; truncation at every chunk boundary, inside the header and inside
 * tags; appended garbage; an extra validly encrypted chunk; swapped and duplicated chunks;
 * wrong key; wrong context. Each is rejected with its code (and chunk index) and releases
 * no plaintext: openInline zeroes its output, SealedFile refuses to open or zeroes the read.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHUNK_BYTES, HEADER_BYTES, SEALED_CHUNK_BYTES, TAG_BYTES } from '../src/cobblestone.js';
import { isWeightsealError, type ErrorCode } from '../src/errors.js';
import { TEST_SALT, createHeader, importDerived, openInline, sealChunkRun, sealInline, wipeDerived } from '../src/format.js';
import { SealedFile } from '../src/sealed-file.js';
import { allCases } from './helpers/backends.js';

const C = CHUNK_BYTES, SC = SEALED_CHUNK_BYTES;
const key = randomBytes(32);
const salt = randomBytes(24);
const context = 'tamper-suite';

interface Case {
  name: string;
  sealed: Uint8Array;
  code: ErrorCode;
  /** The chunk an ERR_AUTH_FAILED from openInline names: the first one that fails. */
  chunk?: number;
  /**
   * Whether the final chunk of the tampered layout still authenticates (then SealedFile
   * opens and the read fails); otherwise SealedFile.open fails on the final chunk,
   * `finalChunk`, which with appended bytes lies after `chunk`.
   */
  finalIntact?: boolean;
  finalChunk?: number;
  /**
   * Appended bytes SealedFile.open recognises as such (ERR_TRAILING_DATA naming the real final
   * chunk): the real final chunk lies in the failing last record, or one full record before it.
   */
  trailingAt?: number;
  key?: Uint8Array;
  context?: string;
}

/**
 * What a sealed body of this length must fail with ("Implementation notes" arithmetic), when
 * its first `intact` chunks are unchanged.
 */
function lengthVerdict(bodyBytes: number, intact: number): Partial<Case> & { code: ErrorCode } {
  const rest = bodyBytes % SC;
  if (bodyBytes < 0 || rest < TAG_BYTES) return { code: 'ERR_TRUNCATED' };
  const finalChunk = Math.floor(bodyBytes / SC);
  return { code: 'ERR_AUTH_FAILED', chunk: Math.min(intact, finalChunk), finalChunk };
}

/** A validly encrypted chunk at `index` under the same key, salt and context. */
function validChunk(index: number, plaintext: Uint8Array): Uint8Array {
  const { derived } = createHeader(key, 'cobblestone-256', context, salt);
  const gk = importDerived(allCases().at(-1)!.backend, derived);
  try {
    const out = new Uint8Array(plaintext.length + TAG_BYTES);
    sealChunkRun(gk, derived.baseNonce, index, plaintext, 1, out);
    return out;
  } finally {
    gk.destroy();
    wipeDerived(derived);
  }
}

function cases(name: string, pt: Uint8Array): Case[] {
  const sealed = sealInline(key, pt, { context, backend: 'node', [TEST_SALT]: salt });
  const n = Math.floor(pt.length / C) + 1;
  const body = sealed.length - HEADER_BYTES;
  const out: Case[] = [];
  const flip = (at: number): Uint8Array => {
    const t = Uint8Array.from(sealed);
    t[at]! ^= 0x04;
    return t;
  };
  const chunkAt = (k: number) => HEADER_BYTES + k * SC;
  const chunkLen = (k: number) => Math.min(SC, body - k * SC);
  const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

  out.push({ name: `${name}: flipped salt bit`, sealed: flip(7), code: 'ERR_WRONG_KEY_OR_CONTEXT' });
  out.push({ name: `${name}: flipped commitment bit`, sealed: flip(24 + 31), code: 'ERR_WRONG_KEY_OR_CONTEXT' });
  for (let k = 0; k < n; k++) {
    if (chunkLen(k) > TAG_BYTES) {
      out.push({ name: `${name}: flipped bit in chunk ${k}`, sealed: flip(chunkAt(k) + (chunkLen(k) >> 1)), code: 'ERR_AUTH_FAILED', chunk: k, finalIntact: k !== n - 1 });
    }
    out.push({ name: `${name}: flipped bit in tag ${k}`, sealed: flip(chunkAt(k) + chunkLen(k) - 3), code: 'ERR_AUTH_FAILED', chunk: k, finalIntact: k !== n - 1 });
  }
  for (const cut of [0, 23, 55]) {
    out.push({ name: `${name}: cut inside the header at ${cut}`, sealed: sealed.subarray(0, cut), code: 'ERR_TRUNCATED' });
  }
  for (let k = 0; k < n; k++) {
    out.push({ name: `${name}: cut at chunk boundary ${k}`, sealed: sealed.subarray(0, chunkAt(k)), code: 'ERR_TRUNCATED' });
    for (const inTag of [1, 8, 15]) {
      const len = chunkAt(k) + chunkLen(k) - inTag;
      out.push({ name: `${name}: cut ${inTag} bytes into tag ${k}`, sealed: sealed.subarray(0, len), ...lengthVerdict(len - HEADER_BYTES, k) });
    }
  }
  // The real final record is chunkLen(n - 1) bytes; after `g` more, where does SealedFile look?
  const trailingAt = (g: number): Partial<Case> => {
    const v = lengthVerdict(body + g, n - 1);
    if (v.code !== 'ERR_AUTH_FAILED') return {};
    const lastLen = (body + g) % SC;
    return v.finalChunk === n - 1 || (v.finalChunk === n && lastLen === chunkLen(n - 1)) ? { trailingAt: n - 1 } : {};
  };
  for (const g of [1, 15, 16, 100, SC - 1, SC]) {
    out.push({ name: `${name}: ${g} bytes of garbage appended`, sealed: concat(sealed, randomBytes(g)),
      ...lengthVerdict(body + g, n - 1), ...trailingAt(g) });
  }
  const extra = validChunk(n, randomBytes(50));
  out.push({ name: `${name}: extra valid chunk ${n} appended`, sealed: concat(sealed, extra),
    ...lengthVerdict(body + extra.length, n - 1), ...trailingAt(extra.length) });
  if (n >= 3) {
    const c0 = sealed.subarray(chunkAt(0), chunkAt(1)), c1 = sealed.subarray(chunkAt(1), chunkAt(2));
    const rest = sealed.subarray(chunkAt(2));
    const head = sealed.subarray(0, HEADER_BYTES);
    out.push({ name: `${name}: chunks 0 and 1 swapped`, sealed: concat(head, c1, c0, rest), code: 'ERR_AUTH_FAILED', chunk: 0, finalIntact: true });
    out.push({ name: `${name}: chunk 0 duplicated over chunk 1`, sealed: concat(head, c0, c0, rest), code: 'ERR_AUTH_FAILED', chunk: 1, finalIntact: true });
    // The final chunk moved one place earlier: the message shortened by a whole chunk.
    out.push({ name: `${name}: chunk ${n - 2} dropped`, sealed: concat(sealed.subarray(0, chunkAt(n - 2)), sealed.subarray(chunkAt(n - 1))), code: 'ERR_AUTH_FAILED', chunk: n - 2 });
  }
  out.push({ name: `${name}: wrong key`, sealed, code: 'ERR_WRONG_KEY_OR_CONTEXT', key: randomBytes(32) });
  out.push({ name: `${name}: wrong context`, sealed, code: 'ERR_WRONG_KEY_OR_CONTEXT', context: 'tamper-suit' });
  out.push({ name: `${name}: empty context for a message sealed with one`, sealed, code: 'ERR_WRONG_KEY_OR_CONTEXT', context: '' });
  return out;
}

const all = [
  ...cases('3 full + short', randomBytes(3 * C + 100)),
  ...cases('2 full + empty final', randomBytes(2 * C)),
  ...cases('empty message', new Uint8Array(0)),
];
const dir = mkdtempSync(join(tmpdir(), 'weightseal-tamper-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectFailure(e: unknown, c: Case, chunk = c.chunk): void {
  if (!isWeightsealError(e)) throw e;
  expect(e.code, e.message).toBe(c.code);
  if (c.code === 'ERR_AUTH_FAILED') expect(e.chunk).toBe(chunk);
}

/** SealedFile.open checks the header, the length and the final chunk. */
function failsAtOpen(c: Case): boolean {
  return c.code !== 'ERR_AUTH_FAILED' || !c.finalIntact;
}

let applied = 0;
afterAll(() => console.log(`tampering cases: ${all.length} per backend, ${applied} applications in all`));

describe.each(allCases())('tampering on $label', ({ backend }) => {
  it.each(all.map((c) => [c.name, c] as const))('whole buffer: %s', (_, c) => {
    const opts = { context: c.context ?? context, backend };
    const output = new Uint8Array(6 * C).fill(0xee);
    let got: Uint8Array | undefined;
    try {
      got = openInline(c.key ?? key, c.sealed, { ...opts, output });
    } catch (e) {
      expectFailure(e, c);
    }
    expect(got).toBeUndefined();
    // Whatever it wrote before failing is zero again; beyond that it never wrote.
    expect(output.every((b) => b === 0 || b === 0xee)).toBe(true);
    applied++;
  });

  it.each(all.map((c) => [c.name, c] as const))('SealedFile: %s', async (_, c) => {
    const opts = { context: c.context ?? context, backend };
    const file = join(dir, `${backend.name}-${all.indexOf(c)}.sealed`);
    writeFileSync(file, c.sealed);
    for (const open of [() => SealedFile.fromBytes(c.sealed, c.key ?? key, opts), () => SealedFile.open(file, c.key ?? key, opts)]) {
      let sf: SealedFile | undefined;
      try {
        sf = await open();
      } catch (e) {
        expect(failsAtOpen(c)).toBe(true);
        if (c.trailingAt !== undefined) {
          expect(isWeightsealError(e, 'ERR_TRAILING_DATA') && e.chunk, String(e)).toBe(c.trailingAt);
          continue;
        }
        expectFailure(e, c, c.finalChunk ?? c.chunk);
        continue;
      }
      try {
        expect(failsAtOpen(c)).toBe(false);
        const buf = new Uint8Array(sf.size).fill(0xee);
        await expect(sf.readInto(buf, 0)).rejects.toSatisfy((e) => {
          expectFailure(e, c);
          return true;
        });
        expect(buf.every((b) => b === 0)).toBe(true);
        // Chunks before the failing one still read; the failing one never does.
        const before = c.chunk! * C;
        expect((await sf.read(0, before)).length).toBe(before);
        await expect(sf.read(before, 1)).rejects.toThrow(/failed authentication/);
      } finally {
        await sf.close();
      }
    }
    applied++;
  });
});
