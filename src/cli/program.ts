/**
 * The `weightseal` command (commander). runCli() returns the exit code instead of exiting so
 * tests can drive it in-process; main.ts is the thin executable around it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { packageRoot } from '../backend/addon.js';
import type { BackendName } from '../backend/index.js';
import type { Suite } from '../cobblestone.js';
import { isWeightsealError } from '../errors.js';
import { installSignalCleanup } from './cleanup.js';
import { doctor, formatDoctor } from './doctor.js';
import { EXIT, UsageError, exitCodeFor } from './exit.js';
import { transformFile, type FileResult } from './files.js';
import { bytesHuman, formatInspect, inspect } from './inspect.js';
import { keygen, loadKey } from './keys.js';
import { runWithModel } from './run.js';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

const processIO: CliIO = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
};

interface CommonOpts {
  keyFile?: string;
  keyEnv?: string;
  context?: string;
  suite?: Suite;
  threads?: number;
  backend?: BackendName;
  overwrite?: boolean;
  quiet?: boolean;
  json?: boolean;
  plaintext?: boolean;
  header?: string[];
  connections?: number;
}

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

const suiteOption = () => new Option('--suite <suite>', 'cipher suite (default: from the key length)')
  .choices(['cobblestone-256', 'cobblestone-128']);

function withKey(cmd: Command): Command {
  return cmd
    .option('--key-file <path>', 'file holding the key (raw bytes or hex); - reads it from stdin')
    .option('--key-env <name>', 'environment variable holding the key as hex')
    .option('--context <text>', 'context bound into the key derivation; must match when opening')
    .addOption(suiteOption())
    .option('--threads <n>', 'worker threads (default: all cores; 1 runs inline)', positiveInt('--threads'))
    .addOption(new Option('--backend <name>', 'AES-GCM implementation').choices(['native', 'noble', 'node']));
}

/** http(s):// and s3:// inputs (src/remote): request headers and parallel connections. */
function withRemote(cmd: Command): Command {
  return cmd
    .option('--header <name: value>', 'request header for http(s):// inputs, e.g. "Authorization: Bearer ..." (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v])
    .option('--connections <n>', 'parallel ranged requests for a URL input (default 8)', positiveInt('--connections'));
}

/** --header lines as a headers object; a line without "name: value" is a usage error. */
function headersOf(lines: string[] | undefined): Record<string, string> | undefined {
  if (!lines) return undefined;
  const out: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i <= 0) throw new UsageError('--header must look like "Name: value"');
    out[l.slice(0, i).trim()] = l.slice(i + 1).trim();
  }
  return out;
}

function withOutput(cmd: Command): Command {
  return cmd
    .option('-q, --quiet', 'no progress bar or summary')
    .option('--json', 'print the result as JSON on stdout');
}

function gbps(r: FileResult): string {
  return `${bytesHuman(r.bytesIn)} in ${r.seconds.toFixed(2)} s (${r.gbps.toFixed(2)} GB/s)`;
}

