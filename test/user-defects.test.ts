// Issue 14, library side: what a user hit following the docs literally (destinations that are
// not regular files, a sniffed index, misspelled options, long appends, missing .path, kernel
// disagreement, strings in a Node Transform, disposal, suite inference).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SealedFile, SealedSafetensors, bounce, createOpenStream, createSealStream, info, open, openFile, openInMemory, seal, sealFile,
  WeightsealError,
} from '../src/index.js';
import { sealInline } from '../src/format.js';
import { nearestKey } from '../src/options-check.js';
import { finalLengths } from '../src/trailing.js';
import { safetensorsBytes, SMALL_MODEL } from './fixtures/safetensors.js';
import { caught } from './helpers/leaks.js';

const KEY = new Uint8Array(32).fill(7);
const ONE = { threads: 1, backend: 'node' as const };
const PLAIN = new Uint8Array(5 * 16384 + 123).map((_, i) => (i * 31) & 0xff);
let dir: string;
let sealedPath: string;
let sealedBytes: Uint8Array;
const p = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weightseal-i14-'));
  sealedBytes = sealInline(KEY, PLAIN, { backend: 'node' });
  sealedPath = p('plain.sealed');
  writeFileSync(sealedPath, sealedBytes);
  writeFileSync(p('plain.bin'), PLAIN);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function codeOf(run: () => unknown): Promise<WeightsealError> {
  const e = await caught(run);
  if (!(e instanceof WeightsealError)) throw new Error(`expected a WeightsealError, got ${String(e)}`);
  return e;
}

describe('destinations that are not regular files', () => {
  it('overwrite never replaces a character device (a private copy of /dev/null stays a device)', async (ctx) => {
    // A device node of our own in the temp dir: a regression must not cost the machine its /dev/null.
    try {
      execFileSync('mknod', [p('null-dev'), 'c', '1', '3'], { stdio: 'ignore' });
    } catch {
      console.log('skipped: mknod needs root (CAP_MKNOD)');
      ctx.skip();
    }
    const before = lstatSync(p('null-dev'));
    const e = await codeOf(() => openFile(sealedPath, p('null-dev'), KEY, { ...ONE, overwrite: true }));
    expect(e.code).toBe('ERR_EXISTS');
    expect(e.message).toMatch(/null-dev is a character device, not a regular file/);
    expect(e.path).toBe(p('null-dev'));
    const after = lstatSync(p('null-dev'));
    expect(after.isCharacterDevice()).toBe(true);
    expect(after.ino).toBe(before.ino);
  });

  it('refuses a FIFO, a socket and a directory, with or without overwrite', async () => {
    execFileSync('mkfifo', [p('fifo')]);
    const server = createServer();
    await new Promise<void>((r) => server.listen(p('sock'), r));
    mkdirSync(p('dir-out'));
    try {
      for (const [name, what] of [['fifo', /a FIFO/], ['sock', /a socket/], ['dir-out', /is a directory; give the output a file name/]] as const) {
        for (const overwrite of [false, true]) {
          const e = await codeOf(() => sealFile(p('plain.bin'), p(name), KEY, { ...ONE, overwrite }));
          expect(e.code, `${name} overwrite ${overwrite}`).toBe('ERR_EXISTS');
          expect(e.message).toMatch(what);
          // A directory OUT must not suggest the overwrite that would then fail.
          expect(e.message).not.toMatch(/overwrite/);
        }
      }
      expect(lstatSync(p('fifo')).isFIFO()).toBe(true);
      expect(lstatSync(p('sock')).isSocket()).toBe(true);
      expect(lstatSync(p('dir-out')).isDirectory()).toBe(true);
    } finally {
      server.close();
    }
  });

  it('refuses a symbolic link as OUT (even to a regular file) and leaves link and target alone', async () => {
    writeFileSync(p('target.bin'), 'target');
    symlinkSync(p('target.bin'), p('link.bin'));
    for (const overwrite of [false, true]) {
      const e = await codeOf(() => sealFile(p('plain.bin'), p('link.bin'), KEY, { ...ONE, overwrite }));
      expect(e.code).toBe('ERR_EXISTS');
      expect(e.message).toMatch(/is a symbolic link.*never follows a link/);
    }
    expect(lstatSync(p('link.bin')).isSymbolicLink()).toBe(true);
    expect(readFileSync(p('target.bin'), 'utf8')).toBe('target');
  });

  it('overwrite still replaces a regular file, created 0600', async () => {
    writeFileSync(p('regular.out'), 'old', { mode: 0o644 });
    await sealFile(p('plain.bin'), p('regular.out'), KEY, { ...ONE, overwrite: true });
    expect(statSync(p('regular.out')).mode & 0o777).toBe(0o600);
    expect(await open(KEY, readFileSync(p('regular.out')), ONE)).toEqual(PLAIN);
  });

  it('OUT in a missing directory names that directory, not the temporary file', async () => {
    const e = await codeOf(() => sealFile(p('plain.bin'), p('nowhere/out.sealed'), KEY, ONE));
    expect(e.code).toBe('ERR_IO');
    expect(e.message).toMatch(/directory .*nowhere does not exist/);
    expect(e.message).not.toMatch(/weightseal-\d+-/);
    expect(e.path).toBe(p('nowhere/out.sealed'));
  });
});

