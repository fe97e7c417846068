/**
 * SealedFile: random reads agree with the plaintext at every alignment on every backend,
 * from a path, a FileHandle or bytes; concurrent reads; the end of the message; closing
 * (its own handle closed, a given one left open, reads after close refused); argument
 * errors; I/O errors with the path.
 */
import { createSecretKey, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open as fsOpen } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CHUNK_BYTES, sealedLength } from '../src/cobblestone.js';
import { isWeightsealError, type ErrorCode } from '../src/errors.js';
import { RUN_CHUNKS, sealInline } from '../src/format.js';
import { SealedFile } from '../src/sealed-file.js';
import { allCases } from './helpers/backends.js';

const C = CHUNK_BYTES;
const dir = mkdtempSync(join(tmpdir(), 'weightseal-sealedfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

function sealedFile(pt: Uint8Array, key: Uint8Array, opts: Parameters<typeof sealInline>[2] = {}): string {
  const path = join(dir, `f${fileNo++}.sealed`);
  writeFileSync(path, sealInline(key, pt, { backend: 'node', ...opts }));
  return path;
}

async function expectCode(p: Promise<unknown> | (() => Promise<unknown>), code: ErrorCode, message?: RegExp) {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (!isWeightsealError(e)) throw e;
    expect(e.code, e.message).toBe(code);
    if (message) expect(e.message).toMatch(message);
    return e;
  }
  throw new Error(`expected ${code}, it resolved`);
}

const openFds = () => readdirSync('/proc/self/fd').length;

describe.each(allCases())('SealedFile reads on $label', ({ label, backend }) => {
  const slow = label === 'noble';
  const key = randomBytes(32);
  const sizes = [0, 1, C - 1, C, C + 1, 3 * C, 3 * C + 77, ...(slow ? [] : [(RUN_CHUNKS + 2) * C + 5])];

  it.each(sizes)('%i bytes: whole, edges and random ranges', async (n) => {
    const pt = randomBytes(n);
    const sf = await SealedFile.open(sealedFile(pt, key), key, { backend });
    try {
      expect(sf.size).toBe(n);
      expect(sf.sealedSize).toBe(sealedLength(n));
      expect(Buffer.compare(await sf.read(0, n), pt)).toBe(0);
      const ranges: [number, number][] = [[0, 0], [n, 0], [n, 10], [0, 1], [C - 1, 2], [C, C], [C - 5, 2 * C + 10],
        [Math.max(0, n - 3), 3], [1, n], [Math.floor(n / 2), n]];
      for (let i = 0; i < (slow ? 5 : 40); i++) {
        const p = randomInt(n + 1);
        ranges.push([p, randomInt(Math.min(n - p, 3 * C) + 1)]);
      }
      for (const [p0, len] of ranges) {
        const p = Math.min(p0, n);
        const got = await sf.read(p, len);
        expect(Buffer.compare(got, pt.subarray(p, p + len)), `read(${p}, ${len})`).toBe(0);
        // readInto a view at an odd offset of a bigger buffer: only its own bytes are written.
        const big = new Uint8Array(len + 9).fill(0xaa);
        const view = big.subarray(3, 3 + len);
        const wrote = await sf.readInto(view, p);
        expect(wrote).toBe(Math.min(len, n - p));
        expect(Buffer.compare(view.subarray(0, wrote), pt.subarray(p, p + wrote))).toBe(0);
        expect(big.subarray(0, 3).every((b) => b === 0xaa) && big.subarray(3 + wrote).every((b) => b === 0xaa)).toBe(true);
      }
    } finally {
      await sf.close();
    }
  });

  it('from bytes, with a KeyObject, cobblestone-128 and a context', async () => {
    const k16 = randomBytes(16), pt = randomBytes(2 * C + 3);
    const sealed = sealInline(k16, pt, { suite: 'cobblestone-128', context: 'ctx', backend: 'node' });
    const sf = await SealedFile.fromBytes(sealed, createSecretKey(k16), { suite: 'cobblestone-128', context: 'ctx', backend });
    expect(sf.suite).toBe('cobblestone-128');
    expect(sf.path).toBeNull();
    expect(Buffer.compare(await sf.read(C - 1, C + 2), pt.subarray(C - 1, 2 * C + 1))).toBe(0);
    await sf.close();
  });
});

describe('SealedFile behaviour', () => {
  const key = randomBytes(32);
  const backend = 'node' as const;
  const pt = randomBytes(5 * C + 1234);
  const path = sealedFile(pt, key);

  it('serves many concurrent reads', async () => {
    const sf = await SealedFile.open(path, key, { backend });
    const ranges = Array.from({ length: 64 }, () => {
      const p = randomInt(pt.length);
      return [p, randomInt(pt.length - p + 1)] as const;
    });
    const results = await Promise.all(ranges.map(([p, n]) => sf.read(p, n)));
    results.forEach((r, i) => {
      const [p, n] = ranges[i]!;
      expect(Buffer.compare(r, pt.subarray(p, p + n))).toBe(0);
    });
    await sf.close();
  });

  it('reads past the end return the bytes that exist; positions are checked', async () => {
    const sf = await SealedFile.open(pathToFileURL(path), key, { backend });
    expect(sf.path).toBe(path);
    expect((await sf.read(pt.length - 10, 100)).length).toBe(10);
    expect((await sf.read(pt.length, 100)).length).toBe(0);
    expect(await sf.readInto(new Uint8Array(50), pt.length - 20)).toBe(20);
    for (const bad of [-1, 1.5, Number.NaN, pt.length + 1, '3', 2 ** 60]) {
      await expectCode(() => sf.read(bad as number, 1), 'ERR_INVALID_ARG', /position/);
      await expectCode(() => sf.readInto(new Uint8Array(1), bad as number), 'ERR_INVALID_ARG', /position/);
    }
    await expectCode(() => sf.read(0, -1), 'ERR_INVALID_ARG', /length/);
    await expectCode(() => sf.readInto([1, 2] as never, 0), 'ERR_INVALID_ARG', /buffer/);
    await sf.close();
  });

  it('closes a file it opened, leaves a given FileHandle open, refuses reads after close', async () => {
    const before = openFds();
    const own = await SealedFile.open(path, key, { backend });
    expect(openFds()).toBe(before + 1);
    await own.close();
    await own.close();
    expect(own.closed).toBe(true);
    expect(openFds()).toBe(before);
    await expectCode(() => own.read(0, 1), 'ERR_CLOSED');
    await expectCode(() => own.readInto(new Uint8Array(1), 0), 'ERR_CLOSED');

    const fh = await fsOpen(path, 'r');
    const given = await SealedFile.open(fh, key, { backend });
    expect(given.path).toBeNull();
    await given.close();
    const { bytesRead } = await fh.read(new Uint8Array(8), 0, 8, 0);
    expect(bytesRead).toBe(8);
    await fh.close();
  });

  it('reads in flight when close() is called finish or fail with ERR_CLOSED', async () => {
    const sf = await SealedFile.open(path, key, { backend });
    const reads = Array.from({ length: 8 }, (_, i) => sf.read(i * 1000, 3 * C));
    const closing = sf.close();
    for (const r of await Promise.allSettled(reads)) {
      if (r.status === 'rejected') expect(isWeightsealError(r.reason, 'ERR_CLOSED')).toBe(true);
      else expect(r.value.length).toBe(3 * C);
    }
    await closing;
  });

  it('rejects bad arguments before opening anything', async () => {
    const before = openFds();
    await expectCode(() => SealedFile.open(path, randomBytes(16), { backend, suite: 'cobblestone-256' }), 'ERR_INVALID_ARG', /cobblestone-128/);
    await expectCode(() => SealedFile.open(path, 'key' as never), 'ERR_INVALID_ARG', /KeyObject/);
    await expectCode(() => SealedFile.open(path, key, { suite: 'x' as never }), 'ERR_INVALID_ARG', /suite/);
    await expectCode(() => SealedFile.open(path, key, 7 as never), 'ERR_INVALID_ARG', /options/);
    await expectCode(() => SealedFile.open(42 as never, key, { backend }), 'ERR_INVALID_ARG', /path/);
    await expectCode(() => SealedFile.fromBytes('abc' as never, key, { backend }), 'ERR_INVALID_ARG', /sealed/);
    expect(openFds()).toBe(before);
  });

  it('closes its own handle when the header or final chunk fails', async () => {
    const before = openFds();
    await expectCode(() => SealedFile.open(path, randomBytes(32), { backend }), 'ERR_WRONG_KEY_OR_CONTEXT');
    const cut = join(dir, 'cut.sealed');
    writeFileSync(cut, sealInline(key, pt, { backend }).subarray(0, 56 + 2 * (C + 16)));
    const e = await expectCode(() => SealedFile.open(cut, key, { backend }), 'ERR_TRUNCATED');
    expect(e.path).toBe(cut);
    expect(e.message).toContain(cut);
    expect(openFds()).toBe(before);
  });

  it('reports I/O errors with the path', async () => {
    const missing = join(dir, 'missing.sealed');
    const e = await expectCode(() => SealedFile.open(missing, key), 'ERR_IO', /check the path exists/);
    expect(e.path).toBe(missing);
    await expectCode(() => SealedFile.open(dir, key, { backend }), 'ERR_IO', /give a file, not a directory/);

    // The descriptor closed under it: the read fails as ERR_IO naming the descriptor.
    const fh = await fsOpen(path, 'r');
    const sf = await SealedFile.open(fh, key, { backend });
    await fh.close();
    const err = await expectCode(() => sf.read(0, 10), 'ERR_IO');
    expect(err.path).toMatch(/file descriptor/);
    await sf.close();
  });

  it('a file truncated while open fails its reads with ERR_TRUNCATED', async () => {
    const p = sealedFile(pt, key);
    const sf = await SealedFile.open(p, key, { backend });
    truncateSync(p, 56 + C + 16 + 5);
    expect(Buffer.compare(await sf.read(0, C), pt.subarray(0, C))).toBe(0);
    const buf = new Uint8Array(2 * C).fill(7);
    await expectCode(() => sf.readInto(buf, C), 'ERR_TRUNCATED', /truncated while in use/);
    expect(buf.every((b) => b === 0)).toBe(true);
    await sf.close();
  });
});
