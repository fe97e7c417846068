/**
 * s3://bucket/key objects through @aws-sdk/client-s3: ranged GetObject with IfMatch (the ETag
 * of the first response), the SDK's standard credential chain and region, and for S3-compatible
 * stores an endpoint (s3.endpoint, else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) with path-style
 * addressing. The SDK signs every request; its own retries are off (maxAttempts 1) because
 * ours resume a failed range from the last byte received instead of starting it again.
 */
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { WeightsealError, invalidArg } from '../errors.js';
import { copyChunk } from './copy.js';
import { HEAD_BYTES, RangedObject, badResponse, changed, type RemoteContext } from './object.js';
import { redactUrl } from './redact.js';
import { RETRY_STATUS, Transient, aborted, parseRetryAfter } from './retry.js';

/** Bucket and key of s3://bucket/key (the key percent-decoded). */
export function parseS3Url(u: URL): { bucket: string; key: string } {
  const bucket = u.host;
  const key = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!bucket || !key) throw invalidArg(`${redactUrl(u)} must be s3://bucket/key`);
  return { bucket, key };
}

/** One client per load, so closing the load closes its sockets. */
export function s3Client(ctx: RemoteContext): S3Client {
  const slot = ctx as RemoteContext & { s3Client?: S3Client };
  if (!slot.s3Client) {
    const o = ctx.opts.s3;
    const endpoint = o.endpoint ?? process.env['AWS_ENDPOINT_URL_S3'] ?? process.env['AWS_ENDPOINT_URL'];
    const client = new S3Client({
      ...(o.region !== undefined ? { region: o.region } : {}),
      ...(endpoint !== undefined ? { endpoint } : {}),
      forcePathStyle: endpoint !== undefined || o.forcePathStyle === true,
      ...(o.credentials ? { credentials: o.credentials } : {}),
      maxAttempts: 1,
      // S3-compatible stores (MinIO, R2, s3rver) do not all take the newer default checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        requestTimeout: ctx.opts.retry.stallMs,
        connectionTimeout: ctx.opts.retry.stallMs,
        httpsAgent: { keepAlive: true, maxSockets: ctx.opts.connections },
        httpAgent: { keepAlive: true, maxSockets: ctx.opts.connections },
      },
    });
    slot.s3Client = client;
    ctx.onClose(async () => client.destroy());
  }
  return slot.s3Client;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  /** The raw response, a non-enumerable property the SDK puts on service errors. */
  $response?: { headers?: Record<string, string | undefined> };
}

/**
 * The Retry-After of the response an SDK error came from, in ms. $metadata carries only the
 * status and request ids; the headers are on $response (smithy's deserializer middleware).
 */
export function sdkRetryAfter(e: SdkError): number | null {
  const headers = e.$response?.headers;
  if (!headers || typeof headers !== 'object') return null;
  const name = Object.keys(headers).find((k) => k.toLowerCase() === 'retry-after');
  return name === undefined ? null : parseRetryAfter(headers[name]);
}

/** The SDK's error as ours: Transient for what a retry may fix, a WeightsealError otherwise. */
export function s3Error(e: unknown, name: string, ctx: RemoteContext, signal: AbortSignal, what = 'read'): unknown {
  if (signal.aborted) return aborted(signal);
  if (e instanceof WeightsealError || e instanceof Transient) return e;
  const err = e as SdkError;
  const status = err.$metadata?.httpStatusCode;
  const cause = ctx.redactor.cause(e);
  if (status === 412 || err.name === 'PreconditionFailed') return changed(name, 'its ETag no longer matches (HTTP 412)');
  if (status !== undefined && RETRY_STATUS.has(status)) {
    return new Transient(`HTTP ${status} ${cause.message}`, sdkRetryAfter(err));
  }
  if (status === undefined && /Region is missing/i.test(err.message ?? '')) {
    return invalidArg('no AWS region: set AWS_REGION, a profile region, or pass s3: { region }');
  }
  if (status !== undefined && status >= 400) {
    const hint = status === 404 ? 'no such bucket or key: check the URL' :
      status === 403 || status === 401 ? 'access denied: check the credentials and the bucket policy' :
      'the request was refused';
    return new WeightsealError('ERR_IO', `cannot ${what} ${name}: HTTP ${status} ${err.name ?? ''} (${hint})`,
      { path: name, status, cause });
  }
  if (status === undefined && /credential/i.test(err.name ?? '')) {
    return new WeightsealError('ERR_IO', `cannot ${what} ${name}: ${cause.message} (configure AWS credentials ` +
      'or pass s3: { credentials })', { path: name, cause });
  }
  return new Transient(cause.message, null, { cause });
}

