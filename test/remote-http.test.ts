/**
 * Loading over HTTP from a well-behaved range server (test/helpers/range-server.ts): every API
 * that takes a path takes a URL, random access fetches only what it needs, the pipeline keeps
 * at most `connections` requests in flight and stops reading for a slow consumer, and ranks
 * split a model without overlap.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { same } from './helpers/bytes.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_BYTES, SEALED_CHUNK_BYTES } from '../src/cobblestone.js';
import { sealInline } from '../src/format.js';
import { SealedFile, SealedSafetensors, bounce, openFile } from '../src/index.js';
import { safetensorsBytes, type FixtureTensor } from './fixtures/safetensors.js';
import { RangeServer } from './helpers/range-server.js';

const key = new Uint8Array(randomBytes(32));
/** About 1.3 MiB of tensors: many 64 KiB slots, several 16 KiB records per tensor. */
const MODEL: FixtureTensor[] = [
  { name: 'embed', dtype: 'BF16', shape: [256, 512] },
  ...Array.from({ length: 6 }, (_, i) => ({ name: `layers.${i}.w`, dtype: 'F32' as const, shape: [150, 301] })),
  { name: 'layers.norm', dtype: 'F32', shape: [96] },
  { name: 'empty', dtype: 'I64', shape: [0] },
  { name: 'head', dtype: 'BF16', shape: [512, 300] },
];
const { bytes: plain, data } = safetensorsBytes(MODEL, { format: 'pt' });
const sealed = sealInline(key, plain);

let server: RangeServer;
let dir: string;
beforeAll(async () => {
  server = await RangeServer.start();
  server.set('/m/model.safetensors', sealed);
  server.set('/m/plain.safetensors', plain);
  dir = await mkdtemp(join(tmpdir(), 'weightseal-remote-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  server.fault = null;
});

/** Requests made while `fn` ran. */
async function counting<T>(fn: () => Promise<T>): Promise<{ value: T; requests: number }> {
  const before = server.log.length;
  const value = await fn();
  return { value, requests: server.log.length - before };
}

describe('SealedFile over HTTP', () => {
  it('reads any range of a sealed object and counts what it fetched', async () => {
    const f = await SealedFile.open(server.url('/m/model.safetensors'), key);
    try {
      expect(f.size).toBe(plain.length);
      expect(f.path).toBe(server.url('/m/model.safetensors'));
      for (const [pos, len] of [[0, 10], [CHUNK_BYTES - 3, 9], [100_000, 1_000_000], [plain.length - 5, 5]] as const) {
        expect(same(await f.read(pos, len), plain.subarray(pos, pos + len))).toBe(true);
      }
      const s = f.stats();
      expect(s.bytesFetched).toBeGreaterThan(1_000_000);
      expect(s.requests).toBeGreaterThanOrEqual(3);
    } finally {
      await f.close();
    }
  });
});

describe('SealedSafetensors over HTTP', () => {
  it('tensors() costs at most 3 requests and read(name) fetches only that tensor\'s records', async () => {
    const { value: m, requests } = await counting(() => SealedSafetensors.open(server.url('/m/model.safetensors'), key));
    try {
      expect(requests).toBeLessThanOrEqual(3);
      expect(m.tensors().map((t) => t.name)).toEqual(MODEL.map((t) => t.name));
      const t = m.tensor('layers.3.w');
      const before = m.stats().bytesFetched;
      const got = await m.read('layers.3.w');
      expect(same(got, data.get('layers.3.w')!)).toBe(true);
      const fetched = m.stats().bytesFetched - before;
      // The records the tensor touches: at most one partial record at each end.
      const records = Math.ceil(t.byteLength / CHUNK_BYTES) + 1;
      expect(fetched).toBeGreaterThanOrEqual(t.byteLength);
      expect(fetched).toBeLessThanOrEqual(records * SEALED_CHUNK_BYTES);
    } finally {
      await m.close();
    }
    expect(await server.settled()).toBe(0);
  });

  it('opens plaintext safetensors by URL with key null', async () => {
    const m = await SealedSafetensors.open(server.url('/m/plain.safetensors'), null);
    try {
      expect(same(await m.read('head'), data.get('head')!)).toBe(true);
    } finally {
      await m.close();
    }
  });

  it('streams the whole model through the pipeline, every byte fetched about once', async () => {
    const m = await SealedSafetensors.open(server.url('/m/model.safetensors'), key, { threads: 1, connections: 4 });
    try {
      const names: string[] = [];
      for await (const t of m.stream()) {
        expect(same(t.data, data.get(t.name)!)).toBe(true);
        names.push(t.name);
      }
      expect(names).toEqual(MODEL.map((t) => t.name));
      expect(m.stats().bytesFetched).toBeLessThan(sealed.length * 1.1);
    } finally {
      await m.close();
    }
  });

  it('a sharded index URL resolves its shards relative to itself', async () => {
    const a = safetensorsBytes(MODEL.slice(0, 4), {}, 2);
    const b = safetensorsBytes(MODEL.slice(4), {}, 3);
    server.set('/shards/model-00001-of-00002.safetensors', sealInline(key, a.bytes));
    server.set('/shards/model-00002-of-00002.safetensors', sealInline(key, b.bytes));
    const weightMap: Record<string, string> = {};
    for (const t of MODEL.slice(0, 4)) weightMap[t.name] = 'model-00001-of-00002.safetensors';
    for (const t of MODEL.slice(4)) weightMap[t.name] = 'model-00002-of-00002.safetensors';
    // With a key the index is sealed too (never sniffed: a salt can start with '{').
    const indexJson = new TextEncoder().encode(JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }));
    server.set('/shards/model.safetensors.index.json', sealInline(key, indexJson));
    server.set('/shards/plain.safetensors.index.json', indexJson);
    await expect(SealedSafetensors.open(server.url('/shards/plain.safetensors.index.json'), key))
      .rejects.toMatchObject({ code: 'ERR_WRONG_KEY_OR_CONTEXT' });
    const plain = await SealedSafetensors.open(server.url('/shards/plain.safetensors.index.json'), key,
      { plaintextIndex: true });
    expect(plain.tensors().length).toBe(MODEL.length);
    await plain.close();
    const m = await SealedSafetensors.open(server.url('/shards/model.safetensors.index.json', '?sig=abc'), key);
    try {
      expect(m.tensors().length).toBe(MODEL.length);
      expect(same(await m.read('layers.5.w'), b.data.get('layers.5.w')!)).toBe(true);
      expect(same(await m.read('embed'), a.data.get('embed')!)).toBe(true);
    } finally {
      await m.close();
    }
    // The index's query string (a signature) is not sent to the shards.
    expect(server.log.filter((r) => r.path.includes('model-0000')).every((r) => r.query === '')).toBe(true);
  });

  it('refuses shard names that leave the index\'s directory', async () => {
    server.set('/bad/model.safetensors.index.json',
      new TextEncoder().encode(JSON.stringify({ weight_map: { embed: '../m/model.safetensors' } })));
    await expect(SealedSafetensors.open(server.url('/bad/model.safetensors.index.json'), key, { plaintextIndex: true }))
      .rejects.toMatchObject({ code: 'ERR_BAD_SAFETENSORS' });
  });

  it('stream({ rank, worldSize }) gives disjoint, balanced shares that cover the model', async () => {
    const worldSize = 3;
    const seen = new Map<string, number>();
    const fetched: number[] = [];
    const bytes: number[] = [];
    for (let rank = 0; rank < worldSize; rank++) {
      const m = await SealedSafetensors.open(server.url('/m/model.safetensors'), key, { threads: 1 });
      try {
        const base = m.stats().bytesFetched;
        let n = 0;
        for await (const t of m.stream({ rank, worldSize })) {
          expect(seen.has(t.name)).toBe(false);
          seen.set(t.name, rank);
          expect(same(t.data, data.get(t.name)!)).toBe(true);
          n += t.byteLength;
        }
        bytes.push(n);
        fetched.push(m.stats().bytesFetched - base);
      } finally {
        await m.close();
      }
    }
    expect([...seen.keys()].sort()).toEqual(MODEL.map((t) => t.name).sort());
    const total = bytes.reduce((a, b) => a + b, 0);
    const largest = Math.max(...MODEL.map((t) => t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'BF16' ? 2 : t.dtype === 'F32' ? 4 : 8)));
    for (const b of bytes) expect(Math.abs(b - total / worldSize)).toBeLessThanOrEqual(largest);
    // Together the ranks fetch every byte about once (edge records of each share overlap).
    const all = fetched.reduce((a, b) => a + b, 0);
    expect(all).toBeLessThan(sealed.length * 1.1);
  });
});

