/**
 * The pipeline options weightseal's loaders and command pass on from their own (the loader's
 * stream() goes through stream-api.ts bounceSink; the command through bounce).
 */
import type { SourceOptions } from './source.js';

export function pick(opts: SourceOptions): SourceOptions {
  const out: SourceOptions = {};
  if (opts.suite !== undefined) out.suite = opts.suite;
  if (opts.context !== undefined) out.context = opts.context;
  if (opts.backend !== undefined) out.backend = opts.backend;
  if (opts.threads !== undefined) out.threads = opts.threads;
  if (opts.connections !== undefined) out.connections = opts.connections;
  return out;
}
