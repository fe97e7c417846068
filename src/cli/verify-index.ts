/**
 * `weightseal verify model.safetensors.index.json`: a sharded checkpoint authenticated as a
 * whole. The index (sealed under the same key and context unless --plaintext-index), each
 * shard's every chunk, and that each shard holds exactly the tensors weight_map puts there,
 * so a shard swapped for another of different tensors fails too. The index may be a URL
 * (http(s)://, s3://): its shards resolve relative to it (src/remote/shards.ts) and each is
 * read in parallel ranges like any URL input.
 */
import { isRemoteUrl, remoteContext } from '../remote/open.js';
import { openRemoteIndex, shardAccessError } from '../remote/shards.js';
import { openIndex, type ShardIndex } from '../safetensors/sharded.js';
import { SealedSafetensors } from '../safetensors/index.js';
import type { Key, SourceOptions } from '../safetensors/source.js';
import { shown, transformFile } from './files.js';

export interface IndexVerifyResult {
  input: string;
  shards: { path: string; bytesIn: number; bytesOut: number }[];
  bytesIn: number;
  bytesOut: number;
  seconds: number;
  gbps: number;
}

/** The index, local or by URL (its own connections, closed once it is read). */
async function indexOf(path: string, key: Key, opts: SourceOptions & { plaintextIndex: boolean }): Promise<ShardIndex> {
  if (!isRemoteUrl(path)) return openIndex(path, key, opts);
  const ctx = remoteContext(opts);
  try {
    return await openRemoteIndex(path, key, opts, ctx);
  } finally {
    await ctx.close();
  }
}

export async function verifyIndex(path: string, key: Key, opts: SourceOptions & { plaintextIndex: boolean },
  ui: { progress: boolean }): Promise<IndexVerifyResult> {
  const t0 = performance.now();
  const index = await indexOf(path, key, opts);
  // Opening checks weight_map against every shard's header (and authenticates each header).
  const model = await SealedSafetensors.open(path, key, opts);
  await model.close();
  const shards: IndexVerifyResult['shards'] = [];
  const { suite, context, backend, threads, headers, connections, retry, s3 } = opts;
  for (const s of index.shards) {
    const r = await transformFile('open', s.path, null, key,
      { suite, context, backend, threads, headers, connections, retry, s3, progress: ui.progress })
      .catch((e: unknown) => { throw shardAccessError(e, path); });
    shards.push({ path: shown(s.path), bytesIn: r.bytesIn, bytesOut: r.bytesOut });
  }
  const seconds = (performance.now() - t0) / 1000;
  const bytesIn = shards.reduce((n, s) => n + s.bytesIn, 0);
  const bytesOut = shards.reduce((n, s) => n + s.bytesOut, 0);
  return { input: shown(path), shards, bytesIn, bytesOut, seconds, gbps: bytesIn / seconds / 1e9 };
}
