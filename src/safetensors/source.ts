/**
 * The random-access reader SealedSafetensors is written against: a sealed file (SealedFile,
 * which decrypts only the chunks a read covers) or a plaintext file, behind one interface so a
 * loader has one code path whether or not its weights are sealed.
 */
import { open as fsOpen, type FileHandle } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { WeightsealError, invalidArg, ioError } from '../errors.js';
import type { Suite } from '../cobblestone.js';
import type { BackendName } from '../backend/index.js';
import { SealedFile } from '../sealed-file.js';

export interface RandomAccess {
  /** Plaintext length in bytes. */
  readonly size: number;
  /** `length` bytes from `position` into a new buffer. */
  read(position: number, length: number): Promise<Uint8Array>;
  /** Fills `buffer` with the bytes at `position`. */
  readInto(buffer: Uint8Array, position: number): Promise<unknown>;
  close(): Promise<void>;
}

export type Key = Uint8Array | KeyObject;

export interface SourceOptions {
  suite?: Suite;
  context?: string | Uint8Array;
  backend?: BackendName;
  threads?: number;
}

/** A plaintext file read with positional reads; short reads are retried, EOF is an error. */
export class PlainFile implements RandomAccess {
  private constructor(private readonly fh: FileHandle, readonly size: number,
    private readonly owned: boolean, readonly path: string) {}

  static async open(pathOrFh: string | FileHandle): Promise<PlainFile> {
    const owned = typeof pathOrFh === 'string';
    const name = owned ? pathOrFh : `file descriptor ${pathOrFh.fd}`;
    let fh: FileHandle;
    try {
      fh = owned ? await fsOpen(pathOrFh, 'r') : pathOrFh;
    } catch (e) {
      throw ioError('open', name, e);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw invalidArg(`${name} is not a regular file`);
      return new PlainFile(fh, st.size, owned, name);
    } catch (e) {
      if (owned) await fh.close().catch(() => {});
      throw e instanceof WeightsealError ? e : ioError('stat', name, e);
    }
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    await this.readInto(buf, position);
    return buf;
  }

  async readInto(buffer: Uint8Array, position: number): Promise<number> {
    let done = 0;
    while (done < buffer.length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.fh.read(buffer, done, buffer.length - done, position + done));
      } catch (e) {
        throw ioError('read', this.path, e);
      }
      if (n === 0) {
        throw new WeightsealError('ERR_TRUNCATED',
          `${this.path} ended at ${position + done} bytes while reading ${buffer.length} bytes at ${position}`,
          { path: this.path });
      }
      done += n;
    }
    return done;
  }

  async close(): Promise<void> {
    if (this.owned) await this.fh.close();
  }
}

/** `key: null` opens plaintext; a key opens a sealed file (commitment checked on open). */
export async function openSource(pathOrFh: string | FileHandle, key: Key | null,
  opts: SourceOptions = {}): Promise<RandomAccess> {
  if (key === null) return PlainFile.open(pathOrFh);
  const { suite, context, backend } = opts;
  return SealedFile.open(pathOrFh, key, { suite, context, backend });
}
