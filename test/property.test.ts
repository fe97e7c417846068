/**
 * Property tests (fast-check) over messages sized around chunk boundaries, contexts (bytes or
 * strings), both suites, threads 1 and 2 (one chunk per slot, so threads 2 really fans out to
 * the pool) and every backend: open(seal(m)) is m, and any single mutation of a sealed message
 * (a bit flip anywhere, a truncation at any length, bytes appended, a chunk spliced in from
 * another message under the same key and context, two chunks swapped, another key or context)
 * is rejected with a WeightsealError and never opens to anything. Through the streaming APIs,
 * what comes out before the error is whole chunks of the true plaintext, none at or after the
 * first damaged record (c2sp.org/chunked-encryption "Implementation notes").
 *
 * WEIGHTSEAL_FC_SEED=<int> reruns with a fixed seed (fast-check prints the failing seed and
 * path); WEIGHTSEAL_FC_RUNS=<x> scales numRuns (e.g. 10 for a long soak).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sealedLength, type Suite } from '../src/cobblestone.js';
import { isWeightsealError } from '../src/errors.js';
import { bounce, createOpenStream, open, openWebStream, seal } from '../src/stream-api.js';
import { allCases } from './helpers/backends.js';
import {
  CHUNK_BYTES, HEADER_BYTES, SEALED_CHUNK_BYTES, TAG_BYTES, bytes, concat, equal, pieces, shared, throughNode, throughWeb,
  type Drained,
} from './pipeline-helpers.js';

const SEED = process.env.WEIGHTSEAL_FC_SEED === undefined ? undefined : Number(process.env.WEIGHTSEAL_FC_SEED);
const SCALE = Number(process.env.WEIGHTSEAL_FC_RUNS ?? 1);
const params = (numRuns: number) => ({ numRuns: Math.max(1, Math.round(numRuns * SCALE)), ...(SEED === undefined ? {} : { seed: SEED }) });

/** Noble runs at ~40 MB/s: its messages stay within 3 chunks. */
const NOBLE_MAX = 3 * CHUNK_BYTES + 1;

/** Sizes that cross 0..3 chunk boundaries (exactly, or a few bytes either side), plus larger ones. */
const sizeArb = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: -2, max: 2 })).map(([k, d]) => Math.max(0, k * CHUNK_BYTES + d)),
  fc.integer({ min: 0, max: 3 * CHUNK_BYTES + 1 }),
  fc.integer({ min: 3 * CHUNK_BYTES, max: 24 * CHUNK_BYTES + 100 }),
);

const contextArb = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 48 }),
  fc.string({ maxLength: 24, unit: 'grapheme' }),
);

interface Case {
  /** A label of allCases(): counterexamples print it rather than the backend object. */
  backend: string;
  suite: Suite;
  threads: 1 | 2;
  /** Chunks per slot: 1 makes every chunk its own slot (and worker task). */
  slotChunks: number;
  context: Uint8Array | string | undefined;
  key: Uint8Array;
  size: number;
  seed: number;
}

/**
 * Every backend, noble (pure JS, ~40 MB/s) at half the weight of each other one.
 * A failed final record costs one trial open per byte length (work.ts endsEarly, quadratic in
 * the record length: ~2 s on noble for 16 KiB), so where mutations are opened noble messages
 * stay under NOBLE_MUTATED_MAX bytes.
 */
const BACKENDS = new Map(allCases().map((bc) => [bc.label, bc.backend]));
const backendArb = fc.oneof(
  ...[...BACKENDS.keys()].map((label) => ({ arbitrary: fc.constant(label), weight: label === 'noble' ? 1 : 2 })),
);
const NOBLE_MUTATED_MAX = 3000;

function caseArb(mutated: boolean): fc.Arbitrary<Case> {
  return fc.record({
    backend: backendArb,
    suite: fc.constantFrom<Suite>('cobblestone-256', 'cobblestone-128'),
    threads: fc.constantFrom<1 | 2>(1, 2),
    slotChunks: fc.constantFrom(1, 1, 2, 3),
    context: contextArb,
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    size: sizeArb,
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
  }).map((c) => ({
    ...c,
    key: c.suite === 'cobblestone-128' ? c.key.slice(0, 16) : c.key,
    size: c.backend === 'noble' ? c.size % ((mutated ? NOBLE_MUTATED_MAX : NOBLE_MAX) + 1) : c.size,
  }));
}

const optsOf = (c: Case, context = c.context) => ({
  backend: BACKENDS.get(c.backend)!, threads: c.threads, suite: c.suite, context, slotBytes: c.slotChunks * CHUNK_BYTES,
});

const describeCase = (c: Case) =>
  `${c.backend} ${c.suite} threads ${c.threads} slot ${c.slotChunks} chunks, ${c.size} bytes`;

