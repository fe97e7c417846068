/**
 * The random-access reader SealedSafetensors is written against: a sealed file (SealedFile,
 * which decrypts only the chunks a read covers) or a plaintext file, behind one interface so a
 * loader has one code path whether or not its weights are sealed.
 */
import type { FileHandle } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import type { Suite } from '../cobblestone.js';
import type { BackendName } from '../backend/index.js';
import { ReadableFile } from '../io/read-file.js';
import { SealedFile } from '../sealed-file.js';
import { RangedObject, type RemoteOptions } from '../remote/open.js';
import { RemotePlain } from '../remote/plain.js';
import { freshOutput } from '../output-memory.js';

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

export interface SourceOptions extends RemoteOptions {
  suite?: Suite;
  context?: string | Uint8Array;
  backend?: BackendName;
  threads?: number;
}

/** A plaintext file read with positional reads; short reads are retried, EOF is an error. */
export class PlainFile implements RandomAccess {
  private constructor(private readonly file: ReadableFile) {}

  static async open(pathOrFh: string | FileHandle): Promise<PlainFile> {
    return new PlainFile(await ReadableFile.open(pathOrFh, 'file'));
  }

  get size(): number {
    return this.file.size;
  }

  get path(): string {
    return this.file.name;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    // Recycled output memory (output-memory.ts): readExactly fills it all or throws, and then it is dropped.
    const buf = freshOutput(length);
    await this.file.readExactly(buf, position);
    return buf;
  }

  async readInto(buffer: Uint8Array, position: number): Promise<number> {
    await this.file.readExactly(buffer, position);
    return buffer.length;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** `key: null` opens plaintext; a key opens a sealed file (commitment checked on open). */
export async function openSource(pathOrFh: string | FileHandle | RangedObject, key: Key | null,
  opts: SourceOptions = {}): Promise<RandomAccess> {
  // A remote object (src/remote) stays open: the model that opened it closes its whole load.
  if (pathOrFh instanceof RangedObject && key === null) return new RemotePlain(pathOrFh);
  if (key === null) return PlainFile.open(pathOrFh as string | FileHandle);
  const { suite, context, backend } = opts;
  return SealedFile.open(pathOrFh, key, { suite, context, backend });
}
