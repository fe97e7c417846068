import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { configFor, layout } from '../src/demo/model.js';
import { checkFreeSpace, parseSize } from '../src/demo/run.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weightseal-demo-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('demo', () => {
  it('parses sizes', () => {
    expect(parseSize('2GiB')).toBe(2 * 2 ** 30);
    expect(parseSize('500 MiB')).toBe(500 * 2 ** 20);
    expect(parseSize('1.5G')).toBe(1.5 * 2 ** 30);
    expect(parseSize('80GB')).toBe(80e9);
    expect(() => parseSize('81GiB')).toThrow(/at most 80 GiB/);
    expect(() => parseSize('lots')).toThrow(/--size/);
  });

  it('lays out a transformer close to the requested size', () => {
    for (const size of [16 * 2 ** 20, 2 * 2 ** 30, 80 * 2 ** 30]) {
      const c = configFor(size);
      const bytes = layout(c).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1) * 2, 0);
      expect(bytes).toBeLessThanOrEqual(size);
      expect(bytes).toBeGreaterThan(size * 0.85);
      expect(c.layers).toBeGreaterThanOrEqual(2);
    }
    const names = layout(configFor(2 * 2 ** 30)).map((t) => t.name);
    expect(names[0]).toBe('model.embed_tokens.weight');
    expect(names).toContain('model.layers.0.self_attn.q_proj.weight');
    expect(names).toContain('model.layers.0.mlp.down_proj.weight');
    expect(names.at(-1)).toBe('lm_head.weight');
  });

  it('runs end to end and writes json, markdown and svg', async () => {
    let out = '';
    let err = '';
    const code = await runCli(['demo', '--size', '24MiB', '--compare-size', '16MiB', '--quick', '--json',
      '--dir', dir, '--out', join(dir, 'results')], { out: (t) => { out += t; }, err: (t) => { err += t; } });
    expect(err).toBe('');
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.steps.map((s: { step: string }) => s.step)).toEqual(
      ['generate model', 'seal', 'verify', 'open', 'SHA-256 check', 'random access (3 tensors)',
        'remote: 3 tensors by URL', 'remote: whole model by URL']);
    const backends = new Set(r.comparison.map((x: { backend: string }) => x.backend));
    for (const b of ['plain copy', 'node:crypto', 'noble']) expect(backends).toContain(b);
    const files = (await readdir(join(dir, 'results'))).sort();
    expect(files.map((f) => f.replace(/^.*\./, ''))).toEqual(['json', 'md', 'svg']);
    const svg = await readFile(join(dir, 'results', files[2]!), 'utf8');
    expect(svg).toMatch(/^<svg/);
    for (const label of ['driver bounce path, 4 GB/s', '50 GB/s', 'PCIe Gen5 x16, 64 GB/s', 'noble', 'plain copy']) {
      expect(svg).toContain(label);
    }
    expect(await readFile(join(dir, 'results', files[1]!), 'utf8')).toMatch(/\| backend \| seal 1T/);
    // Model files removed (no --keep): only the results folder is left.
    expect(await readdir(dir)).toEqual(['results']);
  }, 120_000);

  it('checks free space before writing anything', async () => {
    await expect(checkFreeSpace(dir, 2 ** 60)).rejects.toMatchObject({ code: 'ERR_IO', message: /free but the demo needs/ });
    await expect(checkFreeSpace(dir, 1)).resolves.toBeUndefined();
  });
});
