import { randomBytes } from 'node:crypto';
import { mkdtemp, open as fsOpen, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealInline } from '../src/format.js';
import { SealedSafetensors } from '../src/safetensors/index.js';
import type { RandomAccess } from '../src/safetensors/source.js';
import { SMALL_MODEL, rawSafetensors, safetensorsBytes, writeBytes } from './fixtures/safetensors.js';

let dir: string;
const key = new Uint8Array(randomBytes(32));
const { bytes: modelBytes, data: modelData } = safetensorsBytes(SMALL_MODEL, { format: 'pt', note: 'test' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
async function fileOf(bytes: Uint8Array, sealed: boolean, context?: string): Promise<string> {
  const path = join(dir, `f${counter++}.safetensors`);
  return writeBytes(path, sealed ? sealInline(key, bytes, context === undefined ? {} : { context }) : bytes);
}

/** An in-memory source that records every read, to prove nothing past the header is touched. */
function recordingSource(bytes: Uint8Array): RandomAccess & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    size: bytes.length,
    reads,
    async read(position, length) {
      reads.push([position, length]);
      return bytes.slice(position, position + length);
    },
    async readInto(buf, position) {
      reads.push([position, buf.length]);
      buf.set(bytes.subarray(position, position + buf.length));
      return buf.length;
    },
    async close() {},
  };
}

const t = (dtype: string, shape: number[], offsets: [number, number]) => ({ dtype, shape, data_offsets: offsets });
const h = (obj: unknown) => JSON.stringify(obj);

/** Each malformed file, named for the rule it breaks. */
const MALFORMED: [string, Uint8Array, RegExp][] = [
  ['shorter than the length prefix', new Uint8Array(5), /too short for the 8-byte header length/],
  ['header length over 100 MB', rawSafetensors('{}', 0, 100_000_001n), /exceeds the 100000000-byte limit/],
  ['header length past the end of the file', rawSafetensors('{}', 0, 50n), /runs past the end/],
  ['header length of 2^64-1', rawSafetensors('{}', 0, 2n ** 64n - 1n), /exceeds/],
  ['header not UTF-8', (() => { const b = rawSafetensors('{"a":1}', 0); b[10] = 0xff; return b; })(), /not valid UTF-8/],
  ['header not JSON', rawSafetensors('{"a": ', 0), /not valid JSON/],
  ['header a JSON array', rawSafetensors('[1, 2]', 0), /does not start with a JSON object/],
  ['tensor entry not an object', rawSafetensors(h({ w: 5 }), 0), /must be an object/],
  ['unknown dtype', rawSafetensors(h({ w: t('F128', [1], [0, 16]) }), 16), /unknown dtype "F128"/],
  ['dtype missing', rawSafetensors(h({ w: { shape: [1], data_offsets: [0, 4] } }), 4), /unknown dtype undefined/],
  ['negative dimension', rawSafetensors(h({ w: t('F32', [-1], [0, 4]) }), 4), /non-negative integers/],
  ['fractional dimension', rawSafetensors(h({ w: t('F32', [1.5], [0, 4]) }), 4), /non-negative integers/],
  ['data_offsets of three numbers', rawSafetensors(h({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }), 4), /\[begin, end\]/],
  ['end before begin', rawSafetensors(h({ w: t('U8', [0], [4, 0]) }), 4), /before begin/],
  ['offsets past the data', rawSafetensors(h({ w: t('F32', [2], [0, 8]) }), 4), /run past the 4-byte data buffer/],
  ['size not shape x dtype', rawSafetensors(h({ w: t('F32', [3], [0, 8]) }), 8), /needs 12 bytes/],
  ['sub-byte dtype not filling bytes', rawSafetensors(h({ w: t('F4', [3], [0, 2]) }), 2), /not whole bytes/],
  ['overlapping tensors', rawSafetensors(h({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }), 12), /overlaps "a"/],
  ['hole between tensors', rawSafetensors(h({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [8, 12]) }), 12), /hole of 4 bytes/],
  ['hole at the start', rawSafetensors(h({ a: t('F32', [1], [4, 8]) }), 8), /hole of 4 bytes/],
  ['bytes after the last tensor', rawSafetensors(h({ a: t('F32', [1], [0, 4]) }), 9), /5 bytes after the last tensor/],
  ['__metadata__ an array', rawSafetensors(h({ __metadata__: ['x'] }), 0), /__metadata__ must be an object/],
  ['__metadata__ value a number', rawSafetensors(h({ __metadata__: { n: 1 } }), 0), /__metadata__.n must be a string/],
];