export async function runCli(argv: string[], io: CliIO = processIO): Promise<number> {
  let json = false;
  let code: number = EXIT.OK;
  const emit = (o: CommonOpts, result: unknown, human: string | null) => {
    if (o.json) io.out(JSON.stringify({ ok: true, ...(result as object) }, null, 2));
    else if (!o.quiet && human !== null) io.out(human);
  };
  const warn = (o: CommonOpts) => (line: string) => { if (!o.quiet || line.startsWith('warning')) io.err(line); };
  const keyOf = async (o: CommonOpts) => {
    const k = await loadKey({ keyFile: o.keyFile, keyEnv: o.keyEnv }, warn(o));
    return { key: k.key, opts: { suite: o.suite ?? k.suite, context: o.context, threads: o.threads, backend: o.backend,
      headers: headersOf(o.header), connections: o.connections } };
  };

  const program = new Command('weightseal')
    .description('Seal model weights with AES-GCM (c2sp.org/chunked-encryption) and read them back at memory speed')
    .version(await version(), '-V, --version')
    .showHelpAfterError('(run weightseal --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  program.hook('preAction', (_p, action) => {
    json = !!action.opts().json;
  });

  withOutput(program.command('keygen <out>')
    .description('write a new random key (32 bytes, or 16 with --suite cobblestone-128), mode 0600')
    .addOption(suiteOption()))
    .action(async (out: string, o: CommonOpts) => {
      const r = await keygen(out, o.suite ?? 'cobblestone-256');
      emit(o, r, `wrote a ${r.bytes * 8}-bit key to ${out} (mode 0600); keep it out of version control`);
    });

  for (const mode of ['seal', 'open'] as const) {
    withOutput(withRemote(withKey(program.command(`${mode} <in> <out>`)
      .description(mode === 'seal' ? 'encrypt IN into OUT' : 'decrypt and authenticate IN into OUT')
      .option('--overwrite', 'replace OUT if it exists'))))
      .action(async (input: string, output: string, o: CommonOpts) => {
        const { key, opts } = await keyOf(o);
        installSignalCleanup((l) => io.err(l));
        const r = await transformFile(mode, input, output, key,
          { ...opts, overwrite: o.overwrite, progress: !o.quiet && !o.json, say: warn(o) });
        emit(o, r, `${mode === 'seal' ? 'sealed' : 'opened'} ${r.input} -> ${r.output}: ${gbps(r)}`);
      });
  }

  withOutput(withRemote(withKey(program.command('verify <in>')
    .description('authenticate every chunk of IN; writes nothing'))))
    .action(async (input: string, o: CommonOpts) => {
      const { key, opts } = await keyOf(o);
      const r = await transformFile('open', input, null, key, { ...opts, progress: !o.quiet && !o.json });
      emit(o, { ...r, authenticated: true }, `${r.input}: OK, all ${r.bytesOut} plaintext bytes authenticated: ${gbps(r)}`);
    });

  withKey(program.command('run <model> [command...]')
    .description('open MODEL into memory (Linux memfd, never a file) and run COMMAND after --, each {} in its ' +
      'arguments replaced by a path to the plaintext; exits with its code')
    .option('-q, --quiet', 'no summary line'))
    .action(async (model: string, command: string[], o: CommonOpts) => {
      const { key, opts } = await keyOf(o);
      code = await runWithModel(model, command, { key, opts, quiet: !!o.quiet, say: (l) => io.err(l) });
    });

  withOutput(withRemote(withKey(program.command('inspect <in>')
    .description('tensor table of a sealed safetensors file (decrypts only its header)')
    .option('--plaintext', 'IN is an unsealed .safetensors file (no key)'))))
    .action(async (input: string, o: CommonOpts) => {
      const sealed = !o.plaintext;
      const { key, opts } = sealed ? await keyOf(o) :
        { key: null, opts: { headers: headersOf(o.header), connections: o.connections } };
      const r = await inspect(input, key, opts);
      if (o.json) io.out(JSON.stringify({ ok: true, ...r }, null, 2));
      else io.out(formatInspect(r));
    });

  program.command('bench [which]')
    .description('run the benchmarks: kernels, pipeline or all (extra options go to the bench)')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (which: string | undefined, _o: unknown, cmd: Command) => {
      const w = which ?? 'all';
      if (!['kernels', 'pipeline', 'all'].includes(w)) throw new UsageError(`bench: unknown benchmark "${w}" (kernels, pipeline or all)`);
      const rest = cmd.args.slice(which === undefined ? 0 : 1);
      for (const name of w === 'all' ? ['kernels', 'pipeline'] : [w]) {
        const rc = await runBench(name, rest, io);
        if (rc !== 0) { code = rc; return; }
      }
    });

  program.command('demo')
    .description('generate a synthetic model, seal, verify, read it back, and compare backends')
    .option('--size <size>', 'model size, e.g. 2GiB, 500MiB, 80GiB (default 2GiB)', '2GiB')
    .option('--dir <dir>', 'where to write the model (default: a temporary directory)')
    .option('--out <dir>', 'where to write the results', 'bench-results')
    .option('--keep', 'keep the generated model files')
    .option('--quick', 'fewer, shorter measurements')
    .option('--compare-size <size>', 'buffer per measurement in the comparison (default 512MiB, 128MiB with --quick)')
    .option('--threads <n>', 'threads for "all cores" (default: available parallelism)', positiveInt('--threads'))
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print the results as JSON on stdout')
    .action(async (o: Record<string, unknown>) => {
      installSignalCleanup((l) => io.err(l));
      const { runDemo } = await import('../demo/run.js');
      await runDemo(o as never, io);
    });

  withOutput(program.command('doctor')
    .description('what weightseal sees on this machine: CPU features, OS vector state, kernel, addon, and fixes'))
    .action((o: CommonOpts) => {
      const r = doctor();
      if (o.json) io.out(JSON.stringify(r, null, 2));
      else io.out(formatDoctor(r));
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help asked for is success; help shown because no command was given is a usage error.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      }
      return EXIT.USAGE; // commander already printed the message
    }
    const exit = exitCodeFor(e);
    const message = e instanceof Error ? e.message : String(e);
    if (json) {
      io.out(JSON.stringify({ ok: false, exitCode: exit, error: {
        code: isWeightsealError(e) ? e.code : e instanceof UsageError ? 'ERR_USAGE' : 'ERR_INTERNAL', message } }, null, 2));
    }
    io.err(`weightseal: ${message}`);
    if (exit === EXIT.FAILURE && !isWeightsealError(e) && e instanceof Error && e.stack) io.err(e.stack);
    return exit;
  }
}

async function version(): Promise<string> {
  try {
    const { readFile } = await import('node:fs/promises');
    return (JSON.parse(await readFile(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Runs dist/bench/NAME.js in a child node so its workers and flags are its own. */
function runBench(name: string, args: string[], io: CliIO): Promise<number> {
  const script = join(packageRoot(), 'dist', 'bench', `${name}.js`);
  if (!existsSync(script)) {
    io.err(`weightseal: ${script} not found; build first with \`npm run build\``);
    return Promise.resolve(EXIT.USAGE);
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
    child.on('exit', (c, sig) => resolve(sig ? EXIT.INTERRUPTED : c ?? EXIT.FAILURE));
    child.on('error', (e) => { io.err(`weightseal: cannot run ${script}: ${e.message}`); resolve(EXIT.FAILURE); });
  });
}
