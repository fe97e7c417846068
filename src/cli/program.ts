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
import { isRemoteUrl } from '../remote/open.js';
import { isIndexUrl } from '../remote/shards.js';
import { installSignalCleanup } from './cleanup.js';
import { doctor, formatDoctor } from './doctor.js';
import { EXIT, UsageError, exitCodeFor } from './exit.js';
import { transformFile, type FileResult } from './files.js';
import { verifyIndex } from './verify-index.js';
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
  // Known before parsing, so a usage error is JSON too; bench's own --json FILE is not this flag.
  let json = argv[0] !== 'bench' && argv.includes('--json');
  let jsonTo: 'out' | 'err' = 'out';
  let code: number = EXIT.OK;
  // With OUT `-` stdout carries the data: the summary and --json go to stderr.
  const emit = (o: CommonOpts, result: unknown, human: string | null) => {
    const say = jsonTo === 'err' ? io.err : io.out;
    if (o.json) say(JSON.stringify({ ok: true, ...(result as object) }, null, 2));
    else if (!o.quiet && human !== null) say(human);
  };
  const warn = (o: CommonOpts) => (line: string) => { if (!o.quiet || line.startsWith('warning')) io.err(line); };
  const keyOf = async (o: CommonOpts, noKeyHint = '') => {
    const k = await loadKey({ keyFile: o.keyFile, keyEnv: o.keyEnv }, warn(o), noKeyHint);
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
  const interrupted = (signal: string, code: number) => {
    const say = jsonTo === 'err' ? io.err : io.out;
    if (json) say(JSON.stringify(failure(code, 'ERR_ABORTED', `interrupted (${signal})`), null, 2));
  };

  withOutput(program.command('keygen <out>')
    .description('write a new random key (32 bytes, or 16 with --suite cobblestone-128), mode 0600')
    .addOption(suiteOption())
    .option('--hex', 'write the key as hex text (what --key-env takes) instead of raw bytes'))
    .action(async (out: string, o: CommonOpts & { hex?: boolean }) => {
      const r = await keygen(out, o.suite ?? 'cobblestone-256', o.hex ? 'hex' : 'raw');
      emit(o, r, `wrote a ${r.bytes * 8}-bit key${o.hex ? ' as hex' : ''} to ${out} (mode 0600); ` +
        'keep it out of version control');
    });

  for (const mode of ['seal', 'open'] as const) {
    withOutput(withRemote(withKey(program.command(`${mode} <in> <out>`)
      .description((mode === 'seal' ? 'encrypt IN into OUT' : 'decrypt and authenticate IN into OUT') +
        '; - for stdin / stdout')
      .option('--overwrite', 'replace OUT if it is an existing regular file'))))
      .action(async (input: string, output: string, o: CommonOpts) => {
        checkStdio(input, output, o);
        if (output === '-') jsonTo = 'err';
        const { key, opts } = await keyOf(o);
        installSignalCleanup((l) => io.err(l), interrupted);
        const r = await transformFile(mode, input, output, key,
          { ...opts, overwrite: o.overwrite, progress: !o.quiet && !o.json, say: warn(o) });
        emit(o, r, `${mode === 'seal' ? 'sealed' : 'opened'} ${input === '-' ? 'stdin' : r.input} -> ` +
          `${output === '-' ? 'stdout' : r.output}: ${gbps(r)}`);
      });
  }

  withOutput(withRemote(withKey(program.command('verify <in>')
    .description('authenticate every chunk of IN (for a sharded *.index.json: the index and every shard); writes nothing')
    .option('--plaintext-index', 'IN is a sharded checkpoint whose index is not sealed (the shards are)'))))
    .action(async (input: string, o: CommonOpts & { plaintextIndex?: boolean }) => {
      checkStdio(input, null, o);
      const { key, opts } = await keyOf(o);
      installSignalCleanup((l) => io.err(l), interrupted);
      const remote: boolean = isRemoteUrl(input);
      if (remote ? isIndexUrl(input) : input.endsWith('.index.json')) {
        const r = await verifyIndex(input, key, { ...opts, plaintextIndex: o.plaintextIndex ?? false },
          { progress: !o.quiet && !o.json });
        emit(o, { ...r, authenticated: true }, `${r.input}: OK, index and ${r.shards.length} shards authenticated ` +
          `(${bytesHuman(r.bytesOut)} of plaintext in ${bytesHuman(r.bytesIn)} sealed)`);
        return;
      }
      const r = await transformFile('open', input, null, key, { ...opts, progress: !o.quiet && !o.json });
      emit(o, { ...r, authenticated: true }, `${input === '-' ? 'stdin' : r.input}: OK, ${bytesHuman(r.bytesOut)} of ` +
        `plaintext authenticated in ${bytesHuman(r.bytesIn)} sealed: ${r.seconds.toFixed(2)} s (${r.gbps.toFixed(2)} GB/s)`);
    });

  withRemote(withKey(program.command('run <model> [command...]')
    .description('open MODEL into memory (Linux memfd, never a file) and run COMMAND after --, each {} in its ' +
      'arguments replaced by a path to the plaintext; exits with its code')
    .option('-q, --quiet', 'no summary line')))
    .action(async (model: string, command: string[], o: CommonOpts) => {
      const { key, opts } = await keyOf(o);
      code = await runWithModel(model, command, { key, opts, quiet: !!o.quiet, say: (l) => io.err(l) });
    });

  withOutput(withRemote(withKey(program.command('inspect <in>')
    .description('tensor table of a sealed safetensors file (decrypts only its header)')
    .option('--plaintext', 'IN is an unsealed .safetensors file (no key)'))))
    .action(async (input: string, o: CommonOpts) => {
      const sealed = !o.plaintext;
      const { key, opts } = sealed ? await keyOf(o, '; for an unsealed .safetensors file pass --plaintext') :
        { key: null, opts: { headers: headersOf(o.header), connections: o.connections } };
      const r = await inspect(input, key, opts);
      if (o.json) io.out(JSON.stringify({ ok: true, ...r }, null, 2));
      else io.out(formatInspect(r));
    });

  program.command('bench')
    .description('run the benchmarks: kernels, pipeline or all (default); prints the tables, and ' +
      'with --json FILE writes the figures; never edits files of the installed package')
    .argument('[which-and-options...]', '[kernels|pipeline|all] then options for the bench: --json FILE, --quick')
    .allowUnknownOption()
    .action(async (args: string[]) => {
      for (const step of benchPlan(args)) {
        const rc = await runBench(step.name, step.args, io);
        if (rc !== 0) { code = rc; return; }
      }
    });

  program.command('demo')
    .description('generate a synthetic model, seal, verify, read it back, and compare backends')
    .option('--size <size>', 'model size, e.g. 2GiB, 500MiB, 80GiB', '2GiB')
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
      // ok: seal and open can run here (on some backend); false when they would throw r.error.
      if (o.json) io.out(JSON.stringify({ ok: r.error === null, ...r }, null, 2));
      else io.out(formatDoctor(r));
      if (r.error !== null) code = EXIT.USAGE;
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
      // commander already printed the message on stderr
      if (json) io.out(JSON.stringify(failure(EXIT.USAGE, 'ERR_USAGE', e.message.replace(/^error: /, '')), null, 2));
      return EXIT.USAGE;
    }
    const exit = exitCodeFor(e);
    const message = cliMessage(e);
    if (json) {
      const text = JSON.stringify(failure(exit,
        isWeightsealError(e) ? e.code : e instanceof UsageError ? 'ERR_USAGE' : 'ERR_INTERNAL', message), null, 2);
      if ((jsonTo as 'out' | 'err') === 'err') io.err(text); else io.out(text);
    }
    io.err(`weightseal: ${message}`);
    if (exit === EXIT.FAILURE && !isWeightsealError(e) && e instanceof Error && e.stack) io.err(e.stack);
    return exit;
  }
}

