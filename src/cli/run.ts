/**
 * `weightseal run MODEL --key-file K -- CMD ARGS...`: opens MODEL into an anonymous memory file
 * (io/memory-file.ts) and runs CMD with every `{}` in ARGS replaced by a path the child can
 * open. The descriptor is close-on-exec in this process, so the child gets it only because it
 * is placed in the child's descriptor slot 3 (Node's stdio array dup2s it there); `{}` is
 * therefore `/proc/self/fd/3`, which names the model in the child (and in any of its children
 * that inherit slot 3), and nothing in any other process. Signals are forwarded, the exit code
 * is the child's (128 + N when a signal N ended it), and the memory is freed when it exits.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { openInMemory } from '../io/memory-file.js';
import type { PipelineOptions } from '../pipeline/options.js';
import { bytesHuman } from './inspect.js';
import { EXIT, UsageError } from './exit.js';
import { isRemoteUrl } from '../remote/options.js';
import { redactUrl } from '../remote/redact.js';

/** The child's descriptor for the model: the first slot after stdin, stdout and stderr. */
export const CHILD_FD = 3;
export const CHILD_PATH = `/proc/self/fd/${CHILD_FD}`;

/** Forwarded to the child; SIGUSR1 is left alone (Node reserves it for the inspector). */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGWINCH'];

export interface RunOptions {
  key: Uint8Array;
  opts: PipelineOptions;
  quiet: boolean;
  say(line: string): void;
}

/** Every `{}` in each argument (also inside one, as in `--model={}`) becomes CHILD_PATH. */
export function substitute(args: string[]): { args: string[]; used: boolean } {
  let used = false;
  const out = args.map((a) => {
    if (!a.includes('{}')) return a;
    used = true;
    return a.replaceAll('{}', CHILD_PATH);
  });
  return { args: out, used };
}

function exitCodeOfSignal(signal: NodeJS.Signals): number {
  const n = constants.signals[signal];
  return 128 + (typeof n === 'number' ? n : 0);
}

export async function runWithModel(model: string, command: string[], o: RunOptions): Promise<number> {
  if (command.length === 0) {
    throw new UsageError('run: give the command after --, e.g. weightseal run m.sealed --key-file k -- llama-server -m {}');
  }
  const { args, used } = substitute(command.slice(1));
  if (!used) o.say(`warning: no {} in the command's arguments; the model is only on its descriptor ${CHILD_FD}`);
  const t0 = performance.now();
  const file = await openInMemory(model, o.key, o.opts);
  try {
    if (!o.quiet) {
      // A presigned URL's query string is a credential: show scheme://host/path only.
      const shown = isRemoteUrl(model) ? redactUrl(model) : model;
      o.say(`opened ${shown} into memory: ${bytesHuman(file.size)} in ${((performance.now() - t0) / 1000).toFixed(2)} s; ` +
        `running ${command[0]} with {} = ${CHILD_PATH}`);
    }
    return await new Promise<number>((resolve) => {
      const child = spawn(command[0]!, args, { stdio: ['inherit', 'inherit', 'inherit', file.fd] });
      const forward = (signal: NodeJS.Signals) => {
        try {
          child.kill(signal);
        } catch {
          // Already gone: its exit event follows.
        }
      };
      for (const s of FORWARDED) process.on(s, forward);
      const done = (code: number) => {
        for (const s of FORWARDED) process.off(s, forward);
        resolve(code);
      };
      child.on('error', (e: NodeJS.ErrnoException) => {
        o.say(`weightseal: cannot run ${command[0]}: ${e.message}`);
        // The shell's codes: 127 not found, 126 found but not runnable.
        done(e.code === 'ENOENT' ? 127 : e.code === 'EACCES' ? 126 : EXIT.FAILURE);
      });
      child.on('exit', (code, signal) => done(signal ? exitCodeOfSignal(signal) : code ?? EXIT.FAILURE));
    });
  } finally {
    await file.close();
  }
}
