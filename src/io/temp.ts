/**
 * Temporary files beside a destination, for sealFile/openFile and the command (docs/cli.md,
 * "Output files and interruption"). A temporary is named `.<dst name>.weightseal-<pid>-<12 hex>.tmp`:
 * the pid says which process owns it, so the next run into the same directory can tell what a
 * killed process left (SIGKILL, the OOM killer) from what a running one is still writing, and
 * removes only the former. The destination itself appears only through publish(), after the
 * temporary was written in full and fsynced, so a kill at any point leaves no partial output.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, open as fsOpen, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { WeightsealError, ioError } from '../errors.js';

/** The whole name, anchored: anything else in the directory is never touched. */
const TEMP_NAME = /^\.(.+)\.weightseal-([1-9][0-9]{0,9})-([0-9a-f]{12})\.tmp$/;

export function tempPathFor(dst: string): string {
  return join(dirname(dst), `.${basename(dst)}.weightseal-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/** The destination name and owning pid of a temporary's file name, or null if it is not one. */
export function parseTempName(name: string): { target: string; pid: number } | null {
  const m = TEMP_NAME.exec(name);
  if (!m) return null;
  const pid = Number(m[2]);
  return pid <= 0x7fffffff ? { target: m[1]!, pid } : null;
}

/**
 * Whether a process with this pid exists (signal 0 checks without sending anything). EPERM
 * means it exists under another user; any other failure also counts as alive, so a doubt
 * never costs someone else's file.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export interface StaleTemp {
  path: string;
  pid: number;
}

/**
 * Removes the temporaries in `dir` whose owner is gone: regular files (not links, not
 * directories) named by the pattern, with a pid other than ours that no longer exists. Best
 * effort: an unreadable directory or a file another sweeper removed first is skipped silently.
 * Pids are only meaningful on this machine and in this PID namespace; see docs/cli.md.
 */
export async function sweepStaleTemps(dir: string): Promise<StaleTemp[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: StaleTemp[] = [];
  for (const name of names) {
    const t = parseTempName(name);
    if (t === null || t.pid === process.pid || pidAlive(t.pid)) continue;
    const path = join(dir, name);
    try {
      if (!(await lstat(path)).isFile()) continue;
      await unlink(path);
      removed.push({ path, pid: t.pid });
    } catch {
      // Removed meanwhile by another sweeper, or not ours to remove.
    }
  }
  return removed;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError('check', path, e);
  }
}

/**
 * Moves the finished (fsynced) temporary into place, then fsyncs the directory so the rename
 * itself survives a crash. Without overwrite, never over a file that appeared meanwhile:
 * `existsError` builds the ERR_EXISTS the caller reports.
 */
export async function publish(tmp: string, dst: string, overwrite: boolean,
  existsError: (dst: string) => WeightsealError): Promise<void> {
  if (overwrite) {
    try {
      await rename(tmp, dst);
    } catch (e) {
      throw ioError('rename to', dst, e);
    }
  } else {
    try {
      await link(tmp, dst); // fails with EEXIST atomically, unlike rename
      // A kill right here leaves tmp as a second name of the finished dst: the next sweep removes it.
      await unlink(tmp).catch(() => {});
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
    }
  }
  await syncDir(dirname(dst));
}

async function syncDir(dir: string): Promise<void> {
  // Some filesystems refuse fsync on a directory: best effort.
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