describe('a sharded index is never sniffed', () => {
  const a = safetensorsBytes(SMALL_MODEL.slice(0, 4));
  const weightMap = Object.fromEntries(SMALL_MODEL.slice(0, 4).map((t) => [t.name, 'model-00001-of-00001.safetensors']));
  const indexJson = JSON.stringify({ metadata: { total_size: a.bytes.length }, weight_map: weightMap });
  function checkpoint(name: string, index: Uint8Array): string {
    const d = p(name);
    mkdirSync(d);
    writeFileSync(join(d, 'model-00001-of-00001.safetensors'), sealInline(KEY, a.bytes, { backend: 'node' }));
    writeFileSync(join(d, 'model.safetensors.index.json'), index);
    return join(d, 'model.safetensors.index.json');
  }

  it('opens a sealed index whose salt starts with whitespace and "{" (once 1 in 256)', async () => {
    // The salt is the first 24 bytes of the sealed index: make it read as ' {...' to a sniffer.
    const salt = randomBytes(24);
    salt[0] = 0x20;
    salt[1] = 0x7b;
    const { TEST_SALT } = await import('../src/format.js');
    const sealedIndex = sealInline(KEY, new TextEncoder().encode(indexJson), { backend: 'node', [TEST_SALT]: salt } as never);
    expect(new TextDecoder().decode(sealedIndex.subarray(0, 2))).toBe(' {');
    const m = await SealedSafetensors.open(checkpoint('ck-salt', sealedIndex), KEY);
    expect(m.tensors().length).toBe(4);
    await m.close();
  });

  it('with a key, a plaintext index put in place of the sealed one is refused unless plaintextIndex: true', async () => {
    const path = checkpoint('ck-plain', new TextEncoder().encode(indexJson));
    const e = await codeOf(() => SealedSafetensors.open(path, KEY));
    expect(e.code).toBe('ERR_WRONG_KEY_OR_CONTEXT');
    expect(e.message).toMatch(/plaintextIndex: true/);
    const m = await SealedSafetensors.open(path, KEY, { plaintextIndex: true });
    expect(m.tensors().length).toBe(4);
    await m.close();
    const bad = await codeOf(() => SealedSafetensors.open(path, KEY, { plaintextIndex: 'yes' } as never));
    expect(bad.code).toBe('ERR_INVALID_ARG');
  });
});

describe('unknown option keys', () => {
  it('names the nearest valid key, or none when nothing is close', () => {
    expect(nearestKey('contxt', ['suite', 'context', 'threads'])).toBe('context');
    expect(nearestKey('thraeds', ['suite', 'context', 'threads'])).toBe('threads');
    expect(nearestKey('zzzzzzzz', ['suite', 'context'])).toBeNull();
  });

  it('a misspelled context is refused everywhere instead of sealing under the empty context', async () => {
    const bad = { contxt: 'tenant-42' } as never;
    const calls: [string, () => unknown][] = [
      ['seal', () => seal(KEY, PLAIN, bad)],
      ['open', () => open(KEY, sealedBytes, bad)],
      ['sealFile', () => sealFile(p('plain.bin'), p('never-1'), KEY, bad)],
      ['openFile', () => openFile(sealedPath, p('never-2'), KEY, bad)],
      ['createSealStream', () => createSealStream(KEY, bad)],
      ['createOpenStream', () => createOpenStream(KEY, bad)],
      ['bounce', () => bounce(PLAIN, KEY, { mode: 'seal', onSlot: () => {}, contxt: 'x' } as never)],
      ['SealedFile.open', () => SealedFile.open(sealedPath, KEY, bad)],
      ['SealedFile.fromBytes', () => SealedFile.fromBytes(sealedBytes, KEY, bad)],
      ['SealedSafetensors.open', () => SealedSafetensors.open(sealedPath, KEY, bad)],
      ['openInMemory', () => openInMemory(sealedPath, KEY, bad)],
    ];
    for (const [name, run] of calls) {
      const e = await codeOf(run);
      expect(e.code, name).toBe('ERR_INVALID_ARG');
      expect(e.message, name).toMatch(/unknown option "contxt"; did you mean "context"\?/);
    }
    expect(() => statSync(p('never-1'))).toThrow();
    expect(() => statSync(p('never-2'))).toThrow();
  });
});

