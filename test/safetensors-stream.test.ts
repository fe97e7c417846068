/**
 * SealedSafetensors.stream() of a sealed file decrypts runs of whole chunks straight into each
 * tensor's memory (pipeline/pieces.ts, safetensors/tensor-sink.ts) and copies only the chunks
 * that span a boundary: every tensor must still come out whole, in its own buffer, in order,
 * on every executor, with a subset, after a failure and after an early stop.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonStatus } from '../src/backend/addon.js';
import { CHUNK_BYTES, HEADER_BYTES, SEALED_CHUNK_BYTES } from '../src/cobblestone.js';
import { sealInline } from '../src/format.js';
import { freshOutput, outputCacheStats, setOutputCacheLimit } from '../src/output-memory.js';
import { cutSlot } from '../src/pipeline/pieces.js';
import type { Dtype, TensorInfo } from '../src/safetensors/header.js';
import { SealedSafetensors } from '../src/safetensors/index.js';
import { TensorSink } from '../src/safetensors/tensor-sink.js';
import { safetensorsBytes, writeBytes } from './fixtures/safetensors.js';

const key = new Uint8Array(randomBytes(32));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-st-stream-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Odd sizes around chunk and slot boundaries: empty, one byte, a chunk +-1, several slots. */
const SIZES = [1, 0, 3 * CHUNK_BYTES - 1, 5, 5 * 1024 * 1024 + 7, 2, CHUNK_BYTES, CHUNK_BYTES + 1, 100_000, 0,
  700_001, 4 * 1024 * 1024, 3, 1_500_000, 1];
const MODEL = SIZES.map((n, i) => ({ name: `t${i}`, dtype: 'U8' as Dtype, shape: [n] }));
const model = safetensorsBytes(MODEL, undefined, 7);
const sealed = sealInline(key, model.bytes);
const hasAddon = addonStatus().addon !== null;

async function sealedFile(bytes: Uint8Array): Promise<string> {
  return writeBytes(join(dir, `m${Math.random().toString(36).slice(2)}.safetensors`), bytes);
}

function own(data: Uint8Array): boolean {
  return data.byteOffset === 0 && data.buffer.byteLength === data.length;
}

describe('stream() of a sealed file, in place', () => {
  const runs: [string, { threads?: number; backend?: 'noble' }][] = [['1 thread', { threads: 1 }], ['2 threads', { threads: 2 }]];
  if (hasAddon) runs.push(['noble (through the ring)', { threads: 2, backend: 'noble' }]);

  it.each(runs)('every tensor whole, in its own buffer, in order: %s', async (_, opts) => {
    const m = await SealedSafetensors.open(await sealedFile(sealed), key, opts);
    const seen: string[] = [];
    for await (const t of m.stream()) {
      seen.push(t.name);
      expect(Buffer.from(t.data).equals(model.data.get(t.name)!), t.name).toBe(true);
      expect(own(t.data), t.name).toBe(true);
    }
    expect(seen).toEqual(MODEL.map((t) => t.name));
    await m.close();
  });

  it('a subset (most of the bytes) skips the rest, wherever it lies', async () => {
    const names = ['t0', 't4', 't6', 't11', 't13', 't14'];
    const m = await SealedSafetensors.open(await sealedFile(sealed), key, { threads: 2 });
    const seen: string[] = [];
    for await (const t of m.stream(names)) {
      seen.push(t.name);
      expect(Buffer.from(t.data).equals(model.data.get(t.name)!), t.name).toBe(true);
    }
    expect(seen).toEqual(names);
    await m.close();
  });

  it('a consumer that stops early stops the pipeline; the model streams again', async () => {
    const m = await SealedSafetensors.open(await sealedFile(sealed), key, { threads: 2 });
    for await (const t of m.stream()) if (t.name === 't4') break;
    let n = 0;
    for await (const t of m.stream()) n += t.data.length;
    expect(n).toBe(SIZES.reduce((a, b) => a + b, 0));
    await m.close();
  });

  it.each([1, 2])('a bad chunk inside a tensor: the tensors before it, then ERR_AUTH_FAILED (threads %i)', async (threads) => {
    const m0 = await SealedSafetensors.open(await sealedFile(sealed), key);
    const victim = m0.tensor('t11'); // 4 MiB, several runs
    await m0.close();
    const bad = Uint8Array.from(sealed);
    const p = victim.byteOffset + 2 * 1024 * 1024;
    bad[HEADER_BYTES + Math.floor(p / CHUNK_BYTES) * SEALED_CHUNK_BYTES + (p % CHUNK_BYTES)]! ^= 1;
    const m = await SealedSafetensors.open(await sealedFile(bad), key, { threads });
    const seen: string[] = [];
    await expect((async () => {
      for await (const t of m.stream()) {
        expect(Buffer.from(t.data).equals(model.data.get(t.name)!), t.name).toBe(true);
        seen.push(t.name);
      }
    })()).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    expect(seen).toEqual(MODEL.slice(0, 11).map((t) => t.name));
    await m.close();
  });
});

