/**
 * openInMemory: a sealed file opened into an anonymous memory file (Linux memfd). The bytes
 * behind MemoryFile.path are the plaintext, the descriptor's link names a memfd, the file is
 * sealed against writing, growing and shrinking before it is handed out, a failed open leaves
 * no descriptor behind, and close() frees it (idempotent). Without the addon: ERR_UNSUPPORTED.
 */
import { randomBytes } from 'node:crypto';
import { ftruncateSync, readlinkSync, writeSync } from 'node:fs';
import { mkdtemp, open as fsOpen, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonStatus } from '../src/backend/addon.js';
import { HEADER_BYTES, SEALED_CHUNK_BYTES } from '../src/cobblestone.js';
import { openInMemory } from '../src/index.js';
import { seal } from '../src/stream-api.js';
import { keyForms, serialise } from './helpers/leaks.js';
import { MEMFD_READY, memfdSuite, ourMemfds } from './helpers/memfd.js';

const addon = addonStatus().addon;

// F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE (linux/fcntl.h).
const ALL_SEALS = 0x1 | 0x2 | 0x4 | 0x8;
const KiB = 1024;

const key = new Uint8Array(randomBytes(32));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-memfd-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sealed(name: string, plaintext: Uint8Array, context?: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, await seal(key, plaintext, { context }));
  return p;
}

describe.skipIf(!MEMFD_READY)(memfdSuite('openInMemory'), () => {
  for (const threads of [1, 2]) {
    it(`opens into a sealed memfd whose path reads back the plaintext (threads ${threads})`, async () => {
      const pt = new Uint8Array(randomBytes(700 * KiB + 333));
      const src = await sealed(`rt${threads}`, pt, 'ctx');
      const before = ourMemfds();
      const mf = await openInMemory(src, key, { threads, slotBytes: 64 * KiB, context: 'ctx' });
      try {
        expect(mf.size).toBe(pt.length);
        expect(mf.path).toBe(`/proc/self/fd/${mf.fd}`);
        expect(readlinkSync(mf.path)).toMatch(/^\/memfd:weightseal/);
        expect(ourMemfds()).toEqual([...before, mf.fd].sort((a, b) => a - b));
        expect(Buffer.from(await readFile(mf.path)).equals(pt)).toBe(true);
        expect(addon!.memfdSeals!(mf.fd)).toBe(ALL_SEALS);
        // Sealed: a writer (even one that opens the path read-write) can neither write nor resize.
        const rw = await fsOpen(mf.path, 'r+');
        try {
          expect(() => writeSync(rw.fd, Buffer.from('x'), 0, 1, 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
          expect(() => writeSync(rw.fd, Buffer.from('x'), 0, 1, pt.length)).toThrow(expect.objectContaining({ code: 'EPERM' }));
          expect(() => ftruncateSync(rw.fd, 1)).toThrow(expect.objectContaining({ code: 'EPERM' }));
        } finally {
          await rw.close();
        }
      } finally {
        await mf.close();
      }
      expect(ourMemfds()).toEqual(before);
    });
  }

  it('takes a FileHandle, opens an empty message, and close() is idempotent via asyncDispose', async () => {
    const fh = await fsOpen(await sealed('empty', new Uint8Array(0)), 'r');
    const mf = await openInMemory(fh, key);
    expect(mf.size).toBe(0);
    expect((await readFile(mf.path)).length).toBe(0);
    const fd = mf.fd;
    await mf[Symbol.asyncDispose]();
    await mf.close();
    await Promise.all([mf.close(), mf[Symbol.asyncDispose]()]);
    expect(() => mf.path).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => mf.fd).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(ourMemfds()).not.toContain(fd);
    // The caller's handle stays open.
    expect((await fh.stat()).size).toBeGreaterThan(0);
    await fh.close();
  });

  it('a failed open returns nothing and leaves no memory file open', async () => {
    const pt = new Uint8Array(randomBytes(300 * KiB));
    const good = await seal(key, pt);
    const before = ourMemfds();
    // A late chunk: earlier, verified chunks were already written to the memfd before the failure.
    const tampered = Uint8Array.from(good);
    tampered[HEADER_BYTES + 15 * SEALED_CHUNK_BYTES + 3]! ^= 1;
    const tPath = join(dir, 'tampered');
    await writeFile(tPath, tampered);
    for (const threads of [1, 2]) {
      const e = await openInMemory(tPath, key, { threads, slotBytes: 32 * KiB }).then(() => null, (x: unknown) => x);
      expect(e).toMatchObject({ code: 'ERR_AUTH_FAILED', chunk: 15 });
      const shown = serialise(e);
      for (const form of keyForms(key)) expect(shown).not.toContain(form);
    }
    const cut = join(dir, 'cut');
    await writeFile(cut, good.subarray(0, HEADER_BYTES + 4 * SEALED_CHUNK_BYTES));
    await expect(openInMemory(cut, key)).rejects.toMatchObject({ code: 'ERR_TRUNCATED' });
    const src = join(dir, 'good');
    await writeFile(src, good);
    await expect(openInMemory(src, new Uint8Array(32))).rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
    await expect(openInMemory(join(dir, 'missing'), key)).rejects.toMatchObject({ code: 'ERR_IO' });
    const ac = new AbortController();
    ac.abort();
    await expect(openInMemory(src, key, { signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(ourMemfds()).toEqual(before);
  });

  it('checks its arguments before creating anything', async () => {
    const before = ourMemfds();
    await expect(openInMemory(join(dir, 'good'), 'not a key' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(openInMemory(42 as never, key)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(openInMemory(join(dir, 'good'), key, { threads: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(ourMemfds()).toEqual(before);
  });
});

describe.skipIf(MEMFD_READY)('openInMemory without the addon', () => {
  it('rejects with ERR_UNSUPPORTED that says what is missing and what to use instead', async () => {
    const src = await sealed('plain-noaddon', new Uint8Array(10));
    const e = await openInMemory(src, key).then(() => null, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_UNSUPPORTED' });
    expect((e as Error).message).toMatch(process.platform === 'linux' ? /native addon/ : /needs Linux/);
    expect((e as Error).message).toMatch(/SealedFile/);
  });
});
