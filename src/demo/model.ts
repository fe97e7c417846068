/**
 * A synthetic safetensors model laid out like a Llama-style decoder: token embedding, per layer
 * q/k/v/o attention projections (grouped-query: k and v a quarter of q), gate/up/down MLP and
 * two RMSNorm weights, then the final norm and lm_head; all bf16. Values are N(0, 0.02) like
 * an initialised checkpoint (norms are 1.0), drawn once into a pool that each tensor reads at
 * its own rotation, so writing gigabytes costs about as much as the disk.
 */
import { createHash } from 'node:crypto';
import { open as fsOpen } from 'node:fs/promises';
import { ioError } from '../errors.js';
import { buildHeader, type Dtype } from '../safetensors/header.js';

export interface LayoutTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** 'norm' tensors hold 1.0, the others small random weights. */
  kind: 'weight' | 'norm';
}

export interface ModelConfig {
  hidden: number;
  intermediate: number;
  layers: number;
  vocab: number;
}

const BF16 = 2;

function layerBytes(d: number, ffn: number): number {
  return BF16 * (2 * d * d + 2 * d * (d / 4) + 3 * d * ffn + 2 * d);
}

/**
 * The widest config with at least 16 layers whose embeddings take at most a quarter of
 * `bytes` (2 GiB: hidden 2048 x 21 layers, like a 1B model; 80 GiB: hidden 8192 x 60).
 */
export function configFor(bytes: number): ModelConfig {
  const widths = [8192, 6144, 5120, 4096, 3072, 2048, 1536, 1024, 768, 512, 256, 128, 64];
  for (const minLayers of [16, 2]) {
    for (const d of widths) {
      const vocab = d >= 1024 ? 32000 : 8 * d;
      const ffn = Math.ceil((8 * d) / 3 / 64) * 64;
      const embed = 2 * BF16 * vocab * d;
      if (embed > bytes / 4) continue;
      const layers = Math.floor((bytes - embed - BF16 * d) / layerBytes(d, ffn));
      if (layers >= minLayers) return { hidden: d, intermediate: ffn, layers, vocab };
    }
  }
  return { hidden: 64, intermediate: 192, layers: 1, vocab: 256 };
}

export function layout(c: ModelConfig): LayoutTensor[] {
  const d = c.hidden;
  const t: LayoutTensor[] = [{ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [c.vocab, d], kind: 'weight' }];
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}`;
    t.push(
      { name: `${p}.input_layernorm.weight`, dtype: 'BF16', shape: [d], kind: 'norm' },
      { name: `${p}.self_attn.q_proj.weight`, dtype: 'BF16', shape: [d, d], kind: 'weight' },
      { name: `${p}.self_attn.k_proj.weight`, dtype: 'BF16', shape: [d / 4, d], kind: 'weight' },
      { name: `${p}.self_attn.v_proj.weight`, dtype: 'BF16', shape: [d / 4, d], kind: 'weight' },
      { name: `${p}.self_attn.o_proj.weight`, dtype: 'BF16', shape: [d, d], kind: 'weight' },
      { name: `${p}.post_attention_layernorm.weight`, dtype: 'BF16', shape: [d], kind: 'norm' },
      { name: `${p}.mlp.gate_proj.weight`, dtype: 'BF16', shape: [c.intermediate, d], kind: 'weight' },
      { name: `${p}.mlp.up_proj.weight`, dtype: 'BF16', shape: [c.intermediate, d], kind: 'weight' },
      { name: `${p}.mlp.down_proj.weight`, dtype: 'BF16', shape: [d, c.intermediate], kind: 'weight' },
    );
  }
  t.push(
    { name: 'model.norm.weight', dtype: 'BF16', shape: [d], kind: 'norm' },
    { name: 'lm_head.weight', dtype: 'BF16', shape: [c.vocab, d], kind: 'weight' },
  );
  return t;
}

/** bf16 of a float32: the top 16 bits, rounded to nearest even. */
function bf16(x: number, f32: Float32Array, u32: Uint32Array): number {
  f32[0] = x;
  const b = u32[0]!;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

const POOL_BYTES = 16 * 1024 * 1024;

/** A pool of N(0, 0.02) bf16 values from a seeded xorshift generator (Box-Muller). */
export function weightPool(seed = 0x5eed): Uint8Array {
  const out = new Uint16Array(POOL_BYTES / 2);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  let s = seed >>> 0 || 1;
  const rand = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(rand())) * 0.02;
    const a = 2 * Math.PI * rand();
    out[i] = bf16(r * Math.cos(a), f32, u32);
    if (i + 1 < out.length) out[i + 1] = bf16(r * Math.sin(a), f32, u32);
  }
  return new Uint8Array(out.buffer);
}

export interface GeneratedModel {
  path: string;
  bytes: number;
  sha256: string;
  config: ModelConfig;
  tensors: number;
  seconds: number;
}

/**
 * Writes the model to `path`, hashing it on the way (SHA-256 of the whole file), in 8 MiB
 * writes straight from the pool (no per-write allocation). `onProgress` gets bytes written.
 */
export async function generateModel(path: string, bytes: number,
  onProgress: (done: number, total: number) => void = () => {}): Promise<GeneratedModel> {
  const t0 = performance.now();
  const config = configFor(bytes);
  const tensors = layout(config);
  const { header, dataBytes } = buildHeader(tensors, {
    format: 'pt', generator: 'weightseal demo', config: JSON.stringify(config),
  });
  const pool = weightPool();
  const ones = new Uint8Array(64 * 1024);
  for (let i = 0; i < ones.length; i += 2) { ones[i] = 0x80; ones[i + 1] = 0x3f; } // bf16 1.0 = 0x3f80
  const total = header.length + dataBytes;
  const hash = createHash('sha256');
  let fh;
  try {
    fh = await fsOpen(path, 'wx', 0o644);
  } catch (e) {
    throw ioError('create', path, e);
  }
  let at = 0;
  const write = async (buf: Uint8Array) => {
    hash.update(buf);
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await fh.write(buf, done, buf.length - done, at + done);
      done += bytesWritten;
    }
    at += buf.length;
    onProgress(at, total);
  };
  try {
    await write(header);
    const step = 8 * 1024 * 1024;
    for (const [i, t] of tensors.entries()) {
      let left = t.shape.reduce((a, b) => a * b, 1) * BF16;
      const src = t.kind === 'norm' ? ones : pool;
      // Each weight starts at its own even offset in the pool, so tensors differ.
      let pos = t.kind === 'norm' ? 0 : ((i * 2654435761) % (POOL_BYTES / 2)) * 2;
      while (left > 0) {
        const n = Math.min(left, step, src.length - pos);
        await write(src.subarray(pos, pos + n));
        left -= n;
        pos = (pos + n) % src.length;
      }
    }
    await fh.sync();
  } catch (e) {
    throw ioError('write', path, e);
  } finally {
    await fh.close();
  }
  return {
    path, bytes: total, sha256: hash.digest('hex'), config, tensors: tensors.length,
    seconds: (performance.now() - t0) / 1000,
  };
}
