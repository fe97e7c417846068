/**
 * Bad input inventory (docs/errors.md): every public function with wrong types, wrong sizes,
 * bad positions, unknown options, closed handles, missing files, directories, existing
 * destinations and failing sinks. One test per row: each asserts the WeightsealError code,
 * the guidance in the message, `.path`/`.chunk` where documented, and that no byte of any key
 * in play shows up anywhere in the thrown object (message, stack, own props, util.inspect,
 * cause chain). The chunk-count limit rows use the hazmat run hooks (rawSealChunks).
 */
import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open as fsOpen, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SealedFile, SealedSafetensors, WeightsealError, bounce, createOpenStream, createSealStream, info, open,
  openFile, openWebStream, seal, sealFile, sealWebStream, type ErrorCode,
} from '../src/index.js';
import { gcmOpen, gcmSeal, rawOpen, rawOpenChunks, rawSeal, rawSealChunks } from '../src/hazmat.js';
import { MAX_CHUNKS } from '../src/cobblestone.js';
import { slotShape } from '../src/pipeline/engine.js';
import { addonStatus } from '../src/backend/addon.js';
import { allCases } from './helpers/backends.js';
import { sealInline } from '../src/format.js';
import { safetensorsBytes, SMALL_MODEL } from './fixtures/safetensors.js';
import { caught, expectNoKey, serialise } from './helpers/leaks.js';

const KEY = new Uint8Array(32).fill(0xa5);
const KEY16 = new Uint8Array(16).fill(0xa5);
const RKEY = new Uint8Array(randomBytes(32));
const NONCE = new Uint8Array(12).fill(7);
const keySized = (n: number) => new Uint8Array(n).fill(0xa5);
const noKeyIn = (text: string) => expectNoKey(text, [KEY, KEY16, RKEY]);
const NATIVE = addonStatus().addon !== null;

// ---------------------------------------------------------------------------------------------
// Key hygiene: everything a thrown value can show, and every way a key could appear in it.





interface Row {
  name: string;
  run: () => unknown;
  code: ErrorCode;
  /** Guidance the message must carry (what to do). */
  hint: RegExp;
  path?: () => string;
  chunk?: number;
}

