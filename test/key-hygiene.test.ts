/**
 * Key hygiene: keys only as Uint8Array or a secret KeyObject; no key byte in any thrown error
 * (message, stack, own props, util.inspect, cause chain) or anything written to stderr or the
 * console; every imported key destroyed (native memory wiped) and every JS-side derived key and
 * base nonce zeroed once a call or handle is done, observed through a recording backend.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addonStatus } from '../src/backend/addon.js';
import { nodeBackend, type Backend, type GcmKey } from '../src/backend/index.js';
import { sealInline } from '../src/format.js';
import { gcmOpen, gcmSeal, rawOpen, rawSeal, rawOpenChunks, rawSealChunks } from '../src/hazmat.js';
import {
  SealedFile, WeightsealError, createOpenStream, createSealStream, open, openFile, openWebStream, seal, sealFile,
  sealWebStream,
} from '../src/index.js';
import { isLive, readKeySlot, wipeKeySlot, writeKeySlot } from '../src/pipeline/keyslot.js';
import { allCases } from './helpers/backends.js';
import { caught, expectNoKey, serialise } from './helpers/leaks.js';

const RKEY = new Uint8Array(randomBytes(32));
const RKEY16 = new Uint8Array(randomBytes(16));
const A5 = new Uint8Array(32).fill(0xa5);
const NONCE = new Uint8Array(randomBytes(12));
const PLAIN = new Uint8Array(5 * 16384 + 33).map((_, i) => i * 13);
const isZero = (b: Uint8Array) => b.every((x) => x === 0);





let dir: string;
let sealed: Uint8Array;
let sealedPath: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weightseal-keys-'));
  sealed = sealInline(RKEY, PLAIN, { backend: 'node' });
  sealedPath = join(dir, 'r.sealed');
  writeFileSync(sealedPath, sealed);
  writeFileSync(join(dir, 'plain'), PLAIN);
  writeFileSync(join(dir, 'exists'), 'x');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tampered = () => { const b = sealed.slice(); b[56 + 2 * 16400 + 9]! ^= 0x40; return b; };
const ONE = { threads: 1 };

/** Failing calls under random keys (the one in play and a wrong one), every layer. */
const FAILURES: [string, () => unknown][] = [
  ['open with the wrong key', () => open(new Uint8Array(randomBytes(32)), sealed, ONE)],
  ['open with the wrong context', () => open(RKEY, sealed, { ...ONE, context: 'v2' })],
  ['open a modified chunk', () => open(RKEY, tampered(), ONE)],
  ['open a modified chunk on 2 threads', () => open(RKEY, tampered(), { threads: 2, slotBytes: 16384 })],
  ['open truncated', () => open(RKEY, sealed.subarray(0, sealed.length - 5), ONE)],
  ['open a 32-byte key under cobblestone-128', () => open(RKEY, sealed, { suite: 'cobblestone-128' })],
  ['open a 16-byte KeyObject under cobblestone-256', () => open(createSecretKey(RKEY16), sealed)],
  ['seal a 24-byte KeyObject', () => seal(createSecretKey(randomBytes(24)), PLAIN)],
  ['seal bad threads with a good key', () => seal(RKEY, PLAIN, { threads: 0 })],
  ['openFile with the wrong key', () => openFile(sealedPath, join(dir, 'o1'), A5, ONE)],
  ['sealFile onto an existing file', () => sealFile(join(dir, 'plain'), join(dir, 'exists'), RKEY)],
  ['SealedFile.fromBytes with the wrong key', () => SealedFile.fromBytes(sealed, A5)],
  ['SealedFile.read of a modified chunk', async () => (await SealedFile.fromBytes(tampered(), RKEY)).read(0, PLAIN.length)],
  ['SealedFile.read after close', async () => { const f = await SealedFile.open(sealedPath, RKEY); await f.close(); return f.read(0, 1); }],
  ['createOpenStream of a modified chunk', () => pipeline(Readable.from([tampered()]), createOpenStream(RKEY, ONE),
    new Writable({ write(_c, _e, cb) { cb(); } }))],
  ['openWebStream of a modified chunk', async () => {
    const out = new Blob([tampered()]).stream().pipeThrough(openWebStream(RKEY, ONE));
    for await (const _ of out) { /* drain */ }
  }],
  ['sealWebStream fed a string', async () => {
    const w = new ReadableStream({ start(c) { c.enqueue('text'); c.close(); } }).pipeThrough(
      sealWebStream(RKEY, ONE) as unknown as TransformStream<unknown, Uint8Array>);
    for await (const _ of w) { /* drain */ }
  }],
  ['createSealStream with a bad option', () => createSealStream(RKEY, { slotBytes: 5 })],
  ['gcmOpen with the wrong key', () => gcmOpen(A5, NONCE, gcmSeal(RKEY, NONCE, PLAIN))],
  ['gcmSeal with a 24-byte KeyObject', () => gcmSeal(createSecretKey(randomBytes(24)), NONCE, PLAIN)],
  ['rawOpen of a modified body', () => { const b = rawSeal(RKEY, NONCE, PLAIN); b[3]! ^= 1; return rawOpen(RKEY, NONCE, b); }],
  ['rawSealChunks past 2^38', () => rawSealChunks(RKEY, NONCE, 2 ** 38, new Uint8Array(0))],
  ['rawOpenChunks at the wrong index', () => rawOpenChunks(RKEY, NONCE, 7, rawSealChunks(RKEY, NONCE, 8, PLAIN))],
];

