/**
 * A sharded checkpoint by URL: `.../model.safetensors.index.json` (sealed under the model's key
 * when a key is given, unless plaintextIndex: true), its shard names resolved relative to the index URL the way a browser
 * resolves a relative link, and never outside the index's directory. The index's query string
 * (a presigned signature) is not carried over: each object is signed for itself.
 */
import { WeightsealError } from '../errors.js';
import { bad, MAX_HEADER_BYTES } from '../safetensors/header.js';
import { parseIndex, type IndexOptions, type ShardIndex } from '../safetensors/sharded.js';
import type { Key } from '../safetensors/source.js';
import { SealedFile } from '../sealed-file.js';
import type { RemoteContext } from './object.js';
import { openRemote } from './open.js';

/** True when the URL's path (not its query) names an index file. */
export function isIndexUrl(url: string | URL): boolean {
  try {
    return new URL(url).pathname.endsWith('.index.json');
  } catch {
    return false;
  }
}

/** The URL of shard `file` beside `index`, or null when the name leaves the index's directory. */
export function resolveShardUrl(index: URL, file: string): string | null {
  if (file.includes('\0') || file.includes('\\') || file.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(file)) return null;
  const segments = file.split('/');
  if (segments.some((s) => s === '..' || s === '.' || s === '')) return null;
  const u = new URL(segments.map(encodeURIComponent).join('/'), index);
  u.search = '';
  u.hash = '';
  const dir = index.pathname.slice(0, index.pathname.lastIndexOf('/') + 1);
  return u.origin === index.origin && u.pathname.startsWith(dir) ? u.href : null;
}

/**
 * A shard refused with 401/403 when the index URL carried a query string: most likely a
 * presigned index, whose signature covers the index object only, so the shard URLs resolved
 * from it (which drop the query) are unsigned. The error then says so and what to do; any
 * other error is returned as it was.
 */
export function shardAccessError(e: unknown, index: string | URL): unknown {
  if (!(e instanceof WeightsealError) || e.code !== 'ERR_IO' || (e.status !== 401 && e.status !== 403)) return e;
  let query = false;
  try {
    query = new URL(index).search !== '';
  } catch {
    return e;
  }
  if (!query) return e;
  return new WeightsealError('ERR_IO', `${e.message}. This shard's URL was resolved relative to the index URL, ` +
    'without its query string (a presigned signature covers one object only): open each shard by its own ' +
    'presigned URL, use s3://bucket/key with credentials, or pass credentials as headers (--header) that the ' +
    'server accepts for every object', { path: e.path, status: e.status, cause: e });
}

export async function openRemoteIndex(url: string | URL, key: Key | null, opts: IndexOptions,
  ctx: RemoteContext): Promise<ShardIndex> {
  const obj = await openRemote(url, opts, ctx);
  if (obj.size > MAX_HEADER_BYTES) throw bad(obj.name, `index of ${obj.size} bytes exceeds ${MAX_HEADER_BYTES} bytes`);
  const bytes = new Uint8Array(obj.size);
  await obj.readAt(bytes, 0);
  let text = new TextDecoder().decode(bytes);
  // Never sniffed (a random salt can start with '{'): with a key the index is sealed unless the
  // caller says plaintextIndex, as for a local index (src/safetensors/sharded.ts).
  if (key !== null && opts.plaintextIndex !== true) {
    const { suite, context, backend } = opts;
    const f = await SealedFile.open(obj, key, { suite, context, backend });
    try {
      text = new TextDecoder().decode(await f.read(0, f.size));
    } finally {
      await f.close();
    }
  }
  const base = new URL(url);
  return parseIndex(text, obj.name, (file) => resolveShardUrl(base, file));
}
