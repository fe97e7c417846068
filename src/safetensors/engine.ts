/**
 * The one place weightseal's loaders and command call the streaming pipeline (issue 3's
 * bounce()): ordered, zero-copy slots processed on every core.
 */
import type { FileHandle } from 'node:fs/promises';
import { bounce } from '../stream-api.js';
import type { Key, SourceOptions } from './source.js';
import type { RangedObject } from '../remote/open.js';

export type OnSlot = (view: Uint8Array, offset: number) => void | Promise<void>;
export type BounceSource = string | FileHandle | Uint8Array | RangedObject;

export async function runBounce(source: BounceSource, key: Key, mode: 'seal' | 'open',
  opts: SourceOptions, onSlot: OnSlot): Promise<void> {
  await bounce(source as string, key, { ...pick(opts), mode, onSlot });
}

export function bounceOpen(origin: string | FileHandle | RangedObject, key: Key, opts: SourceOptions,
  onSlot: OnSlot): Promise<void> {
  return runBounce(origin, key, 'open', opts, onSlot);
}

export function pick(opts: SourceOptions): SourceOptions {
  const out: SourceOptions = {};
  if (opts.suite !== undefined) out.suite = opts.suite;
  if (opts.context !== undefined) out.context = opts.context;
  if (opts.backend !== undefined) out.backend = opts.backend;
  if (opts.threads !== undefined) out.threads = opts.threads;
  if (opts.connections !== undefined) out.connections = opts.connections;
  return out;
}
