/** Options of remote (http://, https://, s3://) sources, checked once with messages that say what to pass. */
import { invalidArg } from '../errors.js';
import { describe } from '../validate.js';
import { checkRetry, type RetryOptions, type RetryPolicy } from './retry.js';

/**
 * Parallel ranged GETs per remote load. Eight 4 MiB ranges in flight fill a 10-25 Gb/s link at
 * typical object-store latencies (tens of ms per request) while keeping about 64 MiB in flight.
 */
export const DEFAULT_CONNECTIONS = 8;
const MAX_CONNECTIONS = 256;

export interface S3Options {
  /** An S3-compatible endpoint (MinIO, R2, s3rver...); default AWS_ENDPOINT_URL, else AWS. Path-style addressing is used whenever one is given. */
  endpoint?: string;
  /** Default: the SDK's chain (AWS_REGION, the profile), else us-east-1. */
  region?: string;
  /** Force path-style addressing (implied by an endpoint). */
  forcePathStyle?: boolean;
  /** Default: the SDK's standard credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export interface RemoteOptions {
  /** Extra request headers for http(s):// sources, e.g. { authorization: 'Bearer ...' }. Never shown in messages. */
  headers?: Record<string, string>;
  /** Parallel ranged requests (default 8). */
  connections?: number;
  /** Backoff, retry count and stall time for remote reads. */
  retry?: RetryOptions;
  /** S3 client settings for s3:// sources and destinations. */
  s3?: S3Options;
  /** Aborts every request in flight (ERR_ABORTED). */
  signal?: AbortSignal;
}

export interface CheckedRemote {
  headers: Record<string, string>;
  connections: number;
  retry: RetryPolicy;
  s3: S3Options;
  signal: AbortSignal | undefined;
}

export function isRemoteUrl(v: unknown): v is string | URL {
  const s = v instanceof URL ? v.protocol : typeof v === 'string' ? v.slice(0, 8).toLowerCase() : '';
  return s.startsWith('http:') || s.startsWith('https:') || s.startsWith('s3:');
}

export function checkRemote(o: RemoteOptions | undefined): CheckedRemote {
  const opts = o ?? {};
  const headers: Record<string, string> = {};
  if (opts.headers !== undefined) {
    if (typeof opts.headers !== 'object' || opts.headers === null || Array.isArray(opts.headers)) {
      throw invalidArg(`headers must be an object of header name to string value, got ${describe(opts.headers)}`);
    }
    for (const [k, v] of Object.entries(opts.headers)) {
      if (typeof v !== 'string') throw invalidArg(`headers["${k}"] must be a string, got ${describe(v)}`);
      const name = k.toLowerCase();
      if (name === 'range' || name === 'if-match' || name === 'host') {
        throw invalidArg(`headers may not set "${k}": weightseal sets it for each ranged request`);
      }
      headers[name] = v;
    }
  }
  let connections = DEFAULT_CONNECTIONS;
  if (opts.connections !== undefined) {
    const c = opts.connections;
    if (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 1 || c > MAX_CONNECTIONS) {
      throw invalidArg(`connections must be an integer in 1..${MAX_CONNECTIONS}, got ${describe(c)} ${String(c)}`);
    }
    connections = c;
  }
  // Read once: what is checked is what is used (a getter may answer differently next time).
  const { s3, signal } = opts;
  if (s3 !== undefined && (typeof s3 !== 'object' || s3 === null)) {
    throw invalidArg(`s3 must be an object like { endpoint, region, forcePathStyle, credentials }, got ${describe(s3)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArg(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
  return { headers, connections, retry: checkRetry(opts.retry), s3: s3 ?? {}, signal };
}
