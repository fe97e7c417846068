/**
 * File to file through the pipeline: reads land in slots, writes go straight from slots, into
 * a temporary file beside the destination that is fsynced and renamed into place only after
 * the last chunk is done (and, opening, verified). On any failure the temporary file is
 * removed and the destination is untouched; a kill leaves only the temporary, which the next
 * call into the same directory sweeps away (temp.ts).
 */
import { open as fsOpen, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WeightsealError, invalidArg, ioError } from '../errors.js';
import { runPipeline, type Keys, type Mode, type Tuning } from '../pipeline/engine.js';
import { describe } from '../validate.js';
import { FileSource, isFileHandle, toSource, type ByteSource } from './sources.js';
import { RangedObject, isRemoteUrl, remoteByteSource, type RemoteOptions } from '../remote/open.js';
import { remoteTuning } from '../remote/tuning.js';
import { withPath } from '../error-path.js';
import { checkDestination } from './destination.js';
import { publish, sweepStaleTemps, tempPathFor } from './temp.js';

export interface FileResult {
  /** Bytes read from the source file. */
  bytesIn: number;
  /** Bytes written to the destination file. */
  bytesOut: number;
  /** Wall time, in seconds. */
  seconds: number;
}

/** Positional writes in flight at once: enough to keep a fast disk (or the page cache) busy. */
const WRITE_CONCURRENCY = 4;

/** A Node Readable (or async iterable of bytes): only the command passes one, for stdin and FIFOs. */
function isStreamSource(v: unknown): v is AsyncIterable<Uint8Array> {
  return typeof v === 'object' && v !== null && !isFileHandle(v) && !(v instanceof URL) &&
    Symbol.asyncIterator in v;
}

export function pathArg(v: unknown, name: string): string {
  if (typeof v === 'string' && v.length > 0) return resolve(v);
  if (v instanceof URL) return fileURLToPath(v);
  throw invalidArg(`${name} must be a file path (string or file: URL), got ${describe(v)}`);
}

/** What a caller with a user interface (the command) hears of a file operation. */
export interface FileHooks {
  /** Output bytes delivered so far, in order. */
  progress?(bytesOut: number): void;
  /** The temporary file exists (a signal handler may remove it) / is gone or published. */
  tempCreated?(path: string): void;
  tempDone?(path: string): void;
  /** A temporary file left by a dead process was removed from the destination directory. */
  swept?(path: string, pid: number): void;
  /** How to allow replacing the destination, for ERR_EXISTS (default: the API option). */
  overwriteHint?: string;
}

function existsError(dst: string, hint = DEFAULT_HINT): WeightsealError {
  return new WeightsealError('ERR_EXISTS', `${dst} already exists; remove it or ${hint}`, { path: dst });
}

const DEFAULT_HINT = 'pass { overwrite: true }';

/** Creating the temporary failed: say it of dst (or its directory), not of a name the caller never gave. */
function createError(dst: string, cause: unknown): WeightsealError {
  const sys = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (sys === 'ENOENT' || sys === 'ENOTDIR') {
    return new WeightsealError('ERR_IO', `cannot create ${dst}: directory ${dirname(dst)} does not exist ` +
      '(create it first, or check the path exists)', { path: dst, cause });
  }
  return ioError('create', dst, cause);
}

async function writeAll(fh: FileHandle, path: string, view: Uint8Array, position: number): Promise<void> {
  let done = 0;
  try {
    while (done < view.length) {
      const { bytesWritten } = await fh.write(view, done, view.length - done, position + done);
      done += bytesWritten;
    }
  } catch (e) {
    throw ioError('write', path, e);
  }
}

/**
 * Runs mode over file src into dst through a temporary file; dst null (verify) runs the
 * whole pipeline, authenticating every chunk, and writes nothing.
 */