describe('the pipeline over HTTP', () => {
  it('bounce(url) delivers verified plaintext in order with at most `connections` requests at once', async () => {
    server.delayMs = 20;
    for (const connections of [1, 4]) {
      server.maxActive = 0;
      const out = new Uint8Array(plain.length);
      let next = 0;
      const r = await bounce(server.url('/m/model.safetensors'), key, {
        mode: 'open', threads: 2, slotBytes: 64 * 1024, connections,
        onSlot(view, offset) {
          expect(offset).toBe(next);
          out.set(view, offset);
          next += view.length;
        },
      });
      expect(r.bytesOut).toBe(plain.length);
      expect(same(out, plain)).toBe(true);
      expect(server.maxActive).toBeLessThanOrEqual(connections);
      if (connections > 1) expect(server.maxActive).toBeGreaterThan(1);
    }
    server.delayMs = 0;
    expect(await server.settled()).toBe(0);
  });

  it('a slow consumer stops the reads: bytes in flight stay about connections x slot', async () => {
    const slotBytes = 64 * 1024;
    const connections = 2;
    const before = server.bytesSent;
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let slots = 0;
    let sentWhilePaused = 0;
    const run = bounce(server.url('/m/model.safetensors'), key, {
      mode: 'open', threads: 1, slotBytes, connections,
      async onSlot() {
        if (slots++ === 0) {
          await new Promise((r) => setTimeout(r, 300));
          sentWhilePaused = server.bytesSent - before;
          await gate;
        }
      },
    });
    await new Promise((r) => setTimeout(r, 400));
    release();
    await run;
    // The ring has connections + 2 slots; nothing beyond them is read while onSlot waits.
    expect(sentWhilePaused).toBeLessThanOrEqual((connections + 3) * (slotBytes + 4 * 16) + 64 * 1024);
    expect(sentWhilePaused).toBeLessThan(sealed.length / 2);
  });

  it('openFile(url, localDst) writes the verified plaintext', async () => {
    const dst = join(dir, 'opened.safetensors');
    const r = await openFile(server.url('/m/model.safetensors'), dst, key, { threads: 1, connections: 3 });
    expect(r.bytesOut).toBe(plain.length);
    expect(same(await readFile(dst), plain)).toBe(true);
  });
});
