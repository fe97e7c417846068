/**
 * A caller's view may carry own `length` / `byteLength` / `byteOffset` properties, or be a
 * Proxy: the boundary reads the engine's own idea of the view (the bytes native code touches),
 * so no backend seals bytes the caller never gave, every refusal is a coded WeightsealError,
 * and a detached view cannot pass as live by faking its length.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WeightsealError } from '../src/errors.js';
import { gcmOpen, gcmSeal, rawOpen, rawSeal } from '../src/hazmat.js';
import { SealedFile, bounce, seal } from '../src/index.js';
import { allCases } from './helpers/backends.js';

const KEY = new Uint8Array(randomBytes(32));
/** ES2024 resizable ArrayBuffer, typed by hand (the project's lib predates it). */
const Resizable = ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer & { resize(n: number): void };
const NONCE = new Uint8Array(randomBytes(12));

function lying(bytes: Uint8Array, prop: 'length' | 'byteLength' | 'byteOffset', value: number): Uint8Array {
  Object.defineProperty(bytes, prop, { get: () => value });
  return bytes;
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(WeightsealError);
    return (e as WeightsealError).code;
  }
  return 'none';
}

describe.each(allCases())('views with own length properties ($label)', ({ backend }) => {
  it('seals exactly the bytes of the view, whatever its own length says', () => {
    const pt = new Uint8Array(10).fill(3);
    for (const [prop, v] of [['length', 1000], ['byteLength', 1000], ['byteOffset', 5]] as const) {
      const sealed = gcmSeal(KEY, NONCE, lying(pt.slice(), prop, v), undefined, { backend });
      expect(sealed.length).toBe(26);
      expect(gcmOpen(KEY, NONCE, sealed, undefined, { backend })).toEqual(pt);
      const raw = rawSeal(KEY, NONCE, lying(pt.slice(), prop, v), { backend });
      expect(rawOpen(KEY, NONCE, raw, { backend })).toEqual(pt);
    }
  });

  it('an output claiming more room than it has is ERR_INVALID_ARG, untouched', () => {
    const out = lying(new Uint8Array(10), 'length', 1000);
    expect(code(() => rawSeal(KEY, NONCE, new Uint8Array(100), { backend, output: out }))).toBe('ERR_INVALID_ARG');
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it('a 5-byte key or nonce claiming 32 or 12 bytes is ERR_INVALID_ARG', () => {
    expect(code(() => gcmSeal(lying(new Uint8Array(5), 'length', 32), NONCE, new Uint8Array(1), undefined, { backend })))
      .toBe('ERR_INVALID_ARG');
    expect(code(() => rawSeal(KEY, lying(new Uint8Array(5), 'length', 12), new Uint8Array(1), { backend })))
      .toBe('ERR_INVALID_ARG');
  });
});

describe('views that are not what they claim', () => {
  it('a detached view with a faked byteLength is refused, not sealed as empty', async () => {
    const ab = new ArrayBuffer(64);
    const v = lying(lying(new Uint8Array(ab), 'byteLength', 64), 'length', 64);
    structuredClone(ab, { transfer: [ab] });
    expect(code(() => gcmSeal(KEY, NONCE, v))).toBe('ERR_INVALID_ARG');
    await expect(seal(KEY, v)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('a Proxy of a Uint8Array is ERR_INVALID_ARG, as key or as data', () => {
    const p = new Proxy(new Uint8Array(32), {});
    expect(code(() => gcmSeal(KEY, NONCE, p))).toBe('ERR_INVALID_ARG');
    expect(code(() => gcmSeal(p, NONCE, new Uint8Array(1)))).toBe('ERR_INVALID_ARG');
  });
});

describe('SealedFile.readInto into a buffer taken away while it fills', () => {
  it('a transferred or shrunk buffer is ERR_INVALID_ARG, not an engine TypeError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ws-readinto-'));
    try {
      const pt = new Uint8Array(8 * 16384 + 5).fill(9);
      const path = join(dir, 'm.sealed');
      writeFileSync(path, await seal(KEY, pt));
      const sf = await SealedFile.open(path, KEY);
      try {
        // Taken away right after the call starts: the first decrypt runs after a file read.
        const ab = new ArrayBuffer(pt.length);
        const p1 = sf.readInto(new Uint8Array(ab), 0);
        structuredClone(ab, { transfer: [ab] });
        await expect(p1).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
        const rab = new Resizable(pt.length, { maxByteLength: pt.length });
        const p2 = sf.readInto(new Uint8Array(rab), 0);
        rab.resize(10);
        await expect(p2).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
        const out = new Uint8Array(pt.length);
        expect(await sf.readInto(out, 0)).toBe(pt.length); // the file still reads afterwards
        expect(out).toEqual(pt);
      } finally {
        await sf.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('option getters that answer differently on a second read', () => {
  it('seal() checks and uses the same signal: never a plain TypeError from the pipeline', async () => {
    let reads = 0;
    const opts = { get signal() { return reads++ === 0 ? undefined : (5 as unknown as AbortSignal); } };
    const sealed = await seal(KEY, new Uint8Array(100), opts);
    expect(sealed.length).toBeGreaterThan(100);
    expect(reads).toBe(1);
    reads = 0;
    const bad = { get signal() { return reads++ === 0 ? (5 as unknown as AbortSignal) : undefined; } };
    await expect(seal(KEY, new Uint8Array(100), bad)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('bounce() calls the onSlot it checked, in the mode it checked', async () => {
    let reads = 0;
    const got: number[] = [];
    const first = (view: Uint8Array) => void got.push(view.length);
    const opts = {
      mode: 'seal' as const, threads: 1,
      get onSlot() { return reads++ === 0 ? first : (5 as unknown as typeof first); },
    };
    const r = await bounce(new Uint8Array(100), KEY, opts);
    expect(reads).toBe(1);
    expect(got.reduce((a, b) => a + b, 0)).toBe(r.bytesOut);
  });
});
