/**
 * A regular file opened for positional reads, shared by the pipeline's file source, SealedFile
 * and the plaintext safetensors reader: one place decides what counts as a readable file
 * (a directory is ERR_IO, not a bad argument), whose handle to close (only one we opened), and
 * what a file that shrinks under us reports (ERR_TRUNCATED, with its path).
 */
import { open as fsOpen, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { WeightsealError, invalidArg, ioError } from '../errors.js';
import { describe } from '../validate.js';

export function isFileHandle(v: unknown): v is FileHandle {
  return typeof v === 'object' && v !== null && typeof (v as FileHandle).fd === 'number' &&
    typeof (v as FileHandle).read === 'function' && typeof (v as FileHandle).stat === 'function';
}

export class ReadableFile {
  private constructor(readonly fh: FileHandle, readonly name: string, readonly path: string | null,
    readonly size: number, private readonly owned: boolean) {}

  /** Opens a path (closed again by close()) or wraps a caller's FileHandle (left open for its owner). */
  static async open(file: unknown, what = 'file'): Promise<ReadableFile> {
    let fh: FileHandle;
    let path: string | null = null;
    if (isFileHandle(file)) {
      fh = file;
    } else {
      if (!(typeof file === 'string' && file.length > 0) && !(file instanceof URL)) {
        throw invalidArg(`${what} must be a path (string or file: URL) or a FileHandle, got ${describe(file)}`);
      }
      path = typeof file === 'string' ? file : fileURLToPath(file);
      try {
        fh = await fsOpen(path, 'r');
      } catch (e) {
        throw ioError('open', path, e);
      }
    }
    const name = path ?? `file descriptor ${fh.fd}`;
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        // The wrong kind of file, not a wrong argument type: ERR_IO with the path.
        throw ioError('read', name, Object.assign(new Error(st.isDirectory() ? 'is a directory' :
          'not a regular file; positional reads need one'), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' }));
      }
      return new ReadableFile(fh, name, path, st.size, path !== null);
    } catch (e) {
      if (path !== null) await fh.close().catch(() => {});
      throw e instanceof WeightsealError ? e : ioError('stat', name, e);
    }
  }

  /** Reads at `position` until dst is full or the file ends; returns the bytes read. */
  async readAt(dst: Uint8Array, position: number): Promise<number> {
    let done = 0;
    try {
      while (done < dst.length) {
        const { bytesRead } = await this.fh.read(dst, done, dst.length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (e) {
      throw ioError('read', this.name, e);
    }
    return done;
  }

  /** Fills dst from `position`; a file that ends first was truncated while in use. */
  async readExactly(dst: Uint8Array, position: number): Promise<void> {
    const done = await this.readAt(dst, position);
    if (done < dst.length) {
      throw new WeightsealError('ERR_TRUNCATED',
        `${this.name} ended at byte ${position + done}, but was ${this.size} bytes when opened; ` +
          'it was truncated while in use', { path: this.name });
    }
  }

  /** Closes the handle if this opened it; a caller's FileHandle stays open. */
  async close(): Promise<void> {
    if (!this.owned) return;
    try {
      await this.fh.close();
    } catch (e) {
      throw ioError('close', this.name, e);
    }
  }
}
