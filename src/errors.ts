/**
 * One error class with a stable `.code` (STYLE habit 3). Messages say what to do; they never
 * contain key bytes. docs/errors.md lists every code.
 */
export type ErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_AUTH_FAILED'
  | 'ERR_WRONG_KEY_OR_CONTEXT'
  | 'ERR_TRUNCATED'
  | 'ERR_TRAILING_DATA'
  | 'ERR_TOO_LARGE'
  | 'ERR_EXISTS'
  | 'ERR_IO'
  | 'ERR_CLOSED'
  | 'ERR_ABORTED'
  | 'ERR_BACKEND_UNAVAILABLE'
  | 'ERR_KERNEL_UNAVAILABLE'
  | 'ERR_BAD_SAFETENSORS'
  | 'ERR_UNSUPPORTED'
  | 'ERR_RANGE_NOT_SUPPORTED'
  | 'ERR_BAD_RESPONSE'
  | 'ERR_REMOTE_CHANGED';

export interface ErrorDetails {
  /** Index of the chunk that failed authentication (ERR_AUTH_FAILED in a chunked stream). */
  chunk?: number;
  /** File the failure concerns (ERR_IO, ERR_EXISTS). */
  path?: string;
  /** The underlying error (an fs error for ERR_IO). */
  cause?: unknown;
  /** HTTP status of a remote request that failed (ERR_IO, ERR_RANGE_NOT_SUPPORTED). */
  status?: number;
}

export class WeightsealError extends Error {
  readonly code: ErrorCode;
  readonly chunk?: number;
  readonly path?: string;
  readonly status?: number;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'WeightsealError';
    this.code = code;
    if (details.chunk !== undefined) this.chunk = details.chunk;
    if (details.path !== undefined) this.path = details.path;
    if (details.status !== undefined) this.status = details.status;
  }
}

export function isWeightsealError(e: unknown, code?: ErrorCode): e is WeightsealError {
  return e instanceof WeightsealError && (code === undefined || e.code === code);
}

export function invalidArg(message: string): WeightsealError {
  return new WeightsealError('ERR_INVALID_ARG', message);
}

/** Wraps an fs error so callers see which file and what to do, with the original as cause. */
export function ioError(op: string, path: string, cause: unknown): WeightsealError {
  if (cause instanceof WeightsealError) return cause;
  const sys = (cause as NodeJS.ErrnoException | undefined)?.code;
  const hint =
    sys === 'ENOENT' ? 'check the path exists' :
    sys === 'EACCES' || sys === 'EPERM' ? 'check file permissions' :
    sys === 'EISDIR' ? 'give a file, not a directory' :
    sys === 'ENOSPC' ? 'free disk space and retry' :
    sys === 'EEXIST' ? 'remove it or pass overwrite' :
    'see the cause for details';
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new WeightsealError('ERR_IO', `cannot ${op} ${path}: ${detail} (${hint})`, { path, cause });
}
