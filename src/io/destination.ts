/**
 * What a destination path may be (docs/cli.md, "Output files"): a new name, or, with
 * overwrite, an existing regular file. Anything else is ERR_EXISTS with or without overwrite,
 * since the rename that publishes the output would replace the directory entry itself: a
 * device (`/dev/null`), FIFO or socket would become a regular file of plaintext, and a
 * symbolic link would lose its target. A link is never followed either: the output would land
 * outside the directory the caller named, past the temporary-file-and-rename guarantee.
 * Give the link's target (realpath) to write there.
 */
import { lstat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { WeightsealError, ioError } from '../errors.js';

function kind(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Throws unless `dst` is absent, or a regular file and `overwrite` is set. `hint` says how to
 * allow replacing a regular file (the API option or the command's flag).
 */
export async function checkDestination(dst: string, overwrite: boolean, hint: string): Promise<void> {
  let st: Stats;
  try {
    st = await lstat(dst);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw ioError('check', dst, e);
  }
  const what = kind(st);
  if (what === 'a directory') {
    throw new WeightsealError('ERR_EXISTS',
      `${dst} is a directory; give the output a file name, e.g. ${dst.replace(/\/+$/, '')}/NAME`, { path: dst });
  }
  if (what !== null) {
    throw new WeightsealError('ERR_EXISTS',
      `${dst} is ${what}, not a regular file; weightseal writes and replaces only regular files` +
        (what === 'a symbolic link' ? ' and never follows a link: give the path it points to, or remove the link' :
          '; give a file path'), { path: dst });
  }
  if (!overwrite) {
    throw new WeightsealError('ERR_EXISTS', `${dst} already exists; remove it or ${hint}`, { path: dst });
  }
}
