/**
 * Exit codes, documented in docs/cli.md: 0 ok, 1 authentication or format failure, 2 usage,
 * 3 I/O, 130 interrupted (128 + SIGINT, as shells report it), 143 terminated (128 + SIGTERM),
 * 129 hung up (128 + SIGHUP).
 */
import { isWeightsealError } from '../errors.js';

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, IO: 3, HANGUP: 129, INTERRUPTED: 130, TERMINATED: 143 } as const;

/** The signals the command cleans up after (cleanup.ts), with 128 + the signal number on Linux and macOS. */
export const SIGNAL_EXIT = { SIGHUP: EXIT.HANGUP, SIGINT: EXIT.INTERRUPTED, SIGTERM: EXIT.TERMINATED } as const;

/** Thrown for command-line mistakes that are not a WeightsealError (bad numbers, missing args). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT.USAGE;
  if (isWeightsealError(e)) {
    switch (e.code) {
      case 'ERR_INVALID_ARG':
      case 'ERR_BACKEND_UNAVAILABLE':
      case 'ERR_KERNEL_UNAVAILABLE':
      case 'ERR_UNSUPPORTED':
        return EXIT.USAGE;
      case 'ERR_IO':
      case 'ERR_EXISTS':
      case 'ERR_RANGE_NOT_SUPPORTED':
      case 'ERR_BAD_RESPONSE':
      case 'ERR_REMOTE_CHANGED':
        return EXIT.IO;
      case 'ERR_ABORTED':
        return EXIT.INTERRUPTED;
      default:
        // ERR_AUTH_FAILED, ERR_WRONG_KEY_OR_CONTEXT, ERR_TRUNCATED, ERR_TRAILING_DATA,
        // ERR_TOO_LARGE, ERR_BAD_SAFETENSORS, ERR_CLOSED.
        return EXIT.FAILURE;
    }
  }
  // A bare fs error that escaped wrapping is still an I/O failure.
  const sys = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof sys === 'string' && /^E[A-Z]+$/.test(sys)) return EXIT.IO;
  return EXIT.FAILURE;
}