describe('no key byte in any error or log', () => {
  it.each(FAILURES)('%s', async (_name, run) => {
    const logged: string[] = [];
    const spies = [
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => { logged.push(String(chunk)); return true; }),
      ...(['log', 'warn', 'error', 'info', 'debug'] as const).map((m) =>
        vi.spyOn(console, m).mockImplementation((...a: unknown[]) => { logged.push(a.map((x) => inspect(x)).join(' ')); })),
    ];
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(serialise(w));
    process.on('warning', onWarning);
    let e: unknown;
    try {
      e = await caught(run);
    } finally {
      process.off('warning', onWarning);
      for (const s of spies) s.mockRestore();
    }
    expect(e).toBeInstanceOf(WeightsealError);
    expectNoKey([serialise(e), ...logged, ...warnings].join('\n'), [RKEY, RKEY16, A5]);
  });
});

// ---------------------------------------------------------------------------------------------
// Destroyed keys refuse use; native memory is wiped by NativeKey::Release (secure_wipe).

describe.each(allCases())('destroyed keys ($label)', ({ backend }) => {
  it('every method throws ERR_CLOSED after destroy(); destroy() twice is fine', () => {
    const gk = backend.importKey(RKEY);
    gk.destroy();
    gk.destroy();
    const out = new Uint8Array(16400);
    const calls: [string, () => unknown][] = [
      ['seal', () => gk.seal(NONCE, new Uint8Array(0), new Uint8Array(0), new Uint8Array(16))],
      ['open', () => gk.open(NONCE, new Uint8Array(0), new Uint8Array(16), new Uint8Array(0))],
      ['sealChunks', () => gk.sealChunks(NONCE, 0, new Uint8Array(100), 16384, 1, new Uint8Array(116))],
      ['openChunks', () => gk.openChunks(NONCE, 0, out, 16384, 1, new Uint8Array(16384))],
    ];
    for (const [name, call] of calls) {
      let e: unknown;
      try { call(); } catch (x) { e = x; }
      expect(e, name).toBeInstanceOf(WeightsealError);
      expect((e as WeightsealError).code, name).toBe('ERR_CLOSED');
    }
  });
});