export async function transformFile(mode: Mode, src: unknown, dst: unknown, keys: Keys | null, tuning: Tuning,
  overwrite: boolean, hooks: FileHooks = {}, remoteOpts: RemoteOptions = {}): Promise<FileResult> {
  const t0 = performance.now();
  if (isRemoteUrl(dst)) {
    // s3:// destination: a multipart upload, never a partial object (src/remote/upload.ts).
    const { sealFileToRemote } = await import('../remote/upload.js');
    if (!isFileHandle(src)) pathArg(src, 'src');
    const source = await FileSource.open(isFileHandle(src) ? src : pathArg(src, 'src'));
    try {
      const r = await sealFileToRemote(mode, source, dst, keys!, tuning, overwrite, remoteOpts, hooks.progress);
      return { bytesIn: r.bytesIn, bytesOut: r.bytesOut, seconds: (performance.now() - t0) / 1000 };
    } finally {
      await source.close().catch(() => {});
    }
  }
  const dstPath = dst === null ? null : pathArg(dst, 'dst');
  if (typeof overwrite !== 'boolean') throw invalidArg(`overwrite must be a boolean, got ${describe(overwrite)}`);
  // http(s):// and s3:// sources (or an open remote object) are read as parallel ranges (src/remote);
  // a stream source (the command's stdin or a FIFO) in order; a path or FileHandle positionally.
  const remote = isRemoteUrl(src) || src instanceof RangedObject;
  const streamed = !remote && isStreamSource(src);
  if (!remote && !isFileHandle(src) && !streamed) pathArg(src, 'src'); // a bad argument fails before the filesystem is touched
  const refuse = (p: string) => existsError(p, hooks.overwriteHint);
  if (dstPath !== null) await checkDestination(dstPath, overwrite, hooks.overwriteHint ?? DEFAULT_HINT);
  if (remote) tuning = remoteTuning(tuning, remoteOpts as RemoteOptions & { inflight?: number });
  const source: ByteSource = remote ? await remoteByteSource(src as string | URL | RangedObject, remoteOpts) :
    streamed ? await toSource(src) :
    await FileSource.open(isFileHandle(src) ? src : pathArg(src, 'src'));
  let tmp: string | null = null;
  let out: FileHandle | null = null;
  let bytesOut = 0;
  try {
    if (dstPath !== null) {
      for (const t of await sweepStaleTemps(dirname(dstPath))) hooks.swept?.(t.path, t.pid);
      const path = tempPathFor(dstPath);
      try {
        out = await fsOpen(path, 'wx', 0o600);
      } catch (e) {
        throw createError(dstPath, e);
      }
      tmp = path;
      hooks.tempCreated?.(tmp);
    }
    const fh = out;
    const path = tmp ?? '';
    const totals = await runPipeline(mode, keys, source, {
      write: async (view, offset) => {
        if (fh) await writeAll(fh, path, view, offset);
        bytesOut = Math.max(bytesOut, offset + view.length);
        hooks.progress?.(bytesOut);
      },
      concurrency: WRITE_CONCURRENCY,
    }, tuning);
    if (fh && tmp !== null && dstPath !== null) {
      try {
        await fh.sync();
        out = null;
        await fh.close();
      } catch (e) {
        throw ioError('sync', tmp, e);
      }
      // Checked again: what dst is may have changed while the pipeline ran.
      if (overwrite) await checkDestination(dstPath, true, hooks.overwriteHint ?? DEFAULT_HINT);
      await publish(tmp, dstPath, overwrite, refuse);
      hooks.tempDone?.(tmp);
      tmp = null;
    }
    return { ...totals, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    // Remote errors already name the URL, shown without its query string (src/remote/redact.ts).
    throw streamed || remote ? e : withPath(e, isFileHandle(src) ? `file descriptor ${src.fd}` : pathArg(src, 'src'));
  } finally {
    if (out) await out.close().catch(() => {});
    if (tmp !== null) {
      await unlink(tmp).catch(() => {});
      hooks.tempDone?.(tmp);
    }
    await source.close().catch(() => {});
  }
}