async function check(row: Row): Promise<void> {
  const e = await caught(row.run);
  if (!(e instanceof WeightsealError)) throw new Error(`expected WeightsealError ${row.code}, got: ${inspect(e)}`);
  expect(e.code, e.message).toBe(row.code);
  expect(e.message).toMatch(row.hint);
  if (row.path) expect(e.path).toBe(row.path());
  if (row.chunk !== undefined) expect(e.chunk).toBe(row.chunk);
  noKeyIn(serialise(e));
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

let dir: string;
let sealedPath: string;
let sealedBytes: Uint8Array;
let stPath: string;
const PLAIN = new Uint8Array(3 * 16384 + 100).map((_, i) => i * 7);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weightseal-bad-input-'));
  sealedBytes = sealInline(KEY, PLAIN, { backend: 'node' });
  sealedPath = join(dir, 'plain.sealed');
  writeFileSync(sealedPath, sealedBytes);
  writeFileSync(join(dir, 'plain.bin'), PLAIN);
  writeFileSync(join(dir, 'exists.out'), 'x');
  mkdirSync(join(dir, 'a-directory'));
  stPath = join(dir, 'model.safetensors.sealed');
  writeFileSync(stPath, sealInline(KEY, safetensorsBytes(SMALL_MODEL).bytes, { backend: 'node' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const p = (name: string) => join(dir, name);
const fresh = (() => { let n = 0; return () => p(`out-${n++}`); })();
const ONE = { threads: 1 };

// ---------------------------------------------------------------------------------------------
// Keys: wrong types and sizes, for every function that takes one.

const BAD_KEYS: { label: string; key: () => unknown; hint: RegExp }[] = [
  { label: 'a hex string', key: () => Buffer.from(KEY).toString('hex'), hint: /Uint8Array.*got string; decode it first/ },
  { label: 'a number', key: () => 42, hint: /Uint8Array or a secret KeyObject.*got number/ },
  { label: 'null', key: () => null, hint: /got null/ },
  { label: 'undefined', key: () => undefined, hint: /got undefined/ },
  { label: 'an ArrayBuffer', key: () => KEY.slice().buffer, hint: /got ArrayBuffer; wrap it: new Uint8Array/ },
  { label: 'a plain array', key: () => [...KEY], hint: /got Array; wrap it: Uint8Array.from/ },
  { label: 'a Uint16Array', key: () => new Uint16Array(16).fill(0xa5a5), hint: /got Uint16Array/ },
  { label: 'a public KeyObject', key: () => generateKeyPairSync('ed25519').publicKey, hint: /secret KeyObject.*public key/ },
  { label: 'a private KeyObject', key: () => generateKeyPairSync('ed25519').privateKey, hint: /secret KeyObject.*private key/ },
  { label: '0 bytes', key: () => keySized(0), hint: /got 0 bytes/ },
  { label: '24 bytes (AES-192)', key: () => keySized(24), hint: /24 bytes.*AES-192 is not supported/ },
  { label: '31 bytes', key: () => keySized(31), hint: /got 31 bytes/ },
  { label: '33 bytes', key: () => keySized(33), hint: /got 33 bytes/ },
  { label: 'a 24-byte secret KeyObject', key: () => createSecretKey(keySized(24)), hint: /24.bytes?.*AES-192 is not supported/ },
];
// Suite-bound APIs take their suite from the key when none is given (16 bytes: cobblestone-128);
// a key that does not fit an explicit suite is an inventory row below.
const SUITE_KEYS = BAD_KEYS;

type KeyApi = [string, (key: unknown) => unknown, typeof BAD_KEYS];
const KEY_APIS: KeyApi[] = [
  ['seal', (k) => seal(k as Uint8Array, PLAIN, ONE), SUITE_KEYS],
  ['open', (k) => open(k as Uint8Array, sealedBytes, ONE), SUITE_KEYS],
  ['sealFile', (k) => sealFile(p('plain.bin'), fresh(), k as Uint8Array, ONE), SUITE_KEYS],
  ['openFile', (k) => openFile(sealedPath, fresh(), k as Uint8Array, ONE), SUITE_KEYS],
  ['createSealStream', (k) => createSealStream(k as Uint8Array), SUITE_KEYS],
  ['createOpenStream', (k) => createOpenStream(k as Uint8Array), SUITE_KEYS],
  ['sealWebStream', (k) => sealWebStream(k as Uint8Array), SUITE_KEYS],
  ['openWebStream', (k) => openWebStream(k as Uint8Array), SUITE_KEYS],
  ['bounce', (k) => bounce(PLAIN, k as Uint8Array, { mode: 'seal', onSlot: () => {} }), SUITE_KEYS],
  ['SealedFile.open', (k) => SealedFile.open(sealedPath, k as Uint8Array), SUITE_KEYS],
  ['SealedFile.fromBytes', (k) => SealedFile.fromBytes(sealedBytes, k as Uint8Array), SUITE_KEYS],
  // key: null is how SealedSafetensors opens a plaintext file (row below), so not a bad key here.
  ['SealedSafetensors.open', (k) => SealedSafetensors.open(stPath, k as Uint8Array), SUITE_KEYS.filter((k) => k.label !== 'null')],
  ['gcmSeal', (k) => gcmSeal(k as Uint8Array, NONCE, PLAIN), BAD_KEYS],
  ['gcmOpen', (k) => gcmOpen(k as Uint8Array, NONCE, new Uint8Array(32)), BAD_KEYS],
  ['rawSeal', (k) => rawSeal(k as Uint8Array, NONCE, PLAIN), BAD_KEYS],
  ['rawOpen', (k) => rawOpen(k as Uint8Array, NONCE, new Uint8Array(16)), BAD_KEYS],
];

describe.each(KEY_APIS)('%s: bad keys', (_name, call, keys) => {
  it.each(keys)('$label -> ERR_INVALID_ARG', async ({ key, hint }) => {
    await check({ name: '', run: () => call(key()), code: 'ERR_INVALID_ARG', hint });
  });
});

describe('keys that work', () => {
  it('a secret KeyObject and a Buffer are accepted everywhere a Uint8Array is', async () => {
    const sealed = await seal(createSecretKey(KEY), PLAIN, ONE);
    expect(await open(Buffer.from(KEY), sealed, ONE)).toEqual(PLAIN);
    const ct = gcmSeal(createSecretKey(KEY16), NONCE, PLAIN);
    expect(gcmOpen(Buffer.from(KEY16), NONCE, ct)).toEqual(PLAIN);
    expect(rawOpen(createSecretKey(KEY), NONCE, rawSeal(Buffer.from(KEY), NONCE, PLAIN))).toEqual(PLAIN);
  });
});

// ---------------------------------------------------------------------------------------------
// Data of the wrong type.

const BAD_DATA: { label: string; data: () => unknown; got: RegExp }[] = [
  { label: 'a string', data: () => 'weights', got: /got string/ },
  { label: 'a number', data: () => 7, got: /got number/ },
  { label: 'null', data: () => null, got: /got null/ },
  { label: 'an ArrayBuffer', data: () => new ArrayBuffer(8), got: /got ArrayBuffer/ },
  { label: 'a plain array', data: () => [1, 2, 3], got: /got Array/ },
];
const DATA_APIS: [string, string, (d: unknown) => unknown][] = [
  ['seal', 'plaintext', (d) => seal(KEY, d as Uint8Array)],
  ['open', 'sealed', (d) => open(KEY, d as Uint8Array)],
  ['gcmSeal', 'plaintext', (d) => gcmSeal(KEY, NONCE, d as Uint8Array)],
  ['gcmOpen', 'sealed', (d) => gcmOpen(KEY, NONCE, d as Uint8Array)],
  ['gcmSeal nonce', 'nonce', (d) => gcmSeal(KEY, d as Uint8Array, PLAIN)],
  ['gcmSeal aad', 'aad', (d) => gcmSeal(KEY, NONCE, PLAIN, d as Uint8Array)],
  ['rawSeal', 'plaintext', (d) => rawSeal(KEY, NONCE, d as Uint8Array)],
  ['rawOpen', 'sealed', (d) => rawOpen(KEY, NONCE, d as Uint8Array)],
  ['rawSeal baseNonce', 'baseNonce', (d) => rawSeal(KEY, d as Uint8Array, PLAIN)],
  ['SealedFile.fromBytes', 'sealed', (d) => SealedFile.fromBytes(d as Uint8Array, KEY)],
];
describe.each(DATA_APIS)('%s: data of the wrong type', (_name, what, call) => {
  it.each(BAD_DATA)('$label -> ERR_INVALID_ARG', async ({ data, got }) => {
    await check({ name: '', run: () => call(data()), code: 'ERR_INVALID_ARG',
      hint: new RegExp(`${what} must be a Uint8Array \\(or Buffer\\), ${got.source}`) });
  });
});

// ---------------------------------------------------------------------------------------------
// Options.

const BAD_OPTIONS: { label: string; opts: unknown; hint: RegExp }[] = [
  { label: 'options a string', opts: 'fast', hint: /options must be an object/ },
  { label: 'options null', opts: null, hint: /options must be an object/ },
  { label: 'unknown suite', opts: { suite: 'aes-192-gcm' }, hint: /suite must be 'cobblestone-256' or 'cobblestone-128'/ },
  { label: 'threads 0', opts: { threads: 0 }, hint: /threads must be an integer in 1\.\.1024, got number 0/ },
  { label: 'threads -1', opts: { threads: -1 }, hint: /threads must be an integer in 1\.\./ },
  { label: 'threads 1.5', opts: { threads: 1.5 }, hint: /threads must be an integer/ },
  { label: 'threads NaN', opts: { threads: NaN }, hint: /threads must be an integer/ },
  { label: "threads '4'", opts: { threads: '4' }, hint: /threads must be an integer.*got string/ },
  { label: 'slotBytes too small', opts: { slotBytes: 4096 }, hint: /slotBytes must be an integer in 16384\.\./ },
  { label: 'slotBytes not a multiple of 16 KiB', opts: { slotBytes: 16384 * 3 / 2 }, hint: /multiple of 16 KiB/ },
  { label: 'slotBytes fractional', opts: { slotBytes: 16384.5 }, hint: /slotBytes must be an integer/ },
  { label: 'inflight 0', opts: { inflight: 0 }, hint: /inflight must be an integer in 1\.\./ },
  { label: 'unknown backend', opts: { backend: 'cuda' }, hint: /backend must be one of native, noble, node, got cuda/ },
  { label: 'context a number', opts: { context: 5 }, hint: /context must be a Uint8Array or a string/ },
  { label: 'signal not an AbortSignal', opts: { signal: {} }, hint: /signal must be an AbortSignal/ },
];
const OPTION_APIS: [string, (o: unknown) => unknown][] = [
  ['seal', (o) => seal(KEY, PLAIN, o as never)],
  ['open', (o) => open(KEY, sealedBytes, o as never)],
  ['sealFile', (o) => sealFile(p('plain.bin'), fresh(), KEY, o as never)],
  ['openFile', (o) => openFile(sealedPath, fresh(), KEY, o as never)],
  ['createSealStream', (o) => createSealStream(KEY, o as never)],
  ['createOpenStream', (o) => createOpenStream(KEY, o as never)],
  ['sealWebStream', (o) => sealWebStream(KEY, o as never)],
  ['openWebStream', (o) => openWebStream(KEY, o as never)],
];
describe.each(OPTION_APIS)('%s: bad options', (_name, call) => {
  it.each(BAD_OPTIONS)('$label -> ERR_INVALID_ARG', async ({ opts, hint }) => {
    await check({ name: '', run: () => call(opts), code: 'ERR_INVALID_ARG', hint });
  });
});

// Functions whose options are { suite, context, backend } (no pipeline tuning).
const SMALL_OPTIONS = BAD_OPTIONS.filter((o) => /options|suite|backend|context/.test(o.label));
const SMALL_OPTION_APIS: [string, (o: unknown) => unknown][] = [
  ['SealedFile.open', (o) => SealedFile.open(sealedPath, KEY, o as never)],
  ['SealedFile.fromBytes', (o) => SealedFile.fromBytes(sealedBytes, KEY, o as never)],
];
describe.each(SMALL_OPTION_APIS)('%s: bad options', (_name, call) => {
  it.each(SMALL_OPTIONS)('$label -> ERR_INVALID_ARG', async ({ opts, hint }) => {
    await check({ name: '', run: () => call(opts), code: 'ERR_INVALID_ARG', hint });
  });
});
const HAZMAT_OPTIONS = BAD_OPTIONS.filter((o) => /options|backend/.test(o.label));
const HAZMAT_APIS: [string, (o: unknown) => unknown][] = [
  ['gcmSeal', (o) => gcmSeal(KEY, NONCE, PLAIN, undefined, o as never)],
  ['gcmOpen', (o) => gcmOpen(KEY, NONCE, new Uint8Array(32), undefined, o as never)],
  ['rawSeal', (o) => rawSeal(KEY, NONCE, PLAIN, o as never)],
  ['rawOpen', (o) => rawOpen(KEY, NONCE, new Uint8Array(16), o as never)],
];
describe.each(HAZMAT_APIS)('%s: bad options', (_name, call) => {
  it.each(HAZMAT_OPTIONS)('$label -> ERR_INVALID_ARG', async ({ opts, hint }) => {
    await check({ name: '', run: () => call(opts), code: 'ERR_INVALID_ARG', hint });
  });
});

// ---------------------------------------------------------------------------------------------
// Every other row: one function and one bad input each.

const sealedFileOpen = () => SealedFile.open(sealedPath, KEY);
async function closedSealedFile(): Promise<SealedFile> {
  const f = await sealedFileOpen();
  await f.close();
  return f;
}
async function withFile<T>(run: (f: SealedFile) => Promise<T>): Promise<T> {
  const f = await sealedFileOpen();
  try {
    return await run(f);
  } finally {
    await f.close();
  }
}
async function withModel<T>(run: (m: SealedSafetensors) => Promise<T>): Promise<T> {
  const m = await SealedSafetensors.open(stPath, KEY);
  try {
    return await run(m);
  } finally {
    await m.close();
  }
}
const T0 = SMALL_MODEL[0]!.name;
const tampered = () => { const b = sealedBytes.slice(); b[56 + 16384 + 16 + 5]! ^= 1; return b; };

const ROWS: Row[] = [
  // SealedFile positions and lengths.
  ...([['-1', -1], ['1.5', 1.5], ['NaN', NaN], ['Infinity', Infinity], ["'0'", '0'], ['size + 1', PLAIN.length + 1]] as const)
    .map(([label, v]): Row => ({ name: `SealedFile.read position ${label}`, code: 'ERR_INVALID_ARG',
      hint: /position must be an integer in 0\.\.\d+/, run: () => withFile((f) => f.read(v as number, 1)) })),
  ...([['-1', -1], ['1.5', 1.5], ['NaN', NaN], ['2^53', 2 ** 53], ['null', null]] as const)
    .map(([label, v]): Row => ({ name: `SealedFile.read length ${label}`, code: 'ERR_INVALID_ARG',
      hint: /length must be an integer in 0\.\./, run: () => withFile((f) => f.read(0, v as number)) })),
  ...([['-1', -1], ['0.5', 0.5], ['NaN', NaN], ['size + 1', PLAIN.length + 1]] as const)
    .map(([label, v]): Row => ({ name: `SealedFile.readInto position ${label}`, code: 'ERR_INVALID_ARG',
      hint: /position must be an integer in 0\.\./, run: () => withFile((f) => f.readInto(new Uint8Array(4), v)) })),
  ...BAD_DATA.map(({ label, data, got }): Row => ({ name: `SealedFile.readInto buffer ${label}`, code: 'ERR_INVALID_ARG',
    hint: new RegExp(`buffer must be a Uint8Array \\(or Buffer\\), ${got.source}`),
    run: () => withFile((f) => f.readInto(data() as Uint8Array, 0)) })),
  // Closed handles.
  { name: 'SealedFile.read after close', code: 'ERR_CLOSED', hint: /closed; open it again/,
    run: async () => (await closedSealedFile()).read(0, 1) },
  { name: 'SealedFile.readInto after close', code: 'ERR_CLOSED', hint: /closed; open it again/,
    run: async () => (await closedSealedFile()).readInto(new Uint8Array(1), 0) },
  { name: 'SealedFile.read closed while the read waits for the file', code: 'ERR_CLOSED', hint: /closed; open it again/,
    run: async () => { const f = await sealedFileOpen(); const r = f.read(0, PLAIN.length); void f.close(); return r; } },
  { name: 'SealedSafetensors.read after close', code: 'ERR_CLOSED', hint: /closed; open it again/,
    run: async () => { const m = await SealedSafetensors.open(stPath, KEY); await m.close(); return m.read(T0); } },
  { name: 'SealedSafetensors.readInto after close', code: 'ERR_CLOSED', hint: /closed; open it again/,
    run: async () => { const m = await SealedSafetensors.open(stPath, KEY); await m.close(); return m.readInto(T0, new Uint8Array(1 << 16)); } },
  { name: 'SealedSafetensors.stream after close', code: 'ERR_CLOSED', hint: /closed; open it again/,
    run: async () => { const m = await SealedSafetensors.open(stPath, KEY); await m.close(); return m.stream().next(); } },
  // SealedSafetensors names and buffers.
  { name: 'SealedSafetensors.read unknown tensor', code: 'ERR_INVALID_ARG', hint: /no tensor named "nope".*see tensors\(\)/,
    run: () => withModel((m) => m.read('nope')) },
  { name: 'SealedSafetensors.read name a number', code: 'ERR_INVALID_ARG', hint: /tensor name must be a string, got number/,
    run: () => withModel((m) => m.read(3 as never)) },
  { name: 'SealedSafetensors.readInto buffer too small', code: 'ERR_INVALID_ARG', hint: /too small for tensor/,
    run: () => withModel((m) => m.readInto(T0, new Uint8Array(3))) },
  { name: 'SealedSafetensors.readInto buffer an ArrayBuffer', code: 'ERR_INVALID_ARG', hint: /buffer must be a Uint8Array.*got ArrayBuffer/,
    run: () => withModel((m) => m.readInto(T0, new ArrayBuffer(1 << 16) as never)) },
  { name: 'SealedSafetensors.stream unknown tensor', code: 'ERR_INVALID_ARG', hint: /no tensor named "nope"/,
    run: () => withModel((m) => m.stream(['nope']).next()) },
  { name: 'SealedSafetensors.open a sealed file that is not safetensors', code: 'ERR_BAD_SAFETENSORS', hint: /safetensors/,
    run: () => SealedSafetensors.open(sealedPath, KEY) },
  { name: 'SealedSafetensors.open a sealed file with key null (read as plaintext)', code: 'ERR_BAD_SAFETENSORS',
    hint: /not a valid safetensors file/, run: () => SealedSafetensors.open(stPath, null) },
  { name: 'SealedSafetensors.open wrong key', code: 'ERR_WRONG_KEY_OR_CONTEXT', hint: /check the key and the context it was sealed with/,
    run: () => SealedSafetensors.open(stPath, RKEY), path: () => stPath },
  // Files: missing, directories, existing destinations, wrong path types.
  { name: 'sealFile src missing', code: 'ERR_IO', hint: /check the path exists/, path: () => p('missing'),
    run: () => sealFile(p('missing'), fresh(), KEY, ONE) },
  { name: 'sealFile src a directory', code: 'ERR_IO', hint: /give a file, not a directory/, path: () => p('a-directory'),
    run: () => sealFile(p('a-directory'), fresh(), KEY, ONE) },
  { name: 'sealFile dst exists', code: 'ERR_EXISTS', hint: /remove it or pass \{ overwrite: true \}/, path: () => p('exists.out'),
    run: () => sealFile(p('plain.bin'), p('exists.out'), KEY, ONE) },
  { name: 'sealFile dst an existing directory', code: 'ERR_EXISTS', hint: /is a directory; give the output a file name/,
    path: () => p('a-directory'),
    run: () => sealFile(p('plain.bin'), p('a-directory'), KEY, ONE) },
  { name: 'sealFile dst in a missing directory', code: 'ERR_IO', hint: /cannot create .*no-such-dir\/out: directory .*no-such-dir does not exist/,
    run: () => sealFile(p('plain.bin'), p('no-such-dir/out'), KEY, ONE) },
  { name: 'sealFile src a number', code: 'ERR_INVALID_ARG', hint: /src must be a file path \(string or file: URL\), got number/,
    run: () => sealFile(3 as never, fresh(), KEY) },
  { name: 'sealFile dst a number', code: 'ERR_INVALID_ARG', hint: /dst must be a file path/,
    run: () => sealFile(p('plain.bin'), 42 as never, KEY) },
  { name: 'openFile dst undefined', code: 'ERR_INVALID_ARG', hint: /dst must be a file path/,
    run: () => openFile(sealedPath, undefined as never, KEY) },
  { name: "sealFile overwrite 'yes'", code: 'ERR_INVALID_ARG', hint: /overwrite must be a boolean/,
    run: () => sealFile(p('plain.bin'), fresh(), KEY, { overwrite: 'yes' as never }) },
  { name: 'openFile src missing', code: 'ERR_IO', hint: /check the path exists/, path: () => p('missing.sealed'),
    run: () => openFile(p('missing.sealed'), fresh(), KEY, ONE) },
  { name: 'openFile src a directory', code: 'ERR_IO', hint: /give a file, not a directory/, path: () => p('a-directory'),
    run: () => openFile(p('a-directory'), fresh(), KEY, ONE) },
  { name: 'openFile dst exists', code: 'ERR_EXISTS', hint: /overwrite/, path: () => p('exists.out'),
    run: () => openFile(sealedPath, p('exists.out'), KEY, ONE) },
  { name: 'openFile wrong key', code: 'ERR_WRONG_KEY_OR_CONTEXT', hint: /different key, suite or context/,
    run: () => openFile(sealedPath, fresh(), RKEY, ONE) },
  { name: 'SealedFile.open missing', code: 'ERR_IO', hint: /check the path exists/, path: () => p('missing'),
    run: () => SealedFile.open(p('missing'), KEY) },
  { name: 'SealedFile.open a directory', code: 'ERR_IO', hint: /give a file, not a directory/, path: () => p('a-directory'),
    run: () => SealedFile.open(p('a-directory'), KEY) },
  { name: 'SealedFile.open a number', code: 'ERR_INVALID_ARG', hint: /file must be a path \(string or file: URL\) or a FileHandle/,
    run: () => SealedFile.open(3 as never, KEY) },
  { name: 'SealedSafetensors.open missing', code: 'ERR_IO', hint: /check the path exists/, path: () => p('missing.safetensors'),
    run: () => SealedSafetensors.open(p('missing.safetensors'), KEY) },
  { name: 'SealedSafetensors.open a directory', code: 'ERR_IO', hint: /give a file, not a directory/, path: () => p('a-directory'),
    run: () => SealedSafetensors.open(p('a-directory'), KEY) },
  { name: 'SealedSafetensors.open (plaintext, key null) a directory', code: 'ERR_IO', hint: /give a file, not a directory/,
    path: () => p('a-directory'), run: () => SealedSafetensors.open(p('a-directory'), null) },
  { name: 'bounce source a directory', code: 'ERR_IO', hint: /give a file, not a directory/, path: () => p('a-directory'),
    run: () => bounce(p('a-directory'), KEY, { mode: 'open', onSlot: () => {} }) },
  { name: 'bounce source missing', code: 'ERR_IO', hint: /check the path exists/, path: () => p('missing'),
    run: () => bounce(p('missing'), KEY, { mode: 'open', onSlot: () => {} }) },
  { name: 'bounce source a number', code: 'ERR_INVALID_ARG', hint: /source must be a path, a FileHandle/,
    run: () => bounce(5 as never, KEY, { mode: 'seal', onSlot: () => {} }) },
  { name: 'bounce without mode', code: 'ERR_INVALID_ARG', hint: /bounce needs \{ mode: 'seal' \| 'open', onSlot \}/,
    run: () => bounce(PLAIN, KEY, { onSlot: () => {} } as never) },
  { name: 'bounce onSlot not a function', code: 'ERR_INVALID_ARG', hint: /onSlot must be a function/,
    run: () => bounce(PLAIN, KEY, { mode: 'seal', onSlot: 'x' } as never) },
  { name: 'bounce options missing', code: 'ERR_INVALID_ARG', hint: /bounce needs \{ mode/,
    run: () => bounce(PLAIN, KEY, undefined as never) },
  // Format failures, for the inventory's completeness.
  { name: 'open truncated to the header', code: 'ERR_TRUNCATED', hint: /cut short|truncated/,
    run: () => open(KEY, sealedBytes.subarray(0, 56), ONE) },
  { name: 'open shorter than the header', code: 'ERR_TRUNCATED', hint: /pass the whole sealed message/,
    run: () => open(KEY, sealedBytes.subarray(0, 20), ONE) },
  { name: 'open wrong context', code: 'ERR_WRONG_KEY_OR_CONTEXT', hint: /check the key and the context it was sealed with/,
    run: () => open(KEY, sealedBytes, { ...ONE, context: 'other' }) },
  { name: 'open a modified chunk', code: 'ERR_AUTH_FAILED', hint: /no plaintext of it was released/, chunk: 1,
    run: () => open(KEY, tampered(), ONE) },
  { name: 'open with bytes appended', code: 'ERR_TRAILING_DATA', hint: /appended/,
    run: () => open(KEY, Buffer.concat([sealedBytes, new Uint8Array(16 + 16384)]), ONE) },
  { name: 'SealedFile.read a modified chunk', code: 'ERR_AUTH_FAILED', hint: /modified/, chunk: 1,
    run: async () => { const f = await SealedFile.fromBytes(tampered(), KEY); return f.read(16384, 10); } },
  { name: 'gcmOpen shorter than a tag', code: 'ERR_TRUNCATED', hint: /pass ciphertext \|\| tag/,
    run: () => gcmOpen(KEY, NONCE, new Uint8Array(15)) },
  { name: 'gcmOpen wrong key', code: 'ERR_AUTH_FAILED', hint: /wrong key, nonce or AAD/,
    run: () => gcmOpen(RKEY, NONCE, gcmSeal(KEY, NONCE, PLAIN)) },
  { name: 'gcmSeal empty nonce', code: 'ERR_INVALID_ARG', hint: /nonce must not be empty/,
    run: () => gcmSeal(KEY, new Uint8Array(0), PLAIN) },
  { name: 'rawSeal 11-byte base nonce', code: 'ERR_INVALID_ARG', hint: /baseNonce must be 12 bytes/,
    run: () => rawSeal(KEY, new Uint8Array(11), PLAIN) },
  { name: 'rawSeal output too small', code: 'ERR_INVALID_ARG', hint: /output must hold at least/,
    run: () => rawSeal(KEY, NONCE, PLAIN, { output: new Uint8Array(10) }) },
  { name: 'rawSeal output overlapping the input', code: 'ERR_INVALID_ARG', hint: /pass a separate buffer/,
    run: () => { const b = new Uint8Array(2 * PLAIN.length + 100); return rawSeal(KEY, NONCE, b.subarray(0, 100), { output: b }); } },
  // Backends.
  // Without the addon (WEIGHTSEAL_DISABLE_NATIVE, a failed build) the native backend itself is missing.
  { name: 'seal on a kernel this CPU lacks (WEIGHTSEAL_KERNEL=bogus)',
    code: NATIVE ? 'ERR_KERNEL_UNAVAILABLE' : 'ERR_BACKEND_UNAVAILABLE',
    hint: NATIVE ? /unknown kernel "bogus"; choose one of/ : /run `npm run build` or use backend "noble" or "node"/,
    run: () => withEnv('WEIGHTSEAL_KERNEL', 'bogus', () => seal(KEY, PLAIN, { backend: 'native', threads: 1 })) },
  // A key that does not fit an explicitly named suite (without one, 16 bytes means cobblestone-128).
  { name: 'seal 16-byte key with suite cobblestone-256', code: 'ERR_INVALID_ARG',
    hint: /needs a 32-byte key, got 16 bytes \(use suite 'cobblestone-128'/,
    run: () => seal(KEY16, PLAIN, { ...ONE, suite: 'cobblestone-256' }) },
  { name: 'SealedFile.open 32-byte key with suite cobblestone-128', code: 'ERR_INVALID_ARG',
    hint: /needs a 16-byte key, got 32 bytes \(use suite 'cobblestone-256'/,
    run: () => SealedFile.open(sealedPath, KEY, { suite: 'cobblestone-128' }) },
  // Misspelled options: refused, naming the nearest key, never ignored.
  { name: 'seal option contxt (misspelled)', code: 'ERR_INVALID_ARG', hint: /unknown option "contxt"; did you mean "context"\?/,
    run: () => seal(KEY, PLAIN, { contxt: 'tenant-42' } as never) },
  { name: 'openFile option overwite (misspelled)', code: 'ERR_INVALID_ARG', hint: /unknown option "overwite"; did you mean "overwrite"\?/,
    run: () => openFile(sealedPath, fresh(), KEY, { overwite: true } as never) },
  { name: 'SealedFile.open option Context (case)', code: 'ERR_INVALID_ARG', hint: /did you mean "context"\?/,
    run: () => SealedFile.open(sealedPath, KEY, { Context: 'x' } as never) },
  { name: 'SealedSafetensors.open option readAhead', code: 'ERR_INVALID_ARG', hint: /did you mean "readAheadBytes"\?/,
    run: () => SealedSafetensors.open(stPath, KEY, { readAhead: 1 } as never) },
  { name: 'gcmSeal option aad (not an option)', code: 'ERR_INVALID_ARG', hint: /unknown option "aad".*valid: backend/,
    run: () => gcmSeal(KEY, NONCE, PLAIN, undefined, { aad: PLAIN } as never) },
  // Cancellation.
  { name: 'seal with an aborted signal', code: 'ERR_ABORTED', hint: /aborted/,
    run: () => seal(KEY, PLAIN, { signal: AbortSignal.abort(new Error('stop')), threads: 1 }) },
];

async function withEnv<T>(name: string, value: string, run: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await run();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

describe('inventory rows', () => {
  it.each(ROWS)('$name -> $code', async (row) => {
    await check(row);
  });

  it('SealedFile.open on an unreadable file (chmod 000) -> ERR_IO', async (ctx) => {
    if (process.getuid?.() === 0) {
      console.log('skipped: running as root, which reads a chmod 000 file anyway');
      ctx.skip();
    }
    const path = p('unreadable.sealed');
    writeFileSync(path, sealedBytes);
    chmodSync(path, 0o000);
    await check({ name: '', code: 'ERR_IO', hint: /check file permissions/, path: () => path,
      run: () => SealedFile.open(path, KEY) });
    await check({ name: '', code: 'ERR_IO', hint: /check file permissions/, path: () => path,
      run: () => openFile(path, fresh(), KEY, ONE) });
  });

  it('info() never throws: a bad WEIGHTSEAL_KERNEL shows up in addon.errors', async () => {
    const r = await withEnv('WEIGHTSEAL_KERNEL', 'bogus', async () => info());
    expect(r.forcedKernel).toBe('bogus');
    if (r.addon.loaded) expect(r.addon.errors.join('\n')).toMatch(/unknown kernel "bogus"/);
  });

  it('SealedSafetensors.tensors() after close still lists the tensors (metadata, no I/O)', async () => {
    const m = await SealedSafetensors.open(stPath, KEY);
    await m.close();
    expect(m.tensors().map((t) => t.name)).toEqual(SMALL_MODEL.map((t) => t.name));
  });

  it('SealedFile.close twice is fine; the second close is the same promise', async () => {
    const f = await sealedFileOpen();
    const a = f.close();
    expect(f.close()).toBe(a);
    await a;
    expect(f.closed).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Sinks and consumers that fail mid-stream: their own error comes back unchanged, the stream
// stops at once, and nothing more is delivered.

const BIG = new Uint8Array(8 * 16384).map((_, i) => i);
const SMALL_SLOTS = { threads: 1, slotBytes: 16384, inflight: 2 };

describe('failing sinks', () => {
  it('a Node Writable that fails with ENOSPC: pipeline rejects with that error, the transform is destroyed', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
    let writes = 0;
    const sink = new Writable({
      write(_chunk, _enc, cb) {
        writes++;
        cb(writes === 2 ? enospc : null);
      },
    });
    const t = createSealStream(KEY, SMALL_SLOTS);
    const e = await caught(() => pipeline(Readable.from([BIG]), t, sink));
    expect(e).toBe(enospc);
    expect(t.destroyed).toBe(true);
    expect(writes).toBe(2);
    noKeyIn(serialise(e));
  });

  it('a Node Writable that fails while opening: nothing after the failure is written', async () => {
    const sealed = await seal(KEY, BIG, ONE);
    const boom = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    let writes = 0;
    const sink = new Writable({ write(_c, _e, cb) { writes++; cb(boom); } });
    const t = createOpenStream(KEY, SMALL_SLOTS);
    expect(await caught(() => pipeline(Readable.from([sealed]), t, sink))).toBe(boom);
    await new Promise((r) => setTimeout(r, 20));
    expect(writes).toBe(1);
  });

  it.each(['throws', 'rejects'])('bounce: an onSlot that %s stops the stream with its own error', async (how) => {
    const err = new Error('consumer failed');
    let calls = 0;
    const e = await caught(() => bounce(BIG, KEY, {
      mode: 'seal', ...SMALL_SLOTS,
      onSlot: () => {
        calls++;
        if (calls === 2) {
          if (how === 'throws') throw err;
          return Promise.reject(err);
        }
        return undefined;
      },
    }));
    expect(e).toBe(err);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(2);
  });

  it('a Web reader that cancels: the source is cancelled with the reason and no more is pulled', async () => {
    let pulls = 0;
    let cancelled: unknown = null;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        pulls++;
        c.enqueue(BIG.slice(0, 16384));
      },
      cancel(reason) {
        cancelled = reason;
      },
    }, { highWaterMark: 0 });
    const reader = source.pipeThrough(sealWebStream(KEY, SMALL_SLOTS)).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel('reader went away');
    await new Promise((r) => setTimeout(r, 50));
    expect(cancelled).toBe('reader went away');
    const after = pulls;
    await new Promise((r) => setTimeout(r, 50));
    expect(pulls).toBe(after);
  });

  it('a Web stream written a string -> ERR_INVALID_ARG, and the stream stays failed', async () => {
    const ts = sealWebStream(KEY, SMALL_SLOTS) as unknown as TransformStream<unknown, Uint8Array>;
    const src = new ReadableStream({ start(c) { c.enqueue('weights'); c.close(); } });
    const reader = src.pipeThrough(ts).getReader();
    expect((await reader.read()).value?.length).toBe(56); // the header goes out before the first chunk arrives
    await check({ name: '', code: 'ERR_INVALID_ARG', hint: /write Uint8Array chunks, got string/, run: () => reader.read() });
    await check({ name: '', code: 'ERR_INVALID_ARG', hint: /write Uint8Array chunks/, run: () => reader.read() });
  });

  it("a Node stream written a number: Node's own ERR_INVALID_ARG_TYPE, before weightseal sees it", async () => {
    const t = createSealStream(KEY, SMALL_SLOTS);
    let e: unknown;
    try { t.write(42 as never); } catch (x) { e = x; }
    expect((e as NodeJS.ErrnoException).code).toBe('ERR_INVALID_ARG_TYPE');
    t.destroy();
  });

  it('a Web writer after the reader cancelled: writes reject instead of hanging', async () => {
    const ts = openWebStream(KEY, SMALL_SLOTS);
    const writer = ts.writable.getWriter();
    const reader = ts.readable.getReader();
    await reader.cancel(new Error('gone'));
    const e = await caught(() => writer.write(new Uint8Array(100)));
    expect(e).toBeInstanceOf(Error);
    noKeyIn(serialise(e));
  });
});

// ---------------------------------------------------------------------------------------------
// The chunk-count limit and the spec's counter abort, through hazmat run hooks.

describe('chunk limit through a FileHandle that claims a huge file', () => {
  /** A FileHandle stand-in: a real header, then a size past 2^38 chunks; records which bytes were read. */
  function hugeHandle(sizeBytes: number): { fh: FileHandle; reads: number[] } {
    const reads: number[] = [];
    const fh = {
      fd: 99,
      stat: async () => ({ isFile: () => true, isDirectory: () => false, size: sizeBytes }),
      read: async (buf: Uint8Array, off: number, len: number, pos: number) => {
        reads.push(pos);
        const n = Math.max(0, Math.min(len, sealedBytes.length - pos));
        buf.set(sealedBytes.subarray(pos, pos + n), off);
        return { bytesRead: len, buffer: buf };
      },
      close: async () => {},
    };
    return { fh: fh as unknown as FileHandle, reads };
  }
  const TOO_MANY = 56 + 2 ** 38 * (16384 + 16) + 16; // 2^38 full records and an empty final one

  it('SealedFile.open: ERR_TOO_LARGE after the header, before any chunk is read', async () => {
    const { fh, reads } = hugeHandle(TOO_MANY);
    await check({ name: '', code: 'ERR_TOO_LARGE', hint: /2\^38/, run: () => SealedFile.open(fh, KEY) });
    expect(reads).toEqual([0]);
  });

  it('bounce open: ERR_TOO_LARGE before any slot is delivered', async () => {
    const { fh, reads } = hugeHandle(TOO_MANY);
    let slots = 0;
    await check({ name: '', code: 'ERR_TOO_LARGE', hint: /2\^38/,
      run: () => bounce(fh, KEY, { mode: 'open', threads: 1, onSlot: () => { slots++; } }) });
    expect(slots).toBe(0);
    expect(Math.max(...reads)).toBeLessThan(56);
  });

  it('bounce seal of a source over 4 PiB - 1: ERR_TOO_LARGE before anything is read or delivered', async () => {
    const { fh, reads } = hugeHandle(2 ** 38 * 16384);
    let slots = 0;
    await check({ name: '', code: 'ERR_TOO_LARGE', hint: /2\^38|4 PiB/,
      run: () => bounce(fh, KEY, { mode: 'seal', threads: 1, onSlot: () => { slots++; } }) });
    expect(slots).toBe(0);
    expect(reads).toEqual([]);
  });
});

describe('the 2^38-chunk limit, through the hazmat run hooks', () => {
  const LAST = 2 ** 38 - 1;
  /** The spec's nonce for chunk i: the base nonce's final 5 bytes XOR i as a big-endian 38-bit integer. */
  function chunkNonce(i: number): Uint8Array {
    const n = NONCE.slice();
    for (let b = 0; b < 5; b++) n[11 - b]! ^= Math.floor(i / 2 ** (8 * b)) % 256;
    return n;
  }

  it('the spec says 2^38 chunks, and so does MAX_CHUNKS', () => {
    expect(MAX_CHUNKS).toBe(2 ** 38);
  });

  describe.each(allCases())('$label', ({ backend }) => {
    it('chunk 2^38 - 1 seals as the final chunk, under nonce base XOR (2^38 - 1), and opens', () => {
      const pt = PLAIN.subarray(0, 100);
      const sealed = rawSealChunks(KEY, NONCE, LAST, pt, { backend });
      expect(sealed).toEqual(gcmSeal(KEY, chunkNonce(LAST), pt, undefined, { backend: 'node' }));
      expect(rawOpenChunks(KEY, NONCE, LAST, sealed, { backend })).toEqual(pt);
    });

    it('a run that ends exactly at chunk 2^38 - 1 works: 2^38 - 3 .. 2^38 - 1', () => {
      const pt = PLAIN.subarray(0, 2 * 16384 + 5);
      const sealed = rawSealChunks(KEY, NONCE, LAST - 2, pt, { backend });
      expect(rawOpenChunks(KEY, NONCE, LAST - 2, sealed, { backend })).toEqual(pt);
      const whole = rawSealChunks(KEY, NONCE, LAST - 1, PLAIN.subarray(0, 16384), { backend, final: false });
      expect(whole.length).toBe(16400);
    });

    it('reaching chunk 2^38 aborts with ERR_TOO_LARGE before any output', async () => {
      const output = new Uint8Array(3 * 16400).fill(0xee);
      for (const [first, len, final] of [[LAST, 16384, true], [2 ** 38, 0, true], [LAST, 2 * 16384, false],
        [2 ** 40, 10, true]] as const) {
        await check({ name: '', code: 'ERR_TOO_LARGE', hint: /2\^38/,
          run: () => rawSealChunks(KEY, NONCE, first, PLAIN.subarray(0, len), { backend, final, output }) });
        expect(output.every((x) => x === 0xee), `output untouched for first=${first}`).toBe(true);
      }
    });

    it('opening a run that claims chunks at or past 2^38: ERR_TOO_LARGE before anything is decrypted', async () => {
      const output = new Uint8Array(3 * 16384).fill(0xee);
      // A whole record at 2^38 - 1 and an empty final one at 2^38; whole records at 2^38 - 1 and 2^38.
      const records = new Uint8Array(randomBytes(2 * 16400));
      await check({ name: '', code: 'ERR_TOO_LARGE', hint: /2\^38/,
        run: () => rawOpenChunks(KEY, NONCE, LAST, records.subarray(0, 16400 + 16), { backend, output }) });
      await check({ name: '', code: 'ERR_TOO_LARGE', hint: /2\^38/,
        run: () => rawOpenChunks(KEY, NONCE, LAST, records, { backend, final: false, output }) });
      expect(output.every((x) => x === 0xee)).toBe(true);
    });
  });

  it('a run opened at the wrong index fails with .chunk the message index; nothing is released', async () => {
    const output = new Uint8Array(PLAIN.length).fill(0xee);
    const sealed = rawSealChunks(KEY, NONCE, LAST - 5, PLAIN);
    await check({ name: '', code: 'ERR_AUTH_FAILED', hint: /no plaintext of it was released/, chunk: LAST - 6,
      run: () => rawOpenChunks(KEY, NONCE, LAST - 6, sealed, { output }) });
    expect(output.every((x) => x === 0)).toBe(true);
  });

  it('rawSealChunks from 0 is rawSeal; a non-final run must hold whole chunks', async () => {
    expect(rawSealChunks(KEY, NONCE, 0, PLAIN, { backend: 'node' })).toEqual(rawSeal(KEY, NONCE, PLAIN, { backend: 'node' }));
    await check({ name: '', code: 'ERR_INVALID_ARG', hint: /pass a multiple of 16384 bytes, or final: true/,
      run: () => rawSealChunks(KEY, NONCE, 0, PLAIN.subarray(0, 100), { final: false }) });
    await check({ name: '', code: 'ERR_TRUNCATED', hint: /pass whole records/,
      run: () => rawOpenChunks(KEY, NONCE, 0, new Uint8Array(100), { final: false }) });
  });

  it.each([['-1', -1], ['1.5', 1.5], ['NaN', NaN], ["'0'", '0'], ['2^53', 2 ** 53]] as const)(
    'firstIndex %s -> ERR_INVALID_ARG', async (_l, v) => {
      await check({ name: '', code: 'ERR_INVALID_ARG', hint: /firstIndex must be an integer in 0\.\./,
        run: () => rawSealChunks(KEY, NONCE, v as number, PLAIN) });
    });

  it('the native kernels refuse a counter at 2^38 themselves (the C++ re-check)', () => {
    for (const { backend, label } of allCases().filter((c) => c.backend.name === 'native')) {
      const gk = backend.importKey(KEY);
      try {
        expect(() => gk.sealChunks(NONCE, 2 ** 38, new Uint8Array(0), 16384, 1, new Uint8Array(16)), label)
          .toThrow(/chunk index out of range/);
        expect(() => gk.sealChunks(NONCE, LAST, new Uint8Array(0), 16384, 1, new Uint8Array(16)), label).not.toThrow();
      } finally {
        gk.destroy();
      }
    }
  });

  it('the streaming engine: a slot that would reach chunk 2^38 carries ERR_TOO_LARGE and no work', () => {
    const perSlot = 4;
    const i = Math.floor(MAX_CHUNKS / perSlot) - 1; // the last slot that fits whole
    expect(slotShape('seal', i, perSlot * 16384, perSlot * 16384, perSlot).error).toBeNull();
    for (const mode of ['seal', 'open'] as const) {
      const inCap = perSlot * (mode === 'seal' ? 16384 : 16400);
      const s = slotShape(mode, i + 1, 100, inCap, perSlot);
      expect(s.n, mode).toBe(0);
      expect(s.outLen, mode).toBe(0);
      expect((s.error as WeightsealError).code, mode).toBe('ERR_TOO_LARGE');
    }
  });
});

// Handle leak guard for the fake handles above: none are real, but the real ones must be closed.
afterAll(async () => {
  const fh = await fsOpen(sealedPath, 'r');
  await fh.close();
});