describe('appended data: the code and docs/errors.md agree', () => {
  // PLAIN's final chunk is 123 bytes (a 139-byte record): appends that keep it in the last
  // record, or add exactly one more record, are ERR_TRAILING_DATA; longer ones read as a
  // modified chunk at the real final chunk, and the message says appending is one cause.
  it.each([1, 100, 16000, 16261])('%i bytes appended: ERR_TRAILING_DATA', async (n) => {
    const sealed = Buffer.concat([sealedBytes, randomBytes(n)]);
    const e = await codeOf(() => open(KEY, sealed, ONE));
    expect(e.code).toBe('ERR_TRAILING_DATA');
    expect(e.chunk).toBe(5);
    writeFileSync(p(`appended-${n}`), sealed);
    const f = await codeOf(() => openFile(p(`appended-${n}`), p(`appended-${n}.out`), KEY, ONE));
    expect(f.code).toBe('ERR_TRAILING_DATA');
    expect(f.path).toBe(p(`appended-${n}`));
    expect(() => statSync(p(`appended-${n}.out`))).toThrow();
  });

  it.each([16262, 16401, 20000, 3 * 16400 + 7, 200_000])('%i bytes appended: ERR_AUTH_FAILED at the real final chunk, naming appending', async (n) => {
    const sealed = Buffer.concat([sealedBytes, randomBytes(n)]);
    const e = await codeOf(() => open(KEY, sealed, ONE));
    expect(e.code).toBe('ERR_AUTH_FAILED');
    expect(e.chunk).toBe(5);
    expect(e.message).toMatch(/more than 16 KiB was appended|extended with trailing bytes/);
  });

  it('a modified chunk is ERR_AUTH_FAILED at its index, without trial opens far from the end', async () => {
    const t = Buffer.from(sealedBytes);
    t[56 + 2 * 16400 + 5]! ^= 1;
    const e = await codeOf(() => open(KEY, t, ONE));
    expect(e.code).toBe('ERR_AUTH_FAILED');
    expect(e.chunk).toBe(2);
    expect(finalLengths(2, 16400, 5, 139)).toEqual([]);
    expect(finalLengths(4, 16400, 5, 139)).toEqual([123]);
    expect(finalLengths(5, 139, 5, 139)).toHaveLength(123);
  });
});

