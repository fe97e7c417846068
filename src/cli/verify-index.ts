/**
 * `weightseal verify model.safetensors.index.json`: a sharded checkpoint authenticated as a
 * whole. The index (sealed under the same key and context unless --plaintext-index), each
 * shard's every chunk, and that each shard holds exactly the tensors weight_map puts there,
 * so a shard swapped for another of different tensors fails too.
 */
import { openIndex } from '../safetensors/sharded.js';
import { SealedSafetensors } from '../safetensors/index.js';
import type { Key, SourceOptions } from '../safetensors/source.js';
import { transformFile } from './files.js';

export interface IndexVerifyResult {
  input: string;
  shards: { path: string; bytesIn: number; bytesOut: number }[];
  bytesIn: number;
  bytesOut: number;
  seconds: number;
  gbps: number;
}

export async function verifyIndex(path: string, key: Key, opts: SourceOptions & { plaintextIndex: boolean },
  ui: { progress: boolean }): Promise<IndexVerifyResult> {
  const t0 = performance.now();
  const index = await openIndex(path, key, opts);
  // Opening checks weight_map against every shard's header (and authenticates each header).
  const model = await SealedSafetensors.open(path, key, opts);
  await model.close();
  const shards: IndexVerifyResult['shards'] = [];
  for (const s of index.shards) {
    const { suite, context, backend, threads } = opts;
    const r = await transformFile('open', s.path, null, key, { suite, context, backend, threads, progress: ui.progress });
    shards.push({ path: s.path, bytesIn: r.bytesIn, bytesOut: r.bytesOut });
  }
  const seconds = (performance.now() - t0) / 1000;
  const bytesIn = shards.reduce((n, s) => n + s.bytesIn, 0);
  const bytesOut = shards.reduce((n, s) => n + s.bytesOut, 0);
  return { input: path, shards, bytesIn, bytesOut, seconds, gbps: bytesIn / seconds / 1e9 };
}
