/**
 * seal / open / verify for the command: the library's file path (io/files.ts: temporary file
 * beside OUT, renamed only once everything is written and authenticated; stale temporaries
 * of dead processes swept) plus what a person at a terminal needs: a progress bar, the
 * temporary file registered for Ctrl-C cleanup (cleanup.ts), and messages that name the
 * command's options.
 */
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { HEADER_BYTES, plaintextLengthOfBody, sealedLength } from '../cobblestone.js';
import { WeightsealError, ioError } from '../errors.js';
import { transformFile as transformFileWith } from '../io/files.js';
import { bounce } from '../stream-api.js';
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
  /** Where OUT `-` goes (default process.stdout). */
  stdout?: Writable;
}

/**
 * What IN is: `-` (stdin), a regular file (read positionally, size known) or something to
 * stream in order: a FIFO, `<(cmd)`, a character device. A directory is ERR_IO.
 */
async function inputOf(path: string): Promise<{ src: string | Readable; size: number | null }> {
  if (path === '-') return { src: process.stdin, size: null };
  let st: Stats;
  try {
    st = await stat(path);
  } catch (e) {
    throw ioError('read', path, e);
  }
  if (st.isDirectory()) {
    throw new WeightsealError('ERR_IO', `${path} is a directory, not a regular file; give a file`, { path });
  }
  if (st.isFile()) return { src: path, size: st.size };
  return { src: createReadStream(path), size: null };
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

/**
 * Seals or opens IN into OUT (or, for verify, into nothing), with a progress bar. IN may be
 * `-` (stdin) or a pipe; OUT may be `-`: stdout, written slot by slot as the pipeline
 * delivers (opening, only verified plaintext), with no temporary file.
 */
export async function transformFile(mode: 'seal' | 'open', input: string, output: string | null,
  key: Key, opts: FileOpOptions): Promise<FileResult> {
  // A URL input is opened here (one request) for its size; the pipeline reads it in parallel ranges.
  const remote: RangedObject | null = isRemoteUrl(input) ? await openRemote(input, opts) : null;
  try {
    const { src, size } = remote ? { src: remote, size: remote.size } : await inputOf(input);
    return await transformWith(mode, input, src, size, output, key, opts);
  } finally {
    await remote?.close();
  }
}

/** What the command shows of a path or URL: a URL without its query string or user info. */
export function shown(where: string): string {
  return isRemoteUrl(where) ? redactUrl(where) : where;
}

async function transformWith(mode: 'seal' | 'open', input: string, src: string | Readable | RangedObject,
  size: number | null, output: string | null, key: Key, opts: FileOpOptions): Promise<FileResult> {
  const o = checkOptions(pick(opts));
  const bar = progressBar(output === null ? 'verify' : mode, size === null ? 0 : expectedOut(mode, size),
    opts.progress ?? false);
  const t0 = performance.now();
  try {
    let bytesIn: number, bytesOut: number;
    if (output === '-') {
      const out = opts.stdout ?? process.stdout;
      const r = await bounce(src, key, {
        ...pick(opts), headers: opts.headers, retry: opts.retry, s3: opts.s3, mode,
        onSlot: (view, offset) => {
          bar.update(offset + view.length);
          return writeOut(out, view);
        },
      });
      ({ bytesIn, bytesOut } = r);
    } else {
      const r = await transformFileWith(mode, src, output, resolveKeys(key, o), resolveTuning(o),
        opts.overwrite ?? false, {
          progress: (n) => bar.update(n),
          tempCreated: trackTemp,
          tempDone: untrackTemp,
          swept: (path, pid) => opts.say?.(`removed stale temporary file ${path} (its process ${pid} is gone)`),
          overwriteHint: 'pass --overwrite to replace it',
        }, opts);
      ({ bytesIn, bytesOut } = r);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { input: shown(input), output: output === null ? null : shown(output), bytesIn, bytesOut, seconds,
      gbps: bytesIn / seconds / 1e9 };
  } finally {
    bar.stop();
  }
}

/** One slot to stdout: a copy (the slot is reused once this settles), done when written out. */
function writeOut(out: Writable, view: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(Buffer.from(view), (e) => (e ? reject(ioError('write', 'stdout', e)) : resolve()));
  });
}
