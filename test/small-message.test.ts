/**
 * Small whole-buffer calls on the native backend run as one addon call per message
 * (native/message.cc). These check that the one-call path is the one taken, and that it keeps
 * the format's promises: wrong key before any decryption, no plaintext of a failed message
 * in the output, nothing unverified in shared memory, the same bytes as the JS path.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addonStatus, type Addon } from '../src/backend/addon.js';
import { open, plaintextSize, seal, sealedSize } from '../src/index.js';

const addon = addonStatus().addon as (Addon & Record<string, unknown>) | null;
const present = !!addon?.sealMessage;
const KEY = new Uint8Array(randomBytes(32));

describe.skipIf(!present)('one addon call per small message', () => {
  const calls = { seal: 0, open: 0 };
  const saved = { seal: addon?.sealMessage, open: addon?.openMessage };
  beforeEach(() => {
    calls.seal = calls.open = 0;
    addon!.sealMessage = (...a) => { calls.seal++; return saved.seal!(...a); };
    addon!.openMessage = (...a) => { calls.open++; return saved.open!(...a); };
  });
  afterEach(() => {
    addon!.sealMessage = saved.seal;
    addon!.openMessage = saved.open;
  });

  it('is the path seal and open take, for every size up to the inline limit', async () => {
    for (const n of [0, 1, 16383, 16384, 16385, 65536, 1 << 20]) {
      const pt = new Uint8Array(randomBytes(n));
      const back = await open(KEY, await seal(KEY, pt));
      expect(Buffer.from(back).equals(Buffer.from(pt))).toBe(true);
    }
    expect(calls).toEqual({ seal: 7, open: 7 });
  });

  it('opens what the JS path seals, and the JS path opens what it seals', async () => {
    for (const suite of ['cobblestone-256', 'cobblestone-128'] as const) {
      const key = new Uint8Array(randomBytes(suite === 'cobblestone-128' ? 16 : 32));
      const pt = new Uint8Array(randomBytes(40000));
      const viaJs = await seal(key, pt, { backend: 'noble', suite, context: 'tenant-7' });
      expect(Buffer.from(await open(key, viaJs, { suite, context: 'tenant-7' })).equals(Buffer.from(pt))).toBe(true);
      const viaAddon = await seal(createSecretKey(key), pt, { suite, context: 'tenant-7' });
      const back = await open(key, viaAddon, { backend: 'noble', suite, context: 'tenant-7' });
      expect(Buffer.from(back).equals(Buffer.from(pt))).toBe(true);
    }
    expect(calls.seal).toBe(2);
    expect(calls.open).toBe(2);
  });

  it('a wrong key or context is ERR_WRONG_KEY_OR_CONTEXT, with into untouched', async () => {
    const sealed = await seal(KEY, new Uint8Array(5000).fill(1), { context: 'a' });
    const into = new Uint8Array(5000).fill(0xee);
    await expect(open(KEY, sealed, { context: 'b', into })).rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
    await expect(open(new Uint8Array(32), sealed, { context: 'a' })).rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
    expect(into.every((b) => b === 0xee)).toBe(true);
  });

  it('a bad later chunk leaves no plaintext of the verified earlier ones in into', async () => {
    const pt = new Uint8Array(3 * 16384 + 5).fill(7);
    const sealed = await seal(KEY, pt);
    sealed[sealed.length - 3]! ^= 1; // the final chunk's tag
    const into = new Uint8Array(plaintextSize(sealed.length));
    await expect(open(KEY, sealed, { into })).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED', chunk: 3 });
    expect(into.every((b) => b === 0)).toBe(true);
  });

  it('a shared into never holds unverified plaintext, and gets the verified message', async () => {
    const pt = new Uint8Array(20000).fill(9);
    const sealed = await seal(KEY, pt);
    const into = new Uint8Array(new SharedArrayBuffer(pt.length));
    expect(await open(KEY, sealed, { into })).toBe(into);
    expect(into.every((b) => b === 9)).toBe(true);
    sealed[100]! ^= 1;
    into.fill(0);
    await expect(open(KEY, sealed, { into })).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED', chunk: 0 });
    expect(into.every((b) => b === 0)).toBe(true);
  });

  it('refuses what a caller could get wrong at the boundary, with a TypeError and no write', () => {
    const info = new Uint8Array(80);
    const pt = new Uint8Array(100);
    const out = new Uint8Array(sealedSize(100));
    expect(() => saved.seal!(KEY, info, 32, 'vaes512-nope', pt, out)).toThrow(TypeError);
    expect(() => saved.seal!(KEY, info, 32, 'aesni', pt, out.subarray(1))).toThrow(/sealed length/);
    expect(() => saved.seal!(KEY, info, 24, 'aesni', pt, out)).toThrow(TypeError);
    expect(() => saved.seal!(KEY, info, 32, 'aesni', out.subarray(0, 10), out)).toThrow(/overlapping/);
    expect(() => saved.open!(KEY, info, 32, 'aesni', out, new Uint8Array(99))).toThrow(/plaintext length/);
    expect(out.every((b) => b === 0)).toBe(true);
  });
});
