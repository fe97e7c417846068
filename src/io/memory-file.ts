/**
 * openInMemory: a sealed model opened into an anonymous memory file (Linux memfd), for
 * runtimes that take a path and nothing else (llama.cpp, onnxruntime, anything that mmaps its
 * weights). The plaintext never reaches a filesystem: it lives in RAM (or swap, see README
 * "Memory files"), and the path is /proc/self/fd/N, which only this process (and a child it
 * hands the descriptor to) can open.
 *
 * The pipeline writes each verified slot with pwrite(2) straight from the slot ring (Node's
 * fs.write on the descriptor; no copy through JS). Only when every chunk has verified is the
 * file sealed against writing, growing and shrinking (F_SEAL_*), and only then is it handed
 * out; a failed open closes the descriptor, which frees the pages, and returns nothing.
 */
import type { KeyObject } from 'node:crypto';
import { close as fsClose, fstat, write as fsWrite } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { addonStatus } from '../backend/addon.js';
import { WeightsealError, ioError } from '../errors.js';
import { runPipeline } from '../pipeline/engine.js';
import { checkOptions, resolveKeys, resolveTuning, type PipelineOptions } from '../pipeline/options.js';
import { MEMORY_FILE_KEYS } from '../option-keys.js';
import { checkKeys } from '../options-check.js';
import { pathArg } from './files.js';
import { FileSource, isFileHandle } from './sources.js';
import { RangedObject, isRemoteUrl, remoteByteSource, type RemoteOptions } from '../remote/open.js';
import { remoteTuning } from '../remote/tuning.js';

const write = promisify(fsWrite);
const closeFd = promisify(fsClose);
const statFd = promisify(fstat);

/** pwrites in flight at once, as for openFile: enough to keep the copy into page cache busy. */
const WRITE_CONCURRENCY = 4;

/** The name the descriptor's link shows (`/memfd:weightseal (deleted)`): no model name, no secret. */
const MEMFD_NAME = 'weightseal';

export interface MemoryFile extends AsyncDisposable {
  /** `/proc/self/fd/N`: opens the plaintext in this process only. Throws ERR_CLOSED after close(). */
  readonly path: string;
  /** The descriptor (close-on-exec). Throws ERR_CLOSED after close(). */
  readonly fd: number;
  /** Plaintext bytes. */
  readonly size: number;
  /** Closes the descriptor; the pages are freed once no runtime holds the file open or mapped. Idempotent. */
  close(): Promise<void>;
}

class SealedMemoryFile implements MemoryFile {
  #fd: number;
  #closing: Promise<void> | null = null;

  constructor(fd: number, readonly size: number) {
    this.#fd = fd;
  }

  // After close the number may be reused by any other open(): never hand out a stale one.
  get fd(): number {
    if (this.#closing) throw new WeightsealError('ERR_CLOSED', 'this MemoryFile was closed; open it again');
    return this.#fd;
  }

  get path(): string {
    return `/proc/self/fd/${this.fd}`;
  }

  close(): Promise<void> {
    this.#closing ??= closeFd(this.#fd).catch((e: unknown) => {
      throw ioError('close', `memory file (fd ${this.#fd})`, e);
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function unsupported(why: string): WeightsealError {
  return new WeightsealError('ERR_UNSUPPORTED', `openInMemory ${why}. Use SealedFile (random access into your ` +
    'own buffers) or bounce; or, accepting a file, openFile to a RAM-backed path such as /dev/shm');
}

/** The addon's memfd calls, or why there are none here. */
function memfdCalls(): { create(name: string): number; seal(fd: number): void } {
  if (process.platform !== 'linux') {
    throw unsupported(`needs Linux (memfd_create); this is ${process.platform}`);
  }
  const { addon, errors } = addonStatus();
  if (!addon?.memfdCreate || !addon.memfdSeal) {
    const reason = addon ? 'this build of the addon predates memfd (run `npm run build`)' :
      `the addon is not loaded (${errors[errors.length - 1] ?? 'unknown reason'}; see \`weightseal doctor\`)`;
    throw unsupported(`needs the native addon for memfd_create and file seals, and ${reason}`);
  }
  const { memfdCreate, memfdSeal } = addon;
  return { create: (n) => memfdCreate(n), seal: (fd) => memfdSeal(fd) };
}

async function writeAll(fd: number, view: Uint8Array, position: number): Promise<void> {
  let done = 0;
  try {
    while (done < view.length) {
      const { bytesWritten } = await write(fd, view, done, view.length - done, position + done);
      done += bytesWritten;
    }
  } catch (e) {
    // ENOSPC/ENOMEM here means the memory (or its cgroup limit) ran out.
    throw ioError('write', 'memory file', e);
  }
}

/**
 * Opens sealed `src` (a path, file: URL or FileHandle) into an anonymous memory file. Resolves
 * only once every chunk verified and the file is sealed read-only; a failure rejects with the
 * same codes as openFile and leaves nothing open. Linux only (ERR_UNSUPPORTED elsewhere or
 * without the native addon).
 */
export async function openInMemory(src: string | URL | FileHandle, key: Uint8Array | KeyObject,
  opts?: PipelineOptions & RemoteOptions): Promise<MemoryFile> {
  const o = checkOptions(opts);
  checkKeys(o, MEMORY_FILE_KEYS, 'options');
  const keys = resolveKeys(key, o);
  // http(s):// and s3:// sources are read as parallel ranges, as openFile reads them (README
  // "Load from object storage"); a URL is never handed to the filesystem as a path.
  const remote = isRemoteUrl(src) || src instanceof RangedObject;
  const tuning = remote ? remoteTuning(resolveTuning(o), o as RemoteOptions) : resolveTuning(o);
  if (!remote && !isFileHandle(src)) pathArg(src, 'src');
  const memfd = memfdCalls();
  const source = remote ? await remoteByteSource(src as string | URL | RangedObject, o as RemoteOptions) :
    await FileSource.open(isFileHandle(src) ? src : pathArg(src, 'src'));
  let fd = -1;
  try {
    try {
      fd = memfd.create(MEMFD_NAME);
    } catch (e) {
      throw ioError('create', 'memory file', e);
    }
    const target = fd;
    const totals = await runPipeline('open', keys, source, {
      write: (view, offset) => writeAll(target, view, offset),
      concurrency: WRITE_CONCURRENCY,
    }, tuning);
    const st = await statFd(fd);
    if (st.size !== totals.bytesOut) {
      throw new WeightsealError('ERR_IO', `memory file holds ${st.size} bytes, expected ${totals.bytesOut}; ` +
        'something else wrote to it');
    }
    try {
      memfd.seal(fd);
    } catch (e) {
      throw ioError('seal', 'memory file', e);
    }
    const file = new SealedMemoryFile(fd, totals.bytesOut);
    fd = -1;
    return file;
  } finally {
    // Closing the only descriptor frees every page written so far: nothing partial survives.
    if (fd >= 0) await closeFd(fd).catch(() => {});
    await source.close().catch(() => {});
  }
}