describe('.path and .cause', () => {
  it('openFile, bounce(file) and SealedSafetensors.stream() errors name the file; cause is not the error itself', async () => {
    const st = safetensorsBytes(SMALL_MODEL);
    const stSealed = Buffer.from(sealInline(KEY, st.bytes, { backend: 'node' }));
    stSealed[stSealed.length - 40]! ^= 1; // the final chunk: open() checks it first
    const mid = Buffer.from(sealedBytes);
    mid[56 + 16400 + 9]! ^= 1;
    writeFileSync(p('mid.sealed'), mid);
    const e1 = await codeOf(() => openFile(p('mid.sealed'), p('mid.out'), KEY, ONE));
    expect(e1).toMatchObject({ code: 'ERR_AUTH_FAILED', chunk: 1, path: p('mid.sealed') });
    const e2 = await codeOf(() => bounce(p('mid.sealed'), KEY, { ...ONE, mode: 'open', onSlot: () => {} }));
    expect(e2).toMatchObject({ code: 'ERR_AUTH_FAILED', chunk: 1, path: p('mid.sealed') });
    const e3 = await codeOf(() => openFile(sealedPath, p('ctx.out'), KEY, { ...ONE, context: 'other' }));
    expect(e3).toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT', path: sealedPath });
    // SealedFile: the same, and its cause is not a copy of itself.
    const e4 = await codeOf(() => SealedFile.open(sealedPath, KEY, { context: 'other' }));
    expect(e4.path).toBe(sealedPath);
    expect(e4.cause).toBeUndefined();
    const missing = await codeOf(() => SealedFile.open(p('missing'), KEY));
    expect((missing.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(missing.cause).not.toBeInstanceOf(WeightsealError);
    // stream() of a whole sealed model runs the pipeline over the file: the error names it.
    const body = Buffer.from(sealInline(KEY, st.bytes, { backend: 'node' }));
    body[56 + 16400 + 3]! ^= 1; // chunk 1: past the header, so open() succeeds
    writeFileSync(p('model.sealed'), body);
    const m = await SealedSafetensors.open(p('model.sealed'), KEY, { threads: 1 });
    const e5 = await codeOf(async () => { for await (const _ of m.stream()) { /* drain */ } });
    expect(e5).toMatchObject({ code: 'ERR_AUTH_FAILED', path: p('model.sealed') });
    await m.close();
  });
});

describe('one rule per question', () => {
  it('info() and seal() agree under WEIGHTSEAL_KERNEL=bogus', async () => {
    const before = process.env.WEIGHTSEAL_KERNEL;
    process.env.WEIGHTSEAL_KERNEL = 'bogus';
    try {
      const i = info();
      const e = await seal(KEY, PLAIN, { threads: 1 }).catch((err: unknown) => err);
      if (i.error === null) {
        // No addon at all (WEIGHTSEAL_DISABLE_NATIVE): the default is noble and seal works.
        expect(i.backend).toBe('noble');
        expect(e).toBeInstanceOf(Uint8Array);
      } else {
        expect(e).toBeInstanceOf(WeightsealError);
        expect(i.error).toEqual({ code: (e as WeightsealError).code, message: (e as WeightsealError).message });
        expect(i.backend).toBe('native');
        expect(i.kernel).toBeNull();
      }
    } finally {
      if (before === undefined) delete process.env.WEIGHTSEAL_KERNEL;
      else process.env.WEIGHTSEAL_KERNEL = before;
    }
  });

  it('a 16-byte key means cobblestone-128 in the library as in the command', async () => {
    const k16 = new Uint8Array(16).fill(3);
    const sealed = await seal(k16, PLAIN, ONE);
    expect(await open(k16, sealed, { ...ONE, suite: 'cobblestone-128' })).toEqual(PLAIN);
    expect(await open(k16, sealed, ONE)).toEqual(PLAIN);
    const f = await SealedFile.fromBytes(sealed, k16);
    expect(f.suite).toBe('cobblestone-128');
    await f.close();
  });

  it('a Node Transform refuses a string chunk, also from an objectMode source', async () => {
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    const e = await caught(() => pipeline(Readable.from(['weights']), createSealStream(KEY, ONE), sink));
    expect(e).toBeInstanceOf(WeightsealError);
    expect((e as WeightsealError).code).toBe('ERR_INVALID_ARG');
    expect((e as WeightsealError).message).toMatch(/got string/);
  });

  it('a sealed file opened with key: null says it is sealed', async () => {
    writeFileSync(p('st.sealed'), sealInline(KEY, safetensorsBytes(SMALL_MODEL).bytes, { backend: 'node' }));
    const e = await codeOf(() => SealedSafetensors.open(p('st.sealed'), null));
    expect(e.code).toBe('ERR_BAD_SAFETENSORS');
    expect(e.message).toMatch(/this file is sealed.*pass its key/);
    expect(e.message).not.toMatch(/--|key file/);
  });

  it('library messages use no command words', async () => {
    const e = await codeOf(() => open(KEY, sealedBytes, { ...ONE, context: 'other' }));
    expect(e.message).not.toMatch(/--context|key file/);
  });
});

describe('Symbol.asyncDispose', () => {
  it('await using closes SealedFile and SealedSafetensors', async () => {
    let f: SealedFile;
    {
      await using g = await SealedFile.open(sealedPath, KEY);
      f = g;
      expect(f.closed).toBe(false);
    }
    expect(f.closed).toBe(true);
    writeFileSync(p('st2.sealed'), sealInline(KEY, safetensorsBytes(SMALL_MODEL).bytes, { backend: 'node' }));
    let m: SealedSafetensors;
    {
      await using n = await SealedSafetensors.open(p('st2.sealed'), KEY);
      m = n;
    }
    await expect(m.read(SMALL_MODEL[0]!.name)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});
