/**
 * Sharded checkpoints: `model.safetensors.index.json` as written by huggingface transformers,
 * `{ "metadata": {...}, "weight_map": { tensor: "model-00001-of-00002.safetensors", ... } }`.
 * With `key: null` the index is plaintext. With a key it is sealed under that key and context,
 * unless the caller passes `plaintextIndex: true`: its bytes are never sniffed, since a sealed
 * index starts with a random salt that can look like `{`, and a plaintext index put in place of
 * a sealed one must not be accepted unauthenticated. Shards are resolved beside the index and
 * may not name a path outside that directory.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { WeightsealError, invalidArg, ioError, isWeightsealError } from '../errors.js';
import { bad, MAX_HEADER_BYTES } from './header.js';
import { openSource, type Key, type SourceOptions } from './source.js';

export interface IndexShard {
  /** The name in weight_map. */
  name: string;
  /** Resolved path. */
  path: string;
  /** Tensors weight_map places in this shard. */
  expected: Set<string>;
}

export interface ShardIndex {
  shards: IndexShard[];
  metadata: Record<string, unknown> | null;
  /** Checks that a shard holds exactly the tensors weight_map says it does. */
  check(shard: IndexShard, names: string[]): void;
}

export interface IndexOptions extends SourceOptions {
  /** With a key, read the index as plaintext (the shards stay sealed). */
  plaintextIndex?: boolean;
}

async function indexText(path: string, key: Key | null, opts: IndexOptions): Promise<string> {
  if (opts.plaintextIndex !== undefined && typeof opts.plaintextIndex !== 'boolean') {
    throw invalidArg(`plaintextIndex must be a boolean, got ${typeof opts.plaintextIndex}`);
  }
  if (key === null || opts.plaintextIndex === true) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (e) {
      throw ioError('read', path, e);
    }
    if (bytes.length > MAX_HEADER_BYTES) throw bad(path, `index of ${bytes.length} bytes exceeds ${MAX_HEADER_BYTES} bytes`);
    return new TextDecoder().decode(bytes);
  }
  const src = await openSource(path, key, opts).catch((e: unknown) => {
    throw isWeightsealError(e, 'ERR_WRONG_KEY_OR_CONTEXT') || isWeightsealError(e, 'ERR_TRUNCATED') ?
      new WeightsealError(e.code, `${e.message}; with a key the index must be sealed too ` +
        '(pass plaintextIndex: true to read a plaintext index)', { path, cause: e.cause }) : e;
  });
  try {
    if (src.size > MAX_HEADER_BYTES) throw bad(path, `index of ${src.size} bytes exceeds ${MAX_HEADER_BYTES} bytes`);
    return new TextDecoder().decode(await src.read(0, src.size));
  } finally {
    await src.close();
  }
}

export async function openIndex(path: string, key: Key | null, opts: IndexOptions): Promise<ShardIndex> {
  const dir = dirname(path);
  return parseIndex(await indexText(path, key, opts), path, (file) => {
    const norm = normalize(file);
    if (isAbsolute(file) || norm.startsWith('..' + sep) || norm === '..' || file.includes('\0')) return null;
    return join(dir, norm);
  });
}

/**
 * weight_map checked and grouped by shard; `resolve` turns a shard name into where to read it,
 * or null when the name points outside the index's directory.
 */
export function parseIndex(text: string, path: string, resolve: (file: string) => string | null): ShardIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    if (e instanceof SyntaxError) throw bad(path, `index is not valid JSON (${e.message})`);
    throw e;
  }
  const weightMap = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw bad(path, 'index has no "weight_map" object');
  }
  const metadata = (raw as { metadata?: unknown }).metadata;
  const byName = new Map<string, IndexShard>();
  for (const [tensor, file] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof file !== 'string' || file.length === 0) {
      throw bad(path, `weight_map["${tensor}"] must be a shard file name`);
    }
    const resolved = byName.get(file)?.path ?? resolve(file);
    if (resolved === null) {
      throw bad(path, `weight_map["${tensor}"] = "${file}" points outside the index's directory`);
    }
    let shard = byName.get(file);
    if (!shard) byName.set(file, shard = { name: file, path: resolved, expected: new Set() });
    shard.expected.add(tensor);
  }
  if (byName.size === 0) throw bad(path, 'weight_map is empty');
  const shards = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    shards,
    metadata: typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ?
      metadata as Record<string, unknown> : null,
    check(shard, names) {
      const have = new Set(names);
      for (const t of shard.expected) {
        if (!have.has(t)) throw bad(path, `weight_map puts "${t}" in ${shard.name}, which has no such tensor`);
      }
      for (const t of names) {
        if (!shard.expected.has(t)) {
          throw bad(path, `${basename(shard.path)} holds "${t}", which weight_map does not map to it`);
        }
      }
    },
  };
}