/** Body offset of record k. */
const recordAt = (k: number) => HEADER_BYTES + k * SEALED_CHUNK_BYTES;
const recordCount = (sealedLen: number) => Math.ceil((sealedLen - HEADER_BYTES) / SEALED_CHUNK_BYTES);

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; length: number; seed: number }
  | { kind: 'splice'; from: number; to: number; samePlaintext: boolean }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'key'; at: number; bit: number }
  | { kind: 'context'; extra: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }), weight: 3 },
  {
    arbitrary: fc.record({
      kind: fc.constant('extend' as const),
      // Up to a whole record and a bit: a short final chunk followed by something chunk-sized.
      length: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: SEALED_CHUNK_BYTES + 40 }),
        fc.constant(SEALED_CHUNK_BYTES)),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('splice' as const), from: fc.nat(), to: fc.nat(), samePlaintext: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('key' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('context' as const), extra: fc.integer({ min: 0, max: 255 }) }), weight: 1 },
);

interface Mutated {
  data: Uint8Array;
  key: Uint8Array;
  context: Uint8Array | string | undefined;
  /** Codes the open may fail with. */
  codes: string[];
  /** The chunk ERR_AUTH_FAILED or ERR_TRAILING_DATA must name. */
  chunk?: number;
  /** Plaintext bytes a streaming opener may release: whole chunks before the first damaged record. */
  prefix: number;
}

/** Plaintext a streaming opener may release when the sealed bytes first differ at `at`. */
const prefixBefore = (at: number) => (at < HEADER_BYTES ? 0 : Math.floor((at - HEADER_BYTES) / SEALED_CHUNK_BYTES) * CHUNK_BYTES);

function record(sealed: Uint8Array, k: number): Uint8Array {
  return sealed.subarray(recordAt(k), Math.min(sealed.length, recordAt(k + 1)));
}

/** Applies `m` to `sealed` (of case `c`); null when it does not apply (a swap needs two chunks). */
async function mutate(c: Case, pt: Uint8Array, sealed: Uint8Array, m: Mutation): Promise<Mutated | null> {
  const n = recordCount(sealed.length);
  const base = { key: c.key, context: c.context };
  switch (m.kind) {
    case 'flip': {
      const at = m.at % sealed.length;
      const data = Uint8Array.from(sealed);
      data[at]! ^= 1 << m.bit;
      if (at < HEADER_BYTES) return { ...base, data, codes: ['ERR_WRONG_KEY_OR_CONTEXT'], prefix: 0 };
      const chunk = Math.floor((at - HEADER_BYTES) / SEALED_CHUNK_BYTES);
      return { ...base, data, codes: ['ERR_AUTH_FAILED'], chunk, prefix: prefixBefore(at) };
    }
    case 'truncate': {
      const at = m.at % sealed.length;
      const data = sealed.subarray(0, at);
      // A last record of at least a tag is tried as a (short) final chunk and fails its tag.
      const rest = at < HEADER_BYTES ? 0 : (at - HEADER_BYTES) % SEALED_CHUNK_BYTES;
      const codes = rest >= TAG_BYTES ? ['ERR_AUTH_FAILED'] : ['ERR_TRUNCATED'];
      return { ...base, data, codes, chunk: Math.floor((at - HEADER_BYTES) / SEALED_CHUNK_BYTES), prefix: prefixBefore(at) };
    }
    case 'extend': {
      // ERR_TRAILING_DATA where the valid final chunk can be found again (work.ts endsEarly), else
      // ERR_AUTH_FAILED: either way at the final chunk, whose plaintext is not released.
      const data = concat([sealed, bytes(m.length, m.seed)]);
      return { ...base, data, codes: ['ERR_TRAILING_DATA', 'ERR_AUTH_FAILED'], chunk: n - 1, prefix: prefixBefore(sealed.length) };
    }
    case 'splice': {
      // Another message under the same key and context (same plaintext or not): its own salt,
      // so its chunks are under another derived key.
      const other = await seal(c.key, m.samePlaintext ? pt : bytes(pt.length + CHUNK_BYTES, c.seed + 1), optsOf(c));
      const to = m.to % n;
      const from = m.from % recordCount(other.length);
      const data = concat([sealed.subarray(0, recordAt(to)), record(other, from), sealed.subarray(Math.min(sealed.length, recordAt(to + 1)))]);
      return { ...base, data, codes: ['ERR_AUTH_FAILED'], chunk: to, prefix: prefixBefore(recordAt(to)) };
    }
    case 'swap': {
      if (n < 2) return null;
      let a = m.a % n;
      let b = m.b % n;
      if (a === b) b = (a + 1) % n;
      if (a > b) [a, b] = [b, a];
      const data = concat([sealed.subarray(0, recordAt(a)), record(sealed, b), sealed.subarray(recordAt(a + 1), recordAt(b)),
        record(sealed, a), sealed.subarray(Math.min(sealed.length, recordAt(b + 1)))]);
      return { ...base, data, codes: ['ERR_AUTH_FAILED'], chunk: a, prefix: prefixBefore(recordAt(a)) };
    }
    case 'key': {
      const key = Uint8Array.from(c.key);
      key[m.at % key.length]! ^= 1 << m.bit;
      return { data: sealed, key, context: c.context, codes: ['ERR_WRONG_KEY_OR_CONTEXT'], prefix: 0 };
    }
    case 'context': {
      const bytesOf = typeof c.context === 'string' ? new TextEncoder().encode(c.context) : c.context ?? new Uint8Array(0);
      const context = concat([bytesOf, new Uint8Array([m.extra])]);
      return { data: sealed, key: c.key, context, codes: ['ERR_WRONG_KEY_OR_CONTEXT'], prefix: 0 };
    }
  }
}

