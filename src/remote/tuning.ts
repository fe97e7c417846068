/** How a remote source changes the pipeline's defaults. */
import type { Tuning } from '../pipeline/engine.js';
import { checkRemote, type RemoteOptions } from './options.js';

/**
 * Every connection needs a free slot to read into, and two more slots keep the executor and the
 * consumer busy meanwhile: memory in flight stays about connections x slot size. An explicit
 * `inflight` is kept as given (fewer slots than connections then bounds the reads instead).
 */
export function remoteTuning(tuning: Tuning, opts: RemoteOptions & { inflight?: number }): Tuning {
  if (opts.inflight !== undefined) return tuning;
  const { connections } = checkRemote(opts);
  return { ...tuning, inflight: Math.max(tuning.inflight, connections + 2) };
}