function failure(exitCode: number, code: string, message: string) {
  return { ok: false, exitCode, error: { code, message } };
}

/** The library's message, plus the command's own words where they name the fix. */
function cliMessage(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (isWeightsealError(e, 'ERR_WRONG_KEY_OR_CONTEXT')) {
    // verify of a plaintext *.index.json: the library's option name means nothing to a shell user.
    const m = message.replace('pass plaintextIndex: true', 'pass --plaintext-index');
    return `${m} (check --key-file/--key-env and --context)`;
  }
  if (isWeightsealError(e, 'ERR_BACKEND_UNAVAILABLE')) {
    return message.replace(/use backend "(\w+)" or "(\w+)"/, 'pass --backend $1 or --backend $2');
  }
  if (isWeightsealError(e, 'ERR_BAD_SAFETENSORS') && /this file is sealed/.test(message)) {
    return `${message} (drop --plaintext and give --key-file or --key-env)`;
  }
  return message;
}

/**
 * `-` is stdin for IN and stdout for OUT, once each: not with the key also on stdin, and not
 * onto a terminal (sealed bytes or a model would flood it).
 */
function checkStdio(input: string, output: string | null, o: CommonOpts): void {
  if (input === '-' && o.keyFile === '-') {
    throw new UsageError('IN and --key-file cannot both be - (stdin); give the key with --key-file PATH or --key-env NAME');
  }
  if (output === '-' && process.stdout.isTTY) {
    throw new UsageError('OUT is - but stdout is a terminal; redirect it to a file or a pipe');
  }
}

/**
 * `bench [kernels|pipeline|all] [options]` as the benches to run: the name is optional (all),
 * so `bench --json F` works; --write-docs belongs to the repository's npm scripts only.
 */
export function benchPlan(args: string[]): { name: string; args: string[] }[] {
  const first = args[0];
  const named = first !== undefined && !first.startsWith('-');
  const w = named ? first : 'all';
  if (!['kernels', 'pipeline', 'all'].includes(w)) throw new UsageError(`bench: unknown benchmark "${w}" (kernels, pipeline or all)`);
  const rest = named ? args.slice(1) : args;
  if (rest.some((a) => a === '--write-docs' || a.startsWith('--write-docs='))) {
    throw new UsageError('bench: --write-docs is for the repository\'s own `npm run bench:*` scripts; ' +
      'the command only prints, and writes --json FILE');
  }
  const names = w === 'all' ? ['kernels', 'pipeline'] : [w];
  // `all` with --json FILE writes FILE.kernels.json and FILE.pipeline.json, not one over the other.
  return names.map((name) => ({ name, args: names.length > 1 ? jsonPerBench(rest, name) : rest }));
}

/** For `bench all --json FILE`: FILE.<name>.json per bench. */
function jsonPerBench(args: string[], name: string): string[] {
  const out = [...args];
  const i = out.indexOf('--json');
  if (i >= 0 && out[i + 1] !== undefined) out[i + 1] = out[i + 1]!.replace(/(\.json)?$/, `.${name}.json`);
  const j = out.findIndex((a) => a.startsWith('--json='));
  if (j >= 0) out[j] = out[j]!.replace(/(\.json)?$/, `.${name}.json`);
  return out;
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
