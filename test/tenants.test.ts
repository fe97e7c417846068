/**
 * Many tenants on one worker pool: 16 concurrent streams, each under its own key, context,
 * suite and backend, mixing seal and open over every API (whole buffers, Node and Web
 * streams, bounce, files), all with threads: 2, so they share the pools pool.ts keeps per
 * thread count: one of the addon's native threads for native tenants, one of piscina workers
 * (key slots per stream, workers caching one imported key per stream id) for the JS backends,
 * each of 2 threads. The inline limit is set to 0 here, so small messages use the pools too. Every
 * output opens only under its own key and context; one tenant failing (tampered input, a
 * sink or onSlot that throws, a Node stream consumer that goes away mid-way) leaves the other
 * 15 complete and correct, and the pool idle afterwards.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/index.js';
import type { Suite } from '../src/cobblestone.js';
import { setInlineBytes } from '../src/pipeline/options.js';
import { poolStats } from '../src/pipeline/pool.js';
import {
  bounce, createOpenStream, createSealStream, open, openFile, openWebStream, seal, sealFile, sealWebStream,
} from '../src/stream-api.js';
import { allCases } from './helpers/backends.js';
import {
  HEADER_BYTES, KiB, SEALED_CHUNK_BYTES, bytes, code, concat, equal, key, pieces, throughWeb,
} from './pipeline-helpers.js';

/** One chunk per slot: every tenant's message is many pool tasks, interleaved with the others'. */
const SLOT = 16 * KiB;
const TENANTS = 16;
const APIS = ['whole', 'node', 'web', 'bounce', 'file'] as const;
type Api = (typeof APIS)[number];
type Mode = 'seal' | 'open';
/** How the failing tenant fails. */
type Fault = 'tamper' | 'throwing-sink' | 'destroyed-consumer';

let dir: string;
let seq = 0;
let inlineBefore = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-tenants-'));
  inlineBefore = setInlineBytes(0);
});
afterAll(async () => {
  setInlineBytes(inlineBefore);
  await rm(dir, { recursive: true, force: true });
});

interface Tenant {
  id: number;
  key: Uint8Array;
  context: Uint8Array | string;
  suite: Suite;
  backend: Backend;
  label: string;
  mode: Mode;
  api: Api;
  plaintext: Uint8Array;
  /** The plaintext sealed under this tenant's key and context: the input when opening. */
  sealed: Uint8Array;
}

const opts = (t: Pick<Tenant, 'context' | 'suite' | 'backend'>) =>
  ({ threads: 2, slotBytes: SLOT, context: t.context, suite: t.suite, backend: t.backend });

/** Native kernels and node:crypto (noble is too slow for this many streams at once). */
const BACKENDS = allCases().filter((c) => c.label !== 'noble');

/** 16 tenants: every API in both modes, keys of both suites, contexts as strings and as bytes. */
async function makeTenants(): Promise<Tenant[]> {
  const tenants: Tenant[] = [];
  for (let id = 0; id < TENANTS; id++) {
    const suite: Suite = id % 3 === 2 ? 'cobblestone-128' : 'cobblestone-256';
    const bc = BACKENDS[id % BACKENDS.length]!;
    const base = {
      id, suite, backend: bc.backend, label: bc.label,
      key: key(suite === 'cobblestone-128' ? 16 : 32),
      // Neighbours differ in one byte: a string, then its UTF-8 with the first byte flipped.
      context: id % 2 === 0 ? `tenant/${id >> 1}` : new TextEncoder().encode(`tenant/${id >> 1}`).map((b, i) => (i === 0 ? b ^ 1 : b)),
      mode: (id % 2 === 0 ? 'seal' : 'open') as Mode,
      api: APIS[(id >> 1) % APIS.length]!,
      plaintext: bytes(96 * KiB + id * 1031, 1000 + id),
    };
    tenants.push({ ...base, sealed: await seal(base.key, base.plaintext, { ...opts(base), threads: 1 }) });
  }
  return tenants;
}

/** What a tenant's run produced: its output (up to a failure) and the error, if any. */
interface Outcome {
  out: Uint8Array;
  error: unknown;
}

/** Flips one bit of chunk 3: a tenant fed this must fail with ERR_AUTH_FAILED at chunk 3. */
function tampered(sealed: Uint8Array): Uint8Array {
  const d = Uint8Array.from(sealed);
  d[HEADER_BYTES + 3 * SEALED_CHUNK_BYTES + 100]! ^= 0x01;
  return d;
}

const sinkFailure = () => new Error('tenant sink failed');

