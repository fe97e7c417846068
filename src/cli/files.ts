/**
 * seal / open / verify for the command: the library's file path (io/files.ts: temporary file
 * beside OUT, renamed only once everything is written and authenticated; stale temporaries
 * of dead processes swept) plus what a person at a terminal needs: a progress bar, the
 * temporary file registered for Ctrl-C cleanup (cleanup.ts), and messages that name the
 * command's options.
 */
import { stat } from 'node:fs/promises';
import { HEADER_BYTES, plaintextLengthOfBody, sealedLength } from '../cobblestone.js';
import { WeightsealError, ioError } from '../errors.js';
import { transformFile as transformFileWith } from '../io/files.js';
import { checkOptions, resolveKeys, resolveTuning } from '../pipeline/options.js';
import { pick } from '../safetensors/engine.js';
import type { Key, SourceOptions } from '../safetensors/source.js';
import { isRemoteUrl, openRemote, type RangedObject, type RemoteOptions } from '../remote/open.js';
import { redactUrl } from '../remote/redact.js';
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

export interface FileOpOptions extends SourceOptions, RemoteOptions {
  overwrite?: boolean;
  progress?: boolean;
  /** Told about each stale temporary file removed from OUT's directory. */
  say?: (line: string) => void;
}

async function inputSize(path: string): Promise<number> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new WeightsealError('ERR_IO', `${path} is not a regular file; give a file, not a directory`, { path });
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

/** Seals or opens IN into OUT (or, for verify, into nothing), with a progress bar. */
export async function transformFile(mode: 'seal' | 'open', input: string, output: string | null,
  key: Key, opts: FileOpOptions): Promise<FileResult> {
  // A URL input is opened here (one request) for its size; the pipeline reads it in parallel ranges.
  const remote: RangedObject | null = isRemoteUrl(input) ? await openRemote(input, opts) : null;
  try {
    return await transformWith(mode, remote ?? input, remote?.size ?? await inputSize(input), output, key, opts);
  } finally {
    await remote?.close();
  }
}

/** What the command shows of a path or URL: a URL without its query string or user info. */
export function shown(where: string): string {
  return isRemoteUrl(where) ? redactUrl(where) : where;
}

async function transformWith(mode: 'seal' | 'open', src: string | RangedObject, size: number, output: string | null,
  key: Key, opts: FileOpOptions): Promise<FileResult> {
  const input = typeof src === 'string' ? src : src.name;
  const o = checkOptions(pick(opts));
  const bar = progressBar(output === null ? 'verify' : mode, expectedOut(mode, size), opts.progress ?? false);
  try {
    const r = await transformFileWith(mode, src, output, resolveKeys(key, o), resolveTuning(o),
      opts.overwrite ?? false, {
        progress: (n) => bar.update(n),
        tempCreated: trackTemp,
        tempDone: untrackTemp,
        swept: (path, pid) => opts.say?.(`removed stale temporary file ${path} (its process ${pid} is gone)`),
        overwriteHint: 'pass --overwrite to replace it',
      }, opts);
    return { input: shown(input), output: output === null ? null : shown(output), bytesIn: size, bytesOut: r.bytesOut,
      seconds: r.seconds, gbps: size / r.seconds / 1e9 };
  } finally {
    bar.stop();
  }
}
