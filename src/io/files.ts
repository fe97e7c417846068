/**
 * File to file through the pipeline: reads land in slots, writes go straight from slots, into
 * a temporary file beside the destination that is fsynced and renamed into place only after
 * the last chunk is done (and, opening, verified). On any failure the temporary file is
 * removed and the destination is untouched.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, open as fsOpen, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WeightsealError, invalidArg, ioError } from '../errors.js';
import { runPipeline, type Keys, type Mode, type Tuning } from '../pipeline/engine.js';
import { describe } from '../validate.js';
import { FileSource, isFileHandle } from './sources.js';

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

/** `.<name>.weightseal-<pid>-<random>.tmp` beside the destination: recognisable, never clashing. */
export function tempPathFor(dst: string): string {
  return join(dirname(dst), `.${basename(dst)}.weightseal-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError('check', path, e);
  }
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

/** Moves the finished temporary file into place; without overwrite, never over a file that appeared meanwhile. */
async function publish(tmp: string, dst: string, overwrite: boolean): Promise<void> {
  if (overwrite) {
    try {
      await rename(tmp, dst);
    } catch (e) {
      throw ioError('rename to', dst, e);
    }
    return;
  }
  try {
    await link(tmp, dst); // fails with EEXIST atomically, unlike rename
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw existsError(dst);
    // Filesystems without hard links: fall back to a checked rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw ioError('link', dst, e);
    if (await exists(dst)) throw existsError(dst);
    try {
      await rename(tmp, dst);
    } catch (e2) {
      throw ioError('rename to', dst, e2);
    }
    return;
  }
  await unlink(tmp).catch(() => {});
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename itself durable; some filesystems refuse fsync on a directory.
  try {
    const d = await fsOpen(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* best effort */
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
    await publish(tmp, dstPath, overwrite);
    published = true;
    await syncDir(dirname(dstPath));
    return { ...totals, seconds: (performance.now() - t0) / 1000 };
  } finally {
    if (out) await out.close().catch(() => {});
    if (!published) await unlink(tmp).catch(() => {});
    await source.close().catch(() => {});
  }
}