/** Runs one tenant through its API; `fault` makes it fail in that way. */
async function run(t: Tenant, fault: Fault | null = null): Promise<Outcome> {
  const input = t.mode === 'seal' ? t.plaintext : fault === 'tamper' ? tampered(t.sealed) : t.sealed;
  const o = opts(t);
  const parts: Uint8Array[] = [];
  let error: unknown = null;
  try {
    switch (t.api) {
      case 'whole':
        parts.push(t.mode === 'seal' ? await seal(t.key, input, o) : await open(t.key, input, o));
        break;
      case 'node': {
        const tr = t.mode === 'seal' ? createSealStream(t.key, o) : createOpenStream(t.key, o);
        if (fault === 'destroyed-consumer') {
          // A consumer that stops after two pieces: leaving for-await destroys the stream.
          Readable.from(pieces(input, 20_000, t.id)).pipe(tr);
          for await (const chunk of tr) {
            parts.push(new Uint8Array(chunk as Buffer));
            if (parts.length === 2) break;
          }
          if (!tr.destroyed) throw new Error('the transform outlived its consumer');
          throw new Error('consumer went away');
        }
        let writes = 0;
        await pipeline(Readable.from(pieces(input, 20_000, t.id)), tr, new Writable({
          write(chunk: Buffer, _enc, cb) {
            if (fault === 'throwing-sink' && ++writes === 3) {
              cb(sinkFailure());
              return;
            }
            parts.push(new Uint8Array(chunk));
            // An uneven consumer, so tenants' slots interleave in the pool.
            if (writes % 2 === 0) setImmediate(cb);
            else cb();
          },
        }));
        break;
      }
      case 'web': {
        const r = await throughWeb(t.mode === 'seal' ? sealWebStream(t.key, o) : openWebStream(t.key, o),
          pieces(input, 30_000, t.id));
        parts.push(r.out);
        if (r.error) throw r.error;
        break;
      }
      case 'bounce': {
        let slots = 0;
        let next = 0;
        await bounce(Readable.from(pieces(input, 12_000, t.id)), t.key, {
          ...o, mode: t.mode,
          async onSlot(view, offset) {
            if (fault === 'throwing-sink' && ++slots === 3) throw sinkFailure();
            if (offset !== next) throw new Error(`onSlot at ${offset}, expected ${next}`);
            next += view.length;
            parts.push(Uint8Array.from(view));
            await new Promise((r) => setImmediate(r));
          },
        });
        break;
      }
      case 'file': {
        const src = join(dir, `${seq++}-t${t.id}-in`);
        const dst = join(dir, `${seq++}-t${t.id}-out`);
        await writeFile(src, input);
        await (t.mode === 'seal' ? sealFile(src, dst, t.key, o) : openFile(src, dst, t.key, o));
        parts.push(new Uint8Array(await readFile(dst)));
        break;
      }
    }
  } catch (e) {
    error = e;
  }
  return { out: concat(parts), error };
}

/** A tenant that ran cleanly: sealing, its output opens to its plaintext; opening, it is the plaintext. */
async function expectCorrect(t: Tenant, r: Outcome): Promise<void> {
  const what = `tenant ${t.id} (${t.mode} via ${t.api}, ${t.label})`;
  expect(r.error, what).toBe(null);
  const plaintext = t.mode === 'seal' ? await open(t.key, r.out, { ...opts(t), threads: 1 }) : r.out;
  expect(equal(plaintext, t.plaintext), what).toBe(true);
}

/** Runs all tenants at once, `faulty` failing with `fault`, sampling the pool while they run. */
async function runAll(tenants: Tenant[], faulty = -1, fault: Fault | null = null) {
  const before = poolStats().completed;
  let maxThreads = 0;
  // Threads of the bigger of the two pools (native, piscina): each is bounded by threads: 2.
  const sample = () => { const s = poolStats(); maxThreads = Math.max(maxThreads, s.nativeThreads, s.workerThreads); };
  const sampler = setInterval(sample, 1);
  try {
    const outcomes = await Promise.all(tenants.map((t) => run(t, t.id === faulty ? fault : null)));
    sample();
    return { outcomes, tasks: poolStats().completed - before, maxThreads };
  } finally {
    clearInterval(sampler);
  }
}

/** Waits for the pool to drain: nothing queued and every worker without a task. */
async function expectPoolIdle(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = poolStats();
    if (s.queued === 0 && s.idle === s.threads) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const s = poolStats();
  expect(s.queued).toBe(0);
  expect(s.idle).toBe(s.threads);
  expect(s.nativeThreads).toBeLessThanOrEqual(2);
  expect(s.workerThreads).toBeLessThanOrEqual(2);
}

