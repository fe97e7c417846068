/**
 * sealFile/openFile: round trips, the temporary file beside dst renamed into place only when
 * done, ERR_EXISTS without overwrite, and no output at all after a failed open.
 */
import { mkdtemp, open as fsOpen, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeBackend } from '../src/backend/index.js';
import { sealedLength } from '../src/cobblestone.js';
import { openInline } from '../src/format.js';
import { openFile, sealFile } from '../src/stream-api.js';
import { allCases } from './helpers/backends.js';
import { KiB, MiB, bytes, code, equal, key, sizesFor, tamperings } from './pipeline-helpers.js';

const SLOT = 64 * KiB;
let dir: string;
let seq = 0;
const path = (name: string) => join(dir, `${seq++}-${name}`);
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'weightseal-files-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function leftovers(): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.includes('.weightseal-'));
}

describe.each(allCases())('sealFile/openFile on $label', ({ label, backend }) => {
  const sizes = label === 'noble' ? [0, 1, 16384, SLOT + 3] : [...sizesFor(SLOT), 5 * MiB + 12345];
  it.each([1, 2])('round-trips every size with threads %i', async (threads) => {
    const k = key();
    for (const n of sizes) {
      const pt = bytes(n);
      const src = path('plain');
      const sealed = path('sealed');
      const back = path('back');
      await writeFile(src, pt);
      const opts = { backend, threads, slotBytes: SLOT, context: 'weights' };
      const r1 = await sealFile(src, sealed, k, opts);
      expect(r1).toMatchObject({ bytesIn: n, bytesOut: sealedLength(n) });
      expect(r1.seconds).toBeGreaterThanOrEqual(0);
      const s = new Uint8Array(await readFile(sealed));
      expect(equal(openInline(k, s, { backend, context: 'weights' }), pt)).toBe(true);
      const r2 = await openFile(pathToFileURL(sealed), back, k, opts);
      expect(r2).toMatchObject({ bytesIn: sealedLength(n), bytesOut: n });
      expect(equal(new Uint8Array(await readFile(back)), pt)).toBe(true);
    }
    expect(await leftovers()).toEqual([]);
  });
});

describe('file safety', () => {
  const k = key();
  const opts = { backend: 'node' as const, threads: 2, slotBytes: SLOT };

  it('refuses an existing destination unless overwrite is set', async () => {
    const src = path('p');
    const dst = path('d');
    await writeFile(src, bytes(1000));
    await writeFile(dst, 'keep me');
    await expect(sealFile(src, dst, k, opts)).rejects.toMatchObject({ code: 'ERR_EXISTS', path: dst });
    expect(await readFile(dst, 'utf8')).toBe('keep me');
    await sealFile(src, dst, k, { ...opts, overwrite: true });
    expect((await readFile(dst)).length).toBe(sealedLength(1000));
    expect(await leftovers()).toEqual([]);
  });

  it('leaves no output and no temporary file when opening fails, for each tampering', async () => {
    const n = 2 * SLOT + 3 * 16384 + 10;
    const pt = bytes(n);
    const src = path('p');
    const sealedPath = path('s');
    await writeFile(src, pt);
    await sealFile(src, sealedPath, k, opts);
    const sealed = new Uint8Array(await readFile(sealedPath));
    for (const t of tamperings(nodeBackend, k, sealed, n)) {
      const bad = path('bad');
      const out = path('out');
      await writeFile(bad, t.data);
      const err = await openFile(bad, out, k, opts).then(() => null, (e: unknown) => e);
      expect(code(err), t.name).toBe(t.code);
      await expect(readFile(out), t.name).rejects.toMatchObject({ code: 'ENOENT' });
      // An existing destination survives a failed overwrite untouched.
      await writeFile(out, 'old');
      await expect(openFile(bad, out, k, { ...opts, overwrite: true })).rejects.toMatchObject({ code: t.code });
      expect(await readFile(out, 'utf8')).toBe('old');
    }
    expect(await leftovers()).toEqual([]);
  });

  it('reports I/O errors with the path', async () => {
    const missing = path('missing');
    await expect(sealFile(missing, path('x'), k, opts)).rejects.toMatchObject({ code: 'ERR_IO', path: missing });
    await expect(sealFile(dir, path('x'), k, opts)).rejects.toMatchObject({ code: 'ERR_IO', path: dir });
    const src = path('p');
    await writeFile(src, bytes(10));
    const noDir = join(dir, 'no-such-dir', 'out');
    await expect(sealFile(src, noDir, k, opts)).rejects.toMatchObject({ code: 'ERR_IO' });
    expect(await leftovers()).toEqual([]);
  });

  it('takes a FileHandle as the source and leaves it open', async () => {
    const src = path('p');
    const pt = bytes(3 * SLOT + 7);
    await writeFile(src, pt);
    const fh = await fsOpen(src, 'r');
    try {
      const sealed = path('s');
      await sealFile(fh, sealed, k, opts);
      const back = path('b');
      await openFile(sealed, back, k, opts);
      expect(equal(new Uint8Array(await readFile(back)), pt)).toBe(true);
      expect((await fh.stat()).size).toBe(pt.length); // still usable
    } finally {
      await fh.close();
    }
  });

  it('checks key and arguments before touching the filesystem', async () => {
    const src = path('p');
    await writeFile(src, bytes(10));
    const dst = path('never');
    await expect(sealFile(src, dst, key(16), { ...opts, suite: 'cobblestone-256' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(sealFile(src, 5 as never, k, opts)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(readFile(dst)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
