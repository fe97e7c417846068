/**
 * seal / open / verify for the command. The output goes to a temporary file beside OUT that
 * is renamed only after the last slot is written and the whole input authenticated; the
 * command owns that file, so Ctrl-C (see cleanup.ts) and failures remove it and OUT is
 * untouched; what a SIGKILL leaves is swept by the next seal or open into the directory
 * (io/temp.ts). Slots from the pipeline are written straight from its buffers at their offset.
 */
import { open as fsOpen, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HEADER_BYTES, plaintextLengthOfBody, sealedLength } from '../cobblestone.js';
import { WeightsealError, ioError } from '../errors.js';
import { publish, sweepStaleTemps, tempPathFor } from '../io/temp.js';
import { runBounce } from '../safetensors/engine.js';
import type { Key, SourceOptions } from '../safetensors/source.js';
import { trackTemp, untrackTemp } from './cleanup.js';
import { progressBar } from './progress.js';

export interface FileResult {
  input: string;
  output: string | null;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
  gbps: number;
}

export interface FileOpOptions extends SourceOptions {
  overwrite?: boolean;
  progress?: boolean;
  /** Told about each stale temporary file removed from OUT's directory. */
  say?: (line: string) => void;
}

async function inputSize(path: string): Promise<number> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new WeightsealError('ERR_IO', `${path} is not a regular file`, { path });
    return st.size;
  } catch (e) {
    throw ioError('read', path, e);
  }
}

/** Expected output length, for the progress bar only (the pipeline does the real checks). */
function expectedOut(mode: 'seal' | 'open', size: number): number {
  if (mode === 'seal') return sealedLength(size);
  try {
    return size < HEADER_BYTES ? 0 : plaintextLengthOfBody(size - HEADER_BYTES);
  } catch {
    return size;
  }
}

async function refuseExisting(out: string, overwrite: boolean | undefined): Promise<void> {
  if (overwrite) return;
  try {
    await stat(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw ioError('check', out, e);
  }
  throw existsError(out);
}

function existsError(out: string): WeightsealError {
  return new WeightsealError('ERR_EXISTS', `${out} already exists; pass --overwrite to replace it`, { path: out });
}

/** Seals or opens IN into OUT (or, for verify, into nothing). */
export async function transformFile(mode: 'seal' | 'open', input: string, output: string | null,
  key: Key, opts: FileOpOptions): Promise<FileResult> {
  const size = await inputSize(input);
  if (output !== null) await refuseExisting(output, opts.overwrite);
  const total = expectedOut(mode, size);
  const label = output === null ? 'verify' : mode;
  let tmp: string | null = null;
  let fh: FileHandle | null = null;
  if (output !== null) {
    for (const t of await sweepStaleTemps(dirname(output))) {
      opts.say?.(`removed stale temporary file ${t.path} (its process ${t.pid} is gone)`);
    }
    tmp = tempPathFor(output);
    trackTemp(tmp);
    try {
      fh = await fsOpen(tmp, 'wx', 0o644);
    } catch (e) {
      untrackTemp(tmp);
      throw ioError('create', tmp, e);
    }
  }
  const bar = progressBar(label, total, opts.progress ?? false);
  let written = 0;
  const t0 = performance.now();
  try {
    await runBounce(input, key, mode, opts, async (view, offset) => {
      if (fh) {
        let done = 0;
        while (done < view.length) {
          const { bytesWritten } = await fh.write(view, done, view.length - done, offset + done);
          done += bytesWritten;
        }
      }
      written = Math.max(written, offset + view.length);
      bar.update(written);
    });
    if (fh) {
      await fh.sync();
      await fh.close();
      fh = null;
      await publish(tmp!, output!, opts.overwrite ?? false, existsError);
      untrackTemp(tmp!);
      tmp = null;
    }
  } catch (e) {
    throw e instanceof WeightsealError ? e : ioError(`${mode} into`, output ?? input, e);
  } finally {
    bar.stop();
    if (fh) await fh.close().catch(() => {});
    if (tmp) {
      await unlink(tmp).catch(() => {});
      untrackTemp(tmp);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return { input, output, bytesIn: size, bytesOut: written, seconds, gbps: size / seconds / 1e9 };
}
