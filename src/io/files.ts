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
import { FileSource, isFileHandle } from './sources.js';
import { exists, publish, sweepStaleTemps, tempPathFor } from './temp.js';

export { tempPathFor } from './temp.js';

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

export function pathArg(v: unknown, name: string): string {
  if (typeof v === 'string' && v.length > 0) return resolve(v);
  if (v instanceof URL) return fileURLToPath(v);
  throw invalidArg(`${name} must be a file path (string or file: URL), got ${describe(v)}`);
}

function existsError(dst: string): WeightsealError {
  return new WeightsealError('ERR_EXISTS', `${dst} already exists; remove it or pass { overwrite: true }`,
    { path: dst });
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

export async function transformFile(mode: Mode, src: unknown, dst: unknown, keys: Keys | null, tuning: Tuning,
  overwrite: boolean): Promise<FileResult> {
  const t0 = performance.now();
  const dstPath = pathArg(dst, 'dst');
  if (typeof overwrite !== 'boolean') throw invalidArg(`overwrite must be a boolean, got ${describe(overwrite)}`);
  if (!isFileHandle(src)) pathArg(src, 'src'); // a bad argument fails before the filesystem is touched
  if (!overwrite && (await exists(dstPath))) throw existsError(dstPath);
  const source = await FileSource.open(isFileHandle(src) ? src : pathArg(src, 'src'));
  await sweepStaleTemps(dirname(dstPath));
  const tmp = tempPathFor(dstPath);
  let out: FileHandle | null = null;
  let published = false;
  try {
    try {
      out = await fsOpen(tmp, 'wx', 0o600);
    } catch (e) {
      throw ioError('create', tmp, e);
    }
    const fh = out;
    const totals = await runPipeline(mode, keys, source, {
      write: (view, offset) => writeAll(fh, tmp, view, offset),
      concurrency: WRITE_CONCURRENCY,
    }, tuning);
    try {
      await fh.sync();
      out = null;
      await fh.close();
    } catch (e) {
      throw ioError('sync', tmp, e);
    }
    await publish(tmp, dstPath, overwrite, existsError);
    published = true;
    return { ...totals, seconds: (performance.now() - t0) / 1000 };
  } finally {
    if (out) await out.close().catch(() => {});
    if (!published) await unlink(tmp).catch(() => {});
    await source.close().catch(() => {});
  }
}