describe('the native handle itself', () => {
  it.runIf(addonStatus().addon !== null)('refuses use after destroy (the C++ re-check behind the JS one)', () => {
    const addon = addonStatus().addon!;
    const kernel = addon.info().kernels.find((k) => k.supported)?.name;
    if (!kernel) return;
    const h = new addon.NativeKey(RKEY, kernel);
    h.destroy();
    expect(() => h.seal(NONCE, new Uint8Array(0), new Uint8Array(0), new Uint8Array(16))).toThrow(/key was destroyed/);
    expect(() => h.destroy()).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// What the library hands a backend: every key copy zero and every imported key destroyed once
// the call is over (a recording Backend object runs inline, so it sees all of it).

interface Recorder {
  backend: Backend;
  keys: Uint8Array[];
  nonces: Uint8Array[];
  gks: { destroyed: boolean }[];
}

function recorder(): Recorder {
  const rec: Recorder = { backend: null!, keys: [], nonces: [], gks: [] };
  rec.backend = {
    name: 'node',
    kernel: null,
    importKey(key: Uint8Array): GcmKey {
      rec.keys.push(key);
      const inner = nodeBackend.importKey(key);
      const state = { destroyed: false };
      rec.gks.push(state);
      const note = (n: Uint8Array) => { if (!rec.nonces.includes(n)) rec.nonces.push(n); };
      return {
        backend: rec.backend,
        seal: (iv, aad, pt, out) => inner.seal(iv, aad, pt, out),
        open: (iv, aad, s, out) => inner.open(iv, aad, s, out),
        sealChunks: (n, f, pt, c, k, out) => { note(n); inner.sealChunks(n, f, pt, c, k, out); },
        openChunks: (n, f, s, c, k, out) => { note(n); return inner.openChunks(n, f, s, c, k, out); },
        destroy: () => { state.destroyed = true; inner.destroy(); },
      };
    },
  };
  return rec;
}

function expectWiped(rec: Recorder, label: string): void {
  expect(rec.keys.length, `${label}: a key was imported`).toBeGreaterThan(0);
  rec.keys.forEach((k, i) => expect(isZero(k), `${label}: key copy ${i} zeroed`).toBe(true));
  rec.nonces.forEach((n, i) => expect(isZero(n), `${label}: base nonce ${i} zeroed`).toBe(true));
  rec.gks.forEach((g, i) => expect(g.destroyed, `${label}: imported key ${i} destroyed`).toBe(true));
}

describe('derived keys and base nonces are wiped when done', () => {
  it.each([1, 4])('seal and open (threads %i)', async (threads) => {
    const rec = recorder();
    const s = await seal(RKEY, PLAIN, { backend: rec.backend, threads, slotBytes: 16384 });
    expectWiped(rec, 'seal');
    const rec2 = recorder();
    expect(await open(RKEY, s, { backend: rec2.backend, threads, slotBytes: 16384 })).toEqual(PLAIN);
    expectWiped(rec2, 'open');
  });

  it('a failed open (modified chunk) wipes too', async () => {
    const rec = recorder();
    await expect(open(RKEY, tampered(), { backend: rec.backend, threads: 1 })).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    expectWiped(rec, 'failed open');
  });

  it('a Node open stream that fails midway wipes too', async () => {
    const rec = recorder();
    const t = createOpenStream(RKEY, { backend: rec.backend, threads: 1, slotBytes: 16384 });
    await expect(pipeline(Readable.from([tampered()]), t, new Writable({ write(_c, _e, cb) { cb(); } })))
      .rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    await new Promise((r) => setTimeout(r, 10));
    expectWiped(rec, 'stream');
  });

  it('sealFile / openFile', async () => {
    const rec = recorder();
    await sealFile(join(dir, 'plain'), join(dir, 'sf.sealed'), RKEY, { backend: rec.backend });
    expectWiped(rec, 'sealFile');
    const rec2 = recorder();
    await openFile(join(dir, 'sf.sealed'), join(dir, 'sf.plain'), RKEY, { backend: rec2.backend });
    expectWiped(rec2, 'openFile');
  });

  it('SealedFile: the derived key is wiped at open, the base nonce and imported key at close', async () => {
    const rec = recorder();
    const f = await SealedFile.fromBytes(sealed, RKEY, { backend: rec.backend });
    expect(await f.read(100, 20000)).toEqual(PLAIN.subarray(100, 20100));
    expect(rec.keys.every(isZero)).toBe(true); // imported, then the JS copy wiped at once
    expect(rec.nonces.length).toBe(1);
    expect(isZero(rec.nonces[0]!)).toBe(false); // still in use
    expect(rec.gks[0]!.destroyed).toBe(false);
    await f.close();
    expectWiped(rec, 'SealedFile');
  });

  it('SealedFile: opening under the wrong context wipes before rejecting', async () => {
    const rec = recorder();
    await expect(SealedFile.fromBytes(sealed, RKEY, { backend: rec.backend, context: 'x' }))
      .rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
    expect(rec.keys).toEqual([]); // the commitment failed before any key was imported
  });

  it('SealedFile: a failed final-chunk check destroys the key it imported', async () => {
    const rec = recorder();
    const b = sealed.slice();
    b[b.length - 1]! ^= 1;
    await expect(SealedFile.fromBytes(b, RKEY, { backend: rec.backend })).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    expectWiped(rec, 'SealedFile init');
  });

  it('hazmat: a KeyObject\'s exported copy is zeroed after gcmSeal, rawSeal and rawSealChunks', () => {
    for (const [name, run] of [
      ['gcmSeal', (b: Backend) => gcmSeal(createSecretKey(RKEY), NONCE, PLAIN, undefined, { backend: b })],
      ['rawSeal', (b: Backend) => rawSeal(createSecretKey(RKEY), NONCE, PLAIN, { backend: b })],
      ['rawSealChunks', (b: Backend) => rawSealChunks(createSecretKey(RKEY), NONCE, 3, PLAIN, { backend: b })],
    ] as const) {
      const rec = recorder();
      run(rec.backend);
      rec.keys.forEach((k) => expect(isZero(k), name).toBe(true));
      rec.gks.forEach((g) => expect(g.destroyed, name).toBe(true));
      expect(rec.keys.length, name).toBe(1);
    }
  });

  it('hazmat: a caller\'s Uint8Array key is left as it was (not the library\'s to wipe)', () => {
    const key = RKEY.slice();
    rawSeal(key, NONCE, PLAIN);
    gcmSeal(key, NONCE, PLAIN);
    expect(key).toEqual(RKEY);
  });
});

describe('key slots (how the pool hands a stream key to workers)', () => {
  it('wipeKeySlot zeroes the key and nonce and marks the slot dead', () => {
    const sab = writeKeySlot(RKEY, NONCE);
    expect(isLive(sab)).toBe(true);
    expect(readKeySlot(sab)!.key).toEqual(RKEY);
    wipeKeySlot(sab);
    expect(isLive(sab)).toBe(false);
    expect(readKeySlot(sab)).toBeNull();
    expect(isZero(new Uint8Array(sab, 4))).toBe(true);
  });
});