export class S3Object extends RangedObject {
  readonly #bucket: string;
  readonly #key: string;
  #etag: string | null = null;

  private constructor(ctx: RemoteContext, u: URL, owned: boolean) {
    super(ctx, redactUrl(u), owned);
    ({ bucket: this.#bucket, key: this.#key } = parseS3Url(u));
  }

  static async open(u: URL, ctx: RemoteContext, owned: boolean): Promise<S3Object> {
    try {
      const obj = new S3Object(ctx, u, owned);
      await obj.init();
      return obj;
    } catch (e) {
      if (owned) await ctx.close();
      throw e;
    }
  }

  protected readonly peer = 'the endpoint';

  async #get(position: number, length: number, signal: AbortSignal, pin: boolean) {
    try {
      return await s3Client(this.ctx).send(new GetObjectCommand({
        Bucket: this.#bucket, Key: this.#key, Range: `bytes=${position}-${position + length - 1}`,
        ...(pin && this.#etag !== null ? { IfMatch: this.#etag } : {}),
      }), { abortSignal: signal });
    } catch (e) {
      throw s3Error(e, this.name, this.ctx, signal);
    }
  }

  protected async probe(signal: AbortSignal): Promise<void> {
    let res;
    try {
      res = await this.#get(0, HEAD_BYTES, signal, false);
    } catch (e) {
      // InvalidRange for bytes=0-: the empty object (RFC 9110 15.5.17).
      if (!(e instanceof WeightsealError && e.status === 416)) throw e;
      const head = await s3Client(this.ctx).send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key }),
        { abortSignal: signal }).catch((x: unknown) => { throw s3Error(x, this.name, this.ctx, signal); });
      if ((head.ContentLength ?? -1) !== 0) throw e;
      this.size = 0;
      this.#etag = head.ETag ?? null;
      return;
    }
    this.#etag = res.ETag ?? null;
    const total = /\/(\d+)\s*$/.exec(res.ContentRange ?? '');
    this.size = total ? Number(total[1]) : (res.ContentLength ?? 0);
    const head = new Uint8Array(Math.min(HEAD_BYTES, this.size));
    await this.#body(res.Body, head, (n) => this.fetched(n));
    this.head = head;
  }

  protected async attempt(dst: Uint8Array, position: number, signal: AbortSignal,
    got: (n: number) => void): Promise<void> {
    const res = await this.#get(position, dst.length, signal, true);
    if (this.#etag !== null && res.ETag !== undefined && res.ETag !== this.#etag) {
      destroy(res.Body);
      throw changed(this.name, 'its ETag differs from the one it had when opened');
    }
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.ContentRange ?? '');
    if (!m || Number(m[1]) !== position || Number(m[2]) > position + dst.length - 1) {
      destroy(res.Body);
      throw badResponse(this.name, `asked for bytes ${position}-${position + dst.length - 1}, got ` +
        `${JSON.stringify(res.ContentRange ?? null)}`);
    }
    if (Number(m[3]) !== this.size) {
      destroy(res.Body);
      throw changed(this.name, `it is now ${m[3]} bytes, not ${this.size}`);
    }
    const expect = Number(m[2]) - position + 1;
    await this.#body(res.Body, dst.subarray(0, expect), (n) => { this.fetched(n); got(n); });
  }

  async #body(body: unknown, dst: Uint8Array, got: (n: number) => void): Promise<void> {
    let at = 0;
    try {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        if (at + chunk.length > dst.length) throw badResponse(this.name, `the body is longer than the ${dst.length} bytes asked for`);
        copyChunk(dst, at, chunk);
        at += chunk.length;
        got(chunk.length);
      }
    } catch (e) {
      destroy(body);
      if (e instanceof WeightsealError) throw e;
      throw new Transient(this.ctx.redactor.cause(e).message, null, { cause: e });
    }
    if (at < dst.length) throw badResponse(this.name, `the body ended after ${at} of ${dst.length} bytes`);
  }
}

function destroy(body: unknown): void {
  (body as { destroy?: () => void } | undefined)?.destroy?.();
}
