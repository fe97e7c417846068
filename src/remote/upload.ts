/**
 * Sealing straight into S3: the pipeline's sealed slots are gathered into parts and sent as a
 * multipart upload, up to `connections` parts at once. The object appears only when
 * CompleteMultipartUpload succeeds; any failure (the source, a part that exhausted its retries,
 * an abort) aborts the upload, so no partial object is ever left behind.
 */
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, HeadObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { sealedLength } from '../cobblestone.js';
import { WeightsealError } from '../errors.js';
import type { ByteSource } from '../io/sources.js';
import { runPipeline, type Keys, type Tuning } from '../pipeline/engine.js';
import type { RemoteContext } from './object.js';
import { checkRemote, type RemoteOptions } from './options.js';
import { RemoteContext as Context, retryAfterTooLong } from './object.js';
import { redactUrl } from './redact.js';
import { Transient, aborted, backoff, sleep } from './retry.js';
import { parseS3Url, s3Client, s3Error } from './s3.js';

/** S3 allows 10 000 parts of at least 5 MiB (all but the last); 8 MiB parts cover 78 GiB. */
const MIN_PART = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;

export interface UploadResult {
  bytesIn: number;
  bytesOut: number;
  parts: number;
}

function partSizeFor(sealedBytes: number | null): number {
  if (sealedBytes === null) return MIN_PART;
  const need = Math.ceil(sealedBytes / MAX_PARTS);
  return Math.max(MIN_PART, Math.ceil(need / (1024 * 1024)) * 1024 * 1024);
}

async function withRetries<T>(ctx: RemoteContext, name: string, what: string, signal: AbortSignal,
  run: () => Promise<T>): Promise<T> {
  const policy = ctx.opts.retry;
  for (let attempt = 0; ; attempt++) {
    try {
      ctx.stats.requests++;
      return await run();
    } catch (e) {
      const err = s3Error(e, name, ctx, signal, what);
      if (signal.aborted) throw aborted(signal);
      if (!(err instanceof Transient)) throw err;
      // A Retry-After longer than the caller allows fails now rather than hanging the upload.
      if (err.retryAfterMs !== null && err.retryAfterMs > policy.maxRetryAfterMs) {
        throw retryAfterTooLong(name, `${what} ${name}`, ctx.redactor.cause(err), err.retryAfterMs, policy.maxRetryAfterMs);
      }
      if (attempt >= policy.retries) {
        const cause = ctx.redactor.cause(err);
        throw new WeightsealError('ERR_IO', `cannot ${what} ${name}: ${cause.message}; gave up after ` +
          `${attempt + 1} attempts`, { path: name, cause });
      }
      ctx.stats.retries++;
      await sleep(backoff(policy, attempt, err.retryAfterMs), signal);
    }
  }
}

/**
 * Seals `source` into s3://bucket/key. Refuses an existing object unless `overwrite`.
 * `sealedBytes` (known for files) sizes the parts so that a large file fits in 10 000.
 */
export async function sealToS3(source: ByteSource, dst: string | URL, keys: Keys, tuning: Tuning,
  overwrite: boolean, opts: RemoteOptions, sealedBytes: number | null,
  progress?: (bytesOut: number) => void): Promise<UploadResult> {
  const url = new URL(dst);
  const name = redactUrl(url);
  const { bucket, key } = parseS3Url(url);
  const ctx = new Context(checkRemote({ ...opts, signal: opts.signal ?? tuning.signal }));
  const client = s3Client(ctx);
  const signal = ctx.signal;
  let uploadId: string | undefined;
  try {
    if (!overwrite) {
      const exists = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal })
        .then(() => true, (e: unknown) => {
          if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
          throw s3Error(e, name, ctx, signal, 'check');
        });
      if (exists) {
        throw new WeightsealError('ERR_EXISTS', `${name} already exists; remove it or pass overwrite`, { path: name });
      }
    }
    const created = await withRetries(ctx, name, 'start an upload to', signal, () =>
      client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }));
    uploadId = created.UploadId;
    const partSize = partSizeFor(sealedBytes);
    const parts: { PartNumber: number; ETag: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown = null;
    let buf = new Uint8Array(partSize);
    let fill = 0;
    let uploaded = 0;
    let nextPart = 1;
    const send = async (bytes: Uint8Array): Promise<void> => {
      const partNumber = nextPart++;
      if (partNumber > MAX_PARTS) throw new WeightsealError('ERR_TOO_LARGE', `${name}: more than ${MAX_PARTS} parts`);
      while (inFlight.size >= ctx.opts.connections) await Promise.race(inFlight);
      if (failure !== null) throw failure;
      const p = withRetries(ctx, name, 'upload a part of', signal, () =>
        client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber,
          Body: bytes, ContentLength: bytes.length }), { abortSignal: signal }))
        .then((r) => {
          parts.push({ PartNumber: partNumber, ETag: r.ETag ?? '' });
          uploaded += bytes.length;
          progress?.(uploaded);
        }, (e: unknown) => { failure ??= e; throw e; })
        .finally(() => inFlight.delete(p));
      p.catch(() => {});
      inFlight.add(p);
    };
    const totals = await runPipeline('seal', keys, source, {
      // Each slot is copied into the current part: the slot is reused as soon as this returns.
      async write(view) {
        if (failure !== null) throw failure;
        let at = 0;
        while (at < view.length) {
          const n = Math.min(view.length - at, partSize - fill);
          buf.set(view.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === partSize) {
            await send(buf);
            buf = new Uint8Array(partSize);
            fill = 0;
          }
        }
      },
    }, { ...tuning, signal });
    // The last part may be short (S3 allows that for the last one only); an empty message still has a header.
    if (fill > 0 || nextPart === 1) await send(buf.subarray(0, fill));
    await Promise.all(inFlight);
    if (failure !== null) throw failure;
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    await withRetries(ctx, name, 'complete the upload to', signal, () =>
      client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId,
        MultipartUpload: { Parts: parts } }), { abortSignal: signal }));
    uploadId = undefined;
    return { bytesIn: totals.bytesIn, bytesOut: totals.bytesOut, parts: parts.length };
  } catch (e) {
    throw signal.aborted && !(e instanceof WeightsealError && e.code === 'ERR_ABORTED') ? aborted(signal) : e;
  } finally {
    if (uploadId !== undefined) {
      // Aborted with a fresh signal: the load's own may be the reason we are here.
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
        .catch(() => {});
    }
    await ctx.close();
  }
}

/** sealFile / `weightseal seal` with an s3:// destination: a local source sealed into a multipart upload. */
export async function sealFileToRemote(mode: string, source: ByteSource, dst: string | URL, keys: Keys, tuning: Tuning,
  overwrite: boolean, opts: RemoteOptions, progress?: (bytesOut: number) => void): Promise<UploadResult> {
  const u = new URL(dst);
  if (u.protocol !== 's3:') {
    throw new WeightsealError('ERR_INVALID_ARG', `${redactUrl(u)}: only s3:// destinations can be written (http(s) is read-only)`);
  }
  if (mode !== 'seal') {
    throw new WeightsealError('ERR_INVALID_ARG', `${redactUrl(u)}: only sealing writes to s3://; open into a local file`);
  }
  const body = source.size === null ? null : source.size - source.position;
  return sealToS3(source, u, keys, tuning, overwrite, opts, body === null ? null : sealedLength(body), progress);
}