/** A WeightsealError with one of the codes the mutation allows, naming the damaged chunk. */
function expectRejected(t: Mutated, error: unknown, what: string): void {
  expect(isWeightsealError(error), `${what}: ${String(error)}`).toBe(true);
  const e = error as { code: string; chunk?: number };
  expect(t.codes, `${what}: ${String(error)}`).toContain(e.code);
  if (t.chunk !== undefined && (e.code === 'ERR_AUTH_FAILED' || e.code === 'ERR_TRAILING_DATA')) {
    expect(e.chunk, `${what}: ${String(error)}`).toBe(t.chunk);
  }
}

/**
 * Where a streamed open reads its sealed bytes from and hands plaintext to: Node and Web
 * streams, bounce from a buffer, from SharedArrayBuffer memory (workers read it in place) and
 * from an iterable of pieces.
 */
type Via = 'node' | 'web' | 'bounce-bytes' | 'bounce-shared' | 'bounce-iterable';
const viaArb = fc.constantFrom<Via>('node', 'web', 'bounce-bytes', 'bounce-shared', 'bounce-iterable');

async function streamOpen(via: Via, key: Uint8Array, data: Uint8Array, opts: ReturnType<typeof optsOf>,
  pieceMax: number, pieceSeed: number): Promise<Drained> {
  if (via === 'node') return throughNode(createOpenStream(key, opts), pieces(data, pieceMax, pieceSeed));
  if (via === 'web') return throughWeb(openWebStream(key, opts), pieces(data, pieceMax, pieceSeed));
  const parts: Uint8Array[] = [];
  let next = 0;
  let error: unknown = null;
  try {
    const source = via === 'bounce-bytes' ? data : via === 'bounce-shared' ? shared(data) : [...pieces(data, pieceMax, pieceSeed)];
    await bounce(source, key, {
      ...opts, mode: 'open',
      onSlot(view, offset) {
        if (offset !== next) throw new Error(`onSlot offset ${offset}, expected ${next}`);
        next += view.length;
        parts.push(Uint8Array.from(view));
      },
    });
  } catch (e) {
    error = e;
  }
  return { out: concat(parts), error };
}

describe('properties', () => {
  it('open(seal(m)) is m, whole and streamed', async () => {
    await fc.assert(fc.asyncProperty(caseArb(false), viaArb, fc.integer({ min: 1, max: 40_000 }), async (c, via, pieceMax) => {
      const pt = bytes(c.size, c.seed);
      const opts = optsOf(c);
      const sealed = await seal(c.key, pt, opts);
      expect(sealed.length, describeCase(c)).toBe(sealedLength(c.size));
      expect(equal(await open(c.key, sealed, opts), pt), describeCase(c)).toBe(true);
      const r = await streamOpen(via, c.key, sealed, opts, pieceMax, c.seed);
      expect(r.error, `${via}: ${describeCase(c)}`).toBe(null);
      expect(equal(r.out, pt), `${via}: ${describeCase(c)}`).toBe(true);
    }), params(60));
  });

  it('every single mutation of a sealed message is rejected by open()', async () => {
    await fc.assert(fc.asyncProperty(caseArb(true), mutationArb, async (c, m) => {
      const pt = bytes(c.size, c.seed);
      const sealed = await seal(c.key, pt, optsOf(c));
      const t = await mutate(c, pt, sealed, m);
      fc.pre(t !== null);
      const what = `${m.kind}: ${describeCase(c)}`;
      let opened: Uint8Array | null = null;
      let error: unknown = null;
      try {
        opened = await open(t!.key, t!.data, optsOf(c, t!.context));
      } catch (e) {
        error = e;
      }
      expect(opened, `${what} opened to ${opened?.length} bytes`).toBe(null);
      expectRejected(t!, error, what);
    }), params(100));
  });

  it('a streamed open of a mutated message releases only whole verified chunks of the true plaintext', async () => {
    await fc.assert(fc.asyncProperty(caseArb(true), mutationArb, viaArb, fc.integer({ min: 1, max: 40_000 }), async (c, m, via, pieceMax) => {
      const pt = bytes(c.size, c.seed);
      const sealed = await seal(c.key, pt, optsOf(c));
      const t = await mutate(c, pt, sealed, m);
      fc.pre(t !== null);
      const what = `${via}, ${m.kind}: ${describeCase(c)}`;
      const r = await streamOpen(via, t!.key, t!.data, optsOf(c, t!.context), pieceMax, c.seed);
      expectRejected(t!, r.error, what);
      expect(r.out.length % CHUNK_BYTES, what).toBe(0);
      expect(r.out.length, what).toBeLessThanOrEqual(t!.prefix);
      expect(equal(r.out, pt.subarray(0, r.out.length)), what).toBe(true);
    }), params(80));
  });
});