describe('header validation', () => {
  it.each(MALFORMED)('rejects %s with ERR_BAD_SAFETENSORS', async (_name, bytes, message) => {
    await expect(SealedSafetensors.open(await fileOf(bytes, false), null))
      .rejects.toMatchObject({ code: 'ERR_BAD_SAFETENSORS', message });
  });

  it.each(MALFORMED.filter((_, i) => i % 3 === 0))('rejects %s inside a sealed file too', async (_n, bytes, message) => {
    await expect(SealedSafetensors.open(await fileOf(bytes, true), key))
      .rejects.toMatchObject({ code: 'ERR_BAD_SAFETENSORS', message });
  });

  it.each(MALFORMED)('reads nothing past the header: %s', async (_name, bytes) => {
    const src = recordingSource(bytes);
    await expect(SealedSafetensors.fromSource(src)).rejects.toMatchObject({ code: 'ERR_BAD_SAFETENSORS' });
    const n = bytes.length >= 8 ? Number(new DataView(bytes.buffer).getBigUint64(0, true)) : 0;
    for (const [pos, len] of src.reads) expect(pos + len).toBeLessThanOrEqual(Math.min(8 + n, bytes.length));
  });

  it('accepts an empty model, a padded header and unknown tensor fields', async () => {
    const m = await SealedSafetensors.open(await fileOf(rawSafetensors('{}      ', 0), false), null);
    expect(m.tensors()).toEqual([]);
    const extra = rawSafetensors(h({ a: { ...t('U8', [2], [0, 2]), extra: true } }) + '  ', 2);
    const m2 = await SealedSafetensors.open(await fileOf(extra, false), null);
    expect(m2.tensors().map((x) => x.name)).toEqual(['a']);
    await m.close();
    await m2.close();
  });

  it('reads only the header when opening a valid file', async () => {
    const src = recordingSource(modelBytes);
    const m = await SealedSafetensors.fromSource(src);
    const dataStart = m.tensors()[0]!.byteOffset;
    for (const [pos, len] of src.reads) expect(pos + len).toBeLessThanOrEqual(dataStart);
  });
});

