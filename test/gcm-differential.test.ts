/**
 * Every backend and kernel against node:crypto, the reference: all lengths 0..1024, random
 * lengths to 64 MiB, random AAD, misaligned views, in place and out of place.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { gcmOpen } from '../src/hazmat.js';
import { allCases, nativeCases } from './helpers/backends.js';

function reference(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, pt: Uint8Array): Buffer {
  const c = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, iv);
  c.setAAD(aad);
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

/** A view at a chosen byte offset into a larger buffer, to defeat any alignment assumption. */
function at(offset: number, src: Uint8Array, extra = 0): Uint8Array {
  const v = new Uint8Array(offset + src.length + extra).subarray(offset, offset + src.length + extra);
  v.set(src);
  return v;
}

const big = randomBytes(64 * 1024 * 1024 + 64);

describe.each(allCases())('differential vs node:crypto on $label', ({ label, backend }) => {
  const slow = label === 'noble';

  it.each([16, 32])('AES-%i: every length 0..1024, random AAD, out of place', (keyBytes) => {
    const key = randomBytes(keyBytes);
    const gk = backend.importKey(key);
    for (let n = 0; n <= 1024; n++) {
      const iv = randomBytes(12), aad = randomBytes(n % 67), pt = big.subarray(n, 2 * n);
      const before = Buffer.from(pt);
      const out = new Uint8Array(n + 16);
      gk.seal(iv, aad, pt, out);
      expect(Buffer.from(out).equals(reference(key, iv, aad, pt)), `len ${n}`).toBe(true);
      expect(before.equals(pt), 'input not mutated').toBe(true);
      const back = new Uint8Array(n);
      expect(gk.open(iv, aad, out, back)).toBe(true);
      expect(Buffer.from(back).equals(pt)).toBe(true);
    }
    gk.destroy();
  });

  it('random lengths up to 64 MiB with misaligned views', () => {
    const key = randomBytes(32);
    const gk = backend.importKey(key);
    const sizes = slow ? [1 << 20, 3 * 65536 + 5] : [64 * 1024 * 1024, 16 * 1024 * 1024 + 13, 1048573, 65537];
    for (const [i, n] of sizes.entries()) {
      const offset = 1 + ((i * 17) % 63);
      const iv = randomBytes(12), aad = randomBytes(i * 41);
      const pt = at(offset, big.subarray(0, n));
      const out = at(offset + 3, new Uint8Array(n + 16));
      gk.seal(iv, aad, pt, out);
      expect(Buffer.from(out).equals(reference(key, iv, aad, pt)), `len ${n}`).toBe(true);
      const back = at(offset + 7, new Uint8Array(n));
      expect(gk.open(iv, aad, out, back)).toBe(true);
      expect(Buffer.compare(back, pt)).toBe(0);
    }
    gk.destroy();
  });

  it('every misalignment 1..63 and IV lengths other than 96 bits', () => {
    const key = randomBytes(16);
    const gk = backend.importKey(key);
    for (let offset = 1; offset < 64; offset++) {
      const n = 100 + offset * 37;
      const iv = randomBytes(8 + (offset % 57));
      const aad = at(offset, randomBytes(offset));
      const pt = at(offset, big.subarray(offset, offset + n));
      const out = at(64 - offset, new Uint8Array(n + 16));
      gk.seal(iv, aad, pt, out);
      expect(Buffer.from(out).equals(reference(key, iv, aad, pt)), `offset ${offset}`).toBe(true);
    }
    gk.destroy();
  });

  it('in place: seal and open over the same memory', () => {
    const key = randomBytes(32);
    const gk = backend.importKey(key);
    for (const n of [0, 1, 15, 16, 17, 255, 256, 257, 4095, 16384, 100003]) {
      const iv = randomBytes(12), aad = randomBytes(13);
      const pt = big.subarray(7, 7 + n);
      const buf = at(5, pt, 16);
      gk.seal(iv, aad, buf.subarray(0, n), buf);
      expect(Buffer.from(buf).equals(reference(key, iv, aad, pt)), `len ${n}`).toBe(true);
      expect(gk.open(iv, aad, buf, buf.subarray(0, n))).toBe(true);
      expect(Buffer.compare(buf.subarray(0, n), pt)).toBe(0);
    }
    gk.destroy();
  });

  it('a flipped bit anywhere is rejected, output zero-filled', () => {
    const key = randomBytes(32), iv = randomBytes(12), aad = randomBytes(5);
    const sealed = reference(key, iv, aad, big.subarray(0, 300));
    const gk = backend.importKey(key);
    for (const pos of [0, 1, 150, 299, 300, 315]) {
      const bad = Uint8Array.from(sealed);
      bad[pos]! ^= 0x20;
      const out = new Uint8Array(300).fill(0xaa);
      expect(gk.open(iv, aad, bad, out), `pos ${pos}`).toBe(false);
      expect(out.every((b) => b === 0)).toBe(true);
      expect(() => gcmOpen(key, iv, bad, aad, { backend })).toThrow(expect.objectContaining({ code: 'ERR_AUTH_FAILED' }));
    }
    gk.destroy();
  });
});

describe.each(nativeCases())('native extras on $label', ({ backend }) => {
  it('destroyed keys refuse further use', () => {
    const gk = backend.importKey(randomBytes(16));
    gk.destroy();
    expect(() => gk.seal(randomBytes(12), new Uint8Array(0), new Uint8Array(1), new Uint8Array(17)))
      .toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });
});
