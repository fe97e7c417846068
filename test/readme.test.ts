// Every code block of README.md runs as written, in a temporary directory: the shell blocks
// with bash -e (npx weightseal is this checkout's command, from source), the TypeScript blocks
// as modules importing 'weightseal' (this checkout's src/index.ts). What a block takes from
// its surroundings (a key from your KMS, the weights, upload()) is defined by a prelude and
// the files it names are made first; the block's own text is never edited. Blocks of
// repository commands (npm install, npm test) carry a `<!-- readme-test: skip (why) -->` line.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealInline } from '../src/format.js';
import { safetensorsBytes, SMALL_MODEL } from './fixtures/safetensors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'test/fixtures/cli-from-source.mjs');
const KEY = new Uint8Array(32).map((_, i) => i * 5 + 1);
const CONTEXT = 'llama-3-8b/v1';

/** A child process, awaited without blocking this worker (vitest's own messages keep flowing). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env):
  Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 540_000 });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d; });
    c.stderr.on('data', (d: Buffer) => { stderr += d; });
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface Block { lang: string; code: string; line: number; skip: string | null }

function readmeBlocks(text: string): Block[] {
  const lines = text.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    const marker = /<!-- readme-test: skip \((.+)\) -->/.exec(lines[start - 1] ?? '');
    out.push({ lang: open[1]!, code: body.join('\n'), line: start + 1, skip: marker ? marker[1]! : null });
  }
  return out;
}

const blocks = readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
let dir: string;

/** What the TypeScript blocks take from around them; the files they name exist already. */
const PRELUDE = `
import { readFileSync as __readFileSync, createReadStream as __createReadStream } from 'node:fs';
import { Writable as __Writable } from 'node:stream';
const key = new Uint8Array(__readFileSync('key.bin'));
const weights = new Uint8Array(3 * 16384 + 77).fill(42);
const __calls = { upload: 0, copyToDevice: 0 };
function upload(_name: string, data: Uint8Array) { __calls.upload += data.length >= 0 ? 1 : 0; }
async function copyToDevice(view: Uint8Array, _offset: number) { __calls.copyToDevice += view.length >= 0 ? 1 : 0; }
const src = __createReadStream('stream.sealed');
const dst = new __Writable({ write(_c: unknown, _e: unknown, cb: () => void) { cb(); } });
process.on('beforeExit', () => { console.log('README-CALLS ' + JSON.stringify(__calls)); });
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weightseal-readme-'));
  // 'weightseal' resolves to this checkout's sources, loaded through the same hooks the pool uses.
  const pkg = join(dir, 'node_modules', 'weightseal');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'weightseal', type: 'module', exports: './index.mjs' }));
  writeFileSync(join(pkg, 'index.mjs'), `export * from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/index.ts')).href)};\n`);
  writeFileSync(join(dir, 'hooks.mjs'), `import { register } from 'node:module';\n` +
    `register(${JSON.stringify(pathToFileURL(join(ROOT, 'src/pipeline/ts-hooks.mjs')).href)});\n`);
  // `npx weightseal` is this checkout's command (npx would otherwise look in the registry).
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'npx'), `#!/bin/sh\nif [ "$1" = weightseal ]; then shift; exec "${process.execPath}" "${CLI}" "$@"; fi\n` +
    'echo "readme test: only npx weightseal is available" >&2; exit 127\n', { mode: 0o755 });
  // Files the blocks name: a model for the command, sealed files for the library blocks.
  const model = safetensorsBytes(SMALL_MODEL); // its first tensor is model.embed_tokens.weight
  writeFileSync(join(dir, 'model.safetensors'), model.bytes);
  writeFileSync(join(dir, 'key.bin'), KEY);
  writeFileSync(join(dir, 'llama.safetensors.sealed'), sealInline(KEY, model.bytes, { backend: 'node', context: CONTEXT }));
  writeFileSync(join(dir, 'weights.sealed'), sealInline(KEY, new Uint8Array(40_000).fill(9), { backend: 'node', context: CONTEXT }));
  writeFileSync(join(dir, 'model.bin'), new Uint8Array(2_000_000).map((_, i) => i & 0xff));
  writeFileSync(join(dir, 'stream.sealed'), sealInline(KEY, new Uint8Array(50_000).fill(1), { backend: 'node' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README.md code blocks', () => {
  it('every block is run here or says why not', () => {
    for (const b of blocks) {
      if (b.lang === '' || b.lang === 'text') continue; // diagrams and formats, not code
      expect(['sh', 'ts', 'js'], `README line ${b.line}: \`\`\`${b.lang}`).toContain(b.lang);
    }
    expect(blocks.filter((b) => b.lang === 'sh' && !b.skip).length).toBeGreaterThanOrEqual(1);
    expect(blocks.filter((b) => (b.lang === 'ts' || b.lang === 'js') && !b.skip).length).toBeGreaterThanOrEqual(3);
  });

  const runnable = blocks.filter((b) => !b.skip && ['sh', 'ts', 'js'].includes(b.lang));
  it.each(runnable.map((b) => [b.line, b] as const))('the block at line %i runs as written', async (_line, b) => {
    if (b.lang === 'sh') {
      const r = await run('bash', ['-e', '-o', 'pipefail', '-c', b.code],
        { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      // What the block promises: the opened model is the original, created 0600.
      expect(readFileSync(join(dir, 'restored.safetensors'))).toEqual(readFileSync(join(dir, 'model.safetensors')));
      expect(statSync(join(dir, 'restored.safetensors')).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'model.key')).mode & 0o777).toBe(0o600);
      return;
    }
    const file = join(dir, `block-${b.line}.ts`);
    writeFileSync(file, `${PRELUDE}\n${b.code}\n`);
    const r = await run(process.execPath, ['--import', './hooks.mjs', file]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const calls = JSON.parse(/README-CALLS (.*)/.exec(r.stdout)![1]!) as Record<string, number>;
    // A block that hands data on (upload, copyToDevice) did hand some on.
    for (const [fn, n] of Object.entries(calls)) if (b.code.includes(`${fn}(`)) expect(n, fn).toBeGreaterThan(0);
  }, 600_000); // the command block starts the command seven times and runs a quick bench
});