describe('16 tenants on one pool', () => {
  let tenants: Tenant[];
  beforeAll(async () => { tenants = await makeTenants(); });

  it('all complete and correct, sharing one pool of 2 threads per kind', async () => {
    const { outcomes, tasks, maxThreads } = await runAll(tenants);
    for (const t of tenants) await expectCorrect(t, outcomes[t.id]!);
    // Each tenant's message is 6+ slots of one chunk: their work ran on the shared workers.
    expect(tasks).toBeGreaterThanOrEqual(TENANTS * 6);
    expect(maxThreads).toBeGreaterThanOrEqual(1);
    expect(maxThreads).toBeLessThanOrEqual(2);
    await expectPoolIdle();
  });

  it('each sealed message opens only under its own key and context', async () => {
    const { outcomes } = await runAll(tenants);
    // Sealing tenants' outputs and opening tenants' inputs: one sealed message per tenant.
    const sealed = tenants.map((t) => (t.mode === 'seal' ? outcomes[t.id]!.out : t.sealed));
    for (const t of tenants) {
      for (const u of tenants) {
        if (u.id === t.id) continue;
        const attempts = [
          { key: u.key, context: u.context, suite: u.suite, why: 'key and context' },
          // The other tenant's key under this tenant's context, and this key under theirs.
          { key: u.key, context: t.context, suite: u.suite, why: 'key' },
          { key: t.key, context: u.context, suite: t.suite, why: 'context' },
        ];
        for (const a of attempts) {
          const what = `tenant ${t.id}'s message under tenant ${u.id}'s ${a.why}`;
          const err = await open(a.key, sealed[t.id]!, { ...opts(t), context: a.context, suite: a.suite })
            .then(() => null, (e: unknown) => e);
          expect(code(err), what).toBe('ERR_WRONG_KEY_OR_CONTEXT');
        }
      }
      // The same message streamed under another tenant's key fails before any output.
      const other = tenants[(t.id + 1) % TENANTS]!;
      const r = await run({ ...t, mode: 'open', api: 'node', sealed: sealed[t.id]!, key: other.key, suite: other.suite });
      expect(code(r.error), `tenant ${t.id} streamed under tenant ${other.id}'s key`).toBe('ERR_WRONG_KEY_OR_CONTEXT');
      expect(r.out.length).toBe(0);
    }
  });

  // Each failing tenant: which one (by mode and API) and what its run must end with.
  const faults: { fault: Fault; mode: Mode; api: Api; expectError: (e: unknown) => void }[] = [
    ...(['whole', 'node', 'web', 'bounce', 'file'] as const).map((api) => ({
      fault: 'tamper' as const, mode: 'open' as const, api,
      expectError: (e: unknown) => expect(e).toMatchObject({ code: 'ERR_AUTH_FAILED', chunk: 3 }),
    })),
    ...(['node', 'bounce'] as const).flatMap((api) => (['seal', 'open'] as const).map((mode) => ({
      fault: 'throwing-sink' as const, mode, api,
      expectError: (e: unknown) => expect(e).toMatchObject({ message: 'tenant sink failed' }),
    }))),
    ...(['seal', 'open'] as const).map((mode) => ({
      fault: 'destroyed-consumer' as const, mode, api: 'node' as const,
      expectError: (e: unknown) => expect(e).toMatchObject({ message: 'consumer went away' }),
    })),
  ];

  it.each(faults)('one tenant failing ($fault, $mode via $api) leaves the other 15 correct', async (f) => {
    const faulty = tenants.find((t) => t.mode === f.mode && t.api === f.api)!;
    const { outcomes } = await runAll(tenants, faulty.id, f.fault);
    const bad = outcomes[faulty.id]!;
    f.expectError(bad.error);
    // It failed mid-way (after output), and what it got out first is a prefix of what it should have produced.
    if (f.fault !== 'tamper') expect(bad.out.length).toBeGreaterThan(0);
    if (f.fault === 'tamper') expect(bad.out.length).toBeLessThanOrEqual(3 * 16 * KiB);
    if (faulty.mode === 'open') expect(equal(bad.out, faulty.plaintext.subarray(0, bad.out.length))).toBe(true);
    for (const t of tenants) if (t.id !== faulty.id) await expectCorrect(t, outcomes[t.id]!);
    await expectPoolIdle();
    // And the pool still serves a fresh tenant (its key slots and workers were not disturbed).
    const again = await run(faulty);
    await expectCorrect(faulty, again);
  });
});
