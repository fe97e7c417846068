/**
 * A failure about a file says which file (`.path`, docs/errors.md). Errors raised where only
 * bytes are known (the pipeline, the format) get the path here, on the way out of a file API.
 * `.cause` stays the underlying system error (or abort reason), never a copy of the same
 * WeightsealError.
 */
import { WeightsealError, isWeightsealError } from './errors.js';

export function withPath(e: unknown, path: string): unknown {
  if (!isWeightsealError(e) || e.path !== undefined || e.code === 'ERR_INVALID_ARG') return e;
  const details: { path: string; cause?: unknown; chunk?: number } = { path };
  if (e.cause !== undefined) details.cause = e.cause;
  if (e.chunk !== undefined) details.chunk = e.chunk;
  const message = e.message.startsWith(path) ? e.message : `${path}: ${e.message}`;
  const out = new WeightsealError(e.code, message, details);
  if (e.stack) out.stack = `${out.name}: ${message}${e.stack.slice(e.stack.indexOf('\n'))}`;
  return out;
}