describe('cutting a slot by tensor', () => {
  const tensor = (name: string, byteOffset: number, byteLength: number): TensorInfo => ({ name, dtype: 'U8',
    shape: [byteLength], dataOffsets: [byteOffset, byteOffset + byteLength], byteOffset, byteLength, file: 'm' });
  const cut = (tensors: TensorInfo[], outLen: number) => {
    const ring = new Uint8Array(outLen);
    const pieces = cutSlot(new TensorSink(tensors, async () => {}), 0, Math.ceil(outLen / CHUNK_BYTES), outLen, ring);
    for (const p of pieces) expect(p.output.buffer === ring.buffer).toBe(!p.direct);
    return pieces.map((p) => [p.k, p.m, p.direct]);
  };

  it('whole chunks inside a tensor go to it; a chunk across a boundary goes through the ring', () => {
    // [0, 600000), [600000, 600010), [600010, 2000000): chunk 36 spans all three.
    const ts = [tensor('a', 0, 600000), tensor('b', 600000, 10), tensor('c', 600010, 1400000 - 10)];
    expect(cut(ts, 2000000)).toEqual([[0, 36, true], [36, 1, false], [37, 86, true]]);
  });

  it('a run too short for a batch call of its own is copied with its neighbours', () => {
    // Six chunks of a small tensor join the boundary chunk in one ring run.
    const ts = [tensor('a', 0, 100000), tensor('c', 100000, 1900000)];
    expect(cut(ts, 2000000)).toEqual([[0, 7, false], [7, 116, true]]);
  });
});

describe.skipIf(typeof addonStatus().addon?.outputBuffer !== 'function')('stream() and the output cache', () => {
  function gc(): void {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  }

  it('a failed stream leaves no plaintext of the tensor it was filling in recycled memory', async () => {
    const limit = setOutputCacheLimit(0)!;
    setOutputCacheLimit(512 * 1024 * 1024);
    try {
      const m0 = await SealedSafetensors.open(await sealedFile(sealed), key);
      const victim = m0.tensor('t11');
      await m0.close();
      const bad = Uint8Array.from(sealed);
      const p = victim.byteOffset + 3 * 1024 * 1024;
      bad[HEADER_BYTES + Math.floor(p / CHUNK_BYTES) * SEALED_CHUNK_BYTES + (p % CHUNK_BYTES)]! ^= 1;
      const m = await SealedSafetensors.open(await sealedFile(bad), key, { threads: 2 });
      await expect((async () => { for await (const _ of m.stream()) { /* drop each */ } })())
        .rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
      await m.close();
      for (let i = 0; i < 20 && outputCacheStats()!.liveBytes > 0; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 5));
      }
      const want = model.data.get('t11')!;
      const blocks: Uint8Array[] = [];
      for (let n = outputCacheStats()!.cachedBlocks; n > 0; n--) blocks.push(freshOutput(want.length));
      expect(blocks.length).toBeGreaterThan(0);
      for (const b of blocks) {
        for (let at = 0; at + CHUNK_BYTES <= Math.min(b.length, 3 * 1024 * 1024); at += CHUNK_BYTES) {
          expect(Buffer.from(want.buffer, want.byteOffset, want.length).compare(
            Buffer.from(b.buffer, b.byteOffset, b.length), at, at + CHUNK_BYTES, at, at + CHUNK_BYTES)).not.toBe(0);
        }
      }
    } finally {
      setOutputCacheLimit(limit);
    }
  });
});