describe.each([
  ['plaintext', false],
  ['sealed', true],
] as const)('%s model', (_label, sealed) => {
  let path: string;
  let m: SealedSafetensors;
  beforeAll(async () => {
    path = await fileOf(modelBytes, sealed, sealed ? 'model-v1' : undefined);
    m = await SealedSafetensors.open(path, sealed ? key : null, sealed ? { context: 'model-v1' } : {});
  });
  afterAll(() => m.close());

  it('lists tensors in file order with dtype, shape and byte range', () => {
    const list = m.tensors();
    expect(list.map((x) => x.name)).toEqual(SMALL_MODEL.map((x) => x.name));
    let at = list[0]!.byteOffset;
    for (const [i, info] of list.entries()) {
      expect(info.dtype).toBe(SMALL_MODEL[i]!.dtype);
      expect(info.shape).toEqual(SMALL_MODEL[i]!.shape);
      expect(info.byteOffset).toBe(at);
      expect(info.byteLength).toBe(modelData.get(info.name)!.length);
      at += info.byteLength;
    }
    expect(at).toBe(modelBytes.length);
    expect(m.metadata).toEqual({ format: 'pt', note: 'test' });
  });

  it('read(name) and readInto(name, buffer) return each tensor', async () => {
    for (const [name, want] of modelData) {
      expect(Buffer.from(await m.read(name)).equals(want)).toBe(true);
      const buf = new Uint8Array(want.length + 7).fill(0xee);
      const view = await m.readInto(name, buf);
      expect(view.length).toBe(want.length);
      expect(Buffer.from(view).equals(want)).toBe(true);
      expect(buf[want.length]).toBe(0xee);
    }
  });

  it('readInto takes a DataView, and goes by the bytes a view holds, not its own length property', async () => {
    const [name, want] = [...modelData].find(([, d]) => d.length > 0)!;
    const dv = new DataView(new ArrayBuffer(want.length + 3), 3, want.length);
    expect(Buffer.from(await m.readInto(name, dv as unknown as Uint8Array)).equals(want)).toBe(true);
    const small = new Uint8Array(1);
    Object.defineProperty(small, 'length', { get: () => want.length });
    await expect(m.readInto(name, small)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('reads concurrently', async () => {
    const names = [...modelData.keys()];
    const got = await Promise.all(names.map((n) => m.read(n)));
    got.forEach((g, i) => expect(Buffer.from(g).equals(modelData.get(names[i]!)!)).toBe(true));
  });

  it('stream() yields every tensor in file order', async () => {
    const seen: string[] = [];
    for await (const tensor of m.stream()) {
      seen.push(tensor.name);
      expect(Buffer.from(tensor.data).equals(modelData.get(tensor.name)!)).toBe(true);
    }
    expect(seen).toEqual(SMALL_MODEL.map((x) => x.name));
  });

  it('stream(names) yields the named tensors in file order, and can stop early', async () => {
    const seen: string[] = [];
    for await (const tensor of m.stream(['lm_head.weight', 'model.layers.0.mask'])) {
      seen.push(tensor.name);
      expect(Buffer.from(tensor.data).equals(modelData.get(tensor.name)!)).toBe(true);
    }
    expect(seen).toEqual(['model.layers.0.mask', 'lm_head.weight']);
    for await (const tensor of m.stream()) {
      expect(tensor.name).toBe(SMALL_MODEL[0]!.name);
      break;
    }
    // Still usable after an early stop.
    expect(Buffer.from(await m.read('lm_head.weight')).equals(modelData.get('lm_head.weight')!)).toBe(true);
  });

  it('rejects unknown names and small buffers with ERR_INVALID_ARG', async () => {
    await expect(m.read('nope')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: /no tensor named "nope"/ });
    await expect(m.readInto('lm_head.weight', new Uint8Array(3))).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(m.stream(['nope']).next()).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});

describe('sealed specifics', () => {
  it.each([1, 2])('streams a multi-slot model through the pipeline, threads %i', async (threads) => {
    const big = safetensorsBytes([
      { name: 'a', dtype: 'F32', shape: [3, 1000] },
      { name: 'b', dtype: 'BF16', shape: [1536, 2049] }, // ~6 MiB: spans two 4 MiB slots
      { name: 'c', dtype: 'U8', shape: [0] },
      { name: 'd', dtype: 'F16', shape: [1024, 1024] },
    ], undefined, 3);
    const m = await SealedSafetensors.open(await fileOf(big.bytes, true), key, { threads });
    const seen: string[] = [];
    for await (const x of m.stream()) {
      seen.push(x.name);
      expect(Buffer.from(x.data).equals(big.data.get(x.name)!)).toBe(true);
    }
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    // A consumer that stops inside the first slot stops the pipeline too.
    for await (const x of m.stream()) { expect(x.name).toBe('a'); break; }
    await m.close();
  });

  it('opens from a FileHandle and leaves it open', async () => {
    const path = await fileOf(modelBytes, true);
    const fh = await fsOpen(path, 'r');
    const m = await SealedSafetensors.open(fh, key);
    expect(Buffer.from(await m.read('lm_head.weight')).equals(modelData.get('lm_head.weight')!)).toBe(true);
    await m.close();
    expect((await fh.stat()).size).toBeGreaterThan(0);
    await fh.close();
  });

  it('a wrong key or context fails before any header byte is trusted', async () => {
    const path = await fileOf(modelBytes, true, 'ctx');
    await expect(SealedSafetensors.open(path, new Uint8Array(32), { context: 'ctx' }))
      .rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
    await expect(SealedSafetensors.open(path, key, { context: 'other' }))
      .rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
  });

  it('a flipped bit in a tensor fails that tensor only', async () => {
    const sealedBytes = sealInline(key, modelBytes);
    const m0 = await SealedSafetensors.open(await writeBytes(join(dir, 'ok.st'), sealedBytes), key);
    const target = m0.tensor('lm_head.weight');
    await m0.close();
    // Plaintext byte p lives at 56 + floor(p / 16384) * 16400 + p % 16384.
    const p = target.byteOffset + 10;
    const at = 56 + Math.floor(p / 16384) * 16400 + (p % 16384);
    sealedBytes[at]! ^= 1;
    const m = await SealedSafetensors.open(await writeBytes(join(dir, 'bad.st'), sealedBytes), key);
    await expect(m.read('lm_head.weight')).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    expect(Buffer.from(await m.read('model.embed_tokens.weight')).equals(modelData.get('model.embed_tokens.weight')!)).toBe(true);
    await expect((async () => { for await (const _ of m.stream()) { /* drain */ } })())
      .rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    await m.close();
  });

  it('close() makes later calls fail with ERR_CLOSED', async () => {
    const m = await SealedSafetensors.open(await fileOf(modelBytes, true), key);
    await m.close();
    await expect(m.read('lm_head.weight')).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});

describe('sharded checkpoints', () => {
  const shardA = SMALL_MODEL.slice(0, 4);
  const shardB = SMALL_MODEL.slice(4);
  const a = safetensorsBytes(shardA, { format: 'pt' }, 7);
  const b = safetensorsBytes(shardB, { format: 'pt', shard: 'b' }, 8);
  const weightMap = Object.fromEntries([
    ...shardA.map((x) => [x.name, 'model-00001-of-00002.safetensors']),
    ...shardB.map((x) => [x.name, 'model-00002-of-00002.safetensors']),
  ]);
  const index = JSON.stringify({ metadata: { total_size: a.bytes.length + b.bytes.length }, weight_map: weightMap });

  async function checkpoint(sealed: boolean, sealIndex = false, indexText = index): Promise<string> {
    const d = await mkdtemp(join(dir, 'sharded-'));
    await writeBytes(join(d, 'model-00001-of-00002.safetensors'), sealed ? sealInline(key, a.bytes) : a.bytes);
    await writeBytes(join(d, 'model-00002-of-00002.safetensors'), sealed ? sealInline(key, b.bytes) : b.bytes);
    const text = new TextEncoder().encode(indexText);
    await writeFile(join(d, 'model.safetensors.index.json'), sealIndex ? sealInline(key, text) : text);
    return join(d, 'model.safetensors.index.json');
  }

  it.each([
    ['plaintext', false, false],
    ['sealed shards, plaintext index', true, false],
    ['sealed shards and index', true, true],
  ])('opens %s as one model', async (_l, sealed, sealIndex) => {
    // A plaintext index beside sealed shards is read only when the caller says so (never sniffed).
    const m = await SealedSafetensors.open(await checkpoint(sealed, sealIndex), sealed ? key : null,
      sealed && !sealIndex ? { plaintextIndex: true } : {});
    expect(m.tensors().map((x) => x.name)).toEqual(SMALL_MODEL.map((x) => x.name));
    expect(m.tensors()[5]!.file).toMatch(/model-00002-of-00002/);
    expect(m.indexMetadata).toEqual({ total_size: a.bytes.length + b.bytes.length });
    expect(m.metadata).toEqual({ format: 'pt', shard: 'b' });
    const all = new Map([...a.data, ...b.data]);
    for (const [name, want] of all) expect(Buffer.from(await m.read(name)).equals(want)).toBe(true);
    const seen: string[] = [];
    for await (const x of m.stream()) {
      seen.push(x.name);
      expect(Buffer.from(x.data).equals(all.get(x.name)!)).toBe(true);
    }
    expect(seen).toEqual(SMALL_MODEL.map((x) => x.name));
    await m.close();
  });

  it.each([
    ['a tensor missing from its shard', { ...weightMap, ghost: 'model-00001-of-00002.safetensors' }, /puts "ghost" in model-00001/],
    ['a shard tensor not in weight_map', Object.fromEntries(Object.entries(weightMap).slice(1)), /which weight_map does not map to it/],
    ['a shard outside the directory', { ...weightMap, 'lm_head.weight': '../x.safetensors' }, /outside the index's directory/],
    ['an absolute shard path', { ...weightMap, 'lm_head.weight': '/etc/passwd' }, /outside the index's directory/],
  ])('rejects an index with %s', async (_l, map, message) => {
    const path = await checkpoint(false, false, JSON.stringify({ weight_map: map }));
    await expect(SealedSafetensors.open(path, null)).rejects.toMatchObject({ code: 'ERR_BAD_SAFETENSORS', message });
  });

  it('rejects an index without weight_map, and a missing shard as ERR_IO', async () => {
    await expect(SealedSafetensors.open(await checkpoint(false, false, '{"metadata":{}}'), null))
      .rejects.toMatchObject({ code: 'ERR_BAD_SAFETENSORS', message: /no "weight_map"/ });
    const path = await checkpoint(false, false, JSON.stringify({ weight_map: { x: 'missing.safetensors' } }));
    await expect(SealedSafetensors.open(path, null)).rejects.toMatchObject({ code: 'ERR_IO' });
  });
});
