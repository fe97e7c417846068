/**
 * The demo's outputs: a console table, bench-results/<date>.json (everything measured),
 * <date>.md (a Markdown summary a README can quote) and <date>.svg (the chart).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { info } from '../backend/index.js';
import { chartSpec, MARKS, renderSvg } from './chart.js';
import type { CompareRow, PerCore } from './compare.js';

export interface Step {
  step: string;
  seconds: number;
  bytes: number;
  detail: string;
}

export interface DemoResults {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; kernel: string | null; backend: string };
  model: { bytes: number; tensors: number; config: object; sha256: string };
  steps: Step[];
  comparison: CompareRow[];
  /** One-thread rates of the paths users take (absent in results written before they were measured). */
  perCore?: PerCore;
}

export function machine(): DemoResults['machine'] {
  const i = info();
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: i.kernel,
    backend: i.backend,
  };
}

const fmt = (g: number) => (g >= 1 ? g.toFixed(2) : g.toPrecision(2));

/** First column (and `textLast`: the last) left-aligned, numbers right-aligned. */
function table(head: string[], rows: string[][], md: boolean, textLast = false): string {
  const left = (i: number) => i === 0 || (textLast && i === head.length - 1);
  if (md) {
    return [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (left(i) ? '---' : '---:')).join(' | ')} |`,
      ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  }
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (left(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

/** One row per backend: seal and open GB/s at 1 thread and all cores, and cores for 64 GB/s. */
export function comparisonTable(rows: CompareRow[], md = false): string {
  const all = Math.max(...rows.map((r) => r.threads));
  const names = [...new Set(rows.map((r) => r.backend))];
  const get = (b: string, op: string, t: number) =>
    rows.find((r) => r.backend === b && (r.op === op || r.op === 'copy') && r.threads === t);
  const head = ['backend', 'seal 1T', `seal ${all}T`, 'open 1T', `open ${all}T`, `vs copy (${all}T)`, 'cores for 64 GB/s'];
  const body = names.map((b) => {
    const s1 = get(b, 'seal', 1), sN = get(b, 'seal', all), o1 = get(b, 'open', 1), oN = get(b, 'open', all);
    const perCore = Math.min(s1?.gbps ?? 0, o1?.gbps ?? 0);
    return [b, s1 ? fmt(s1.gbps) : '-', sN ? fmt(sN.gbps) : '-', o1 ? fmt(o1.gbps) : '-', oN ? fmt(oN.gbps) : '-',
      sN ? `${sN.vsCopy.toFixed(2)}x` : '-', perCore > 0 ? String(Math.ceil(64 / perCore)) : '-'];
  });
  return table(head, body, md) + (md ? '' : '\n(GB/s = 10^9 bytes of plaintext per second; 1T = one thread)');
}

/**
 * "Cores for 64 GB/s" at three per-core rates: the in-memory pipeline (shared memory lent in
 * place, the table above), an ordinary Buffer, and a page-cached sealed file.
 */
export function coresTable(rows: CompareRow[], perCore: PerCore | undefined, md = false): string {
  const native = rows.filter((r) => r.kernel !== null && r.threads === 1 && r.op !== 'copy');
  const inMemory = native.length > 0 ? Math.max(...[...new Set(native.map((r) => r.backend))].map((b) =>
    Math.min(...native.filter((r) => r.backend === b).map((r) => r.gbps)))) : 0;
  const line = (what: string, g: number) => [what, fmt(g), g > 0 ? String(Math.ceil(64 / g)) : '-'];
  const body = [line('in-memory pipeline (shared memory, table above)', inMemory)];
  if (perCore) {
    body.push(line('ordinary Buffer, seal/open into', perCore.ordinaryBuffer));
    body.push(line('page-cached sealed file, bounce open', perCore.pageCachedFile));
  }
  return table(['path (one thread, slower of seal/open)', 'GB/s per core', 'cores for 64 GB/s'], body, md);
}

export function stepsTable(steps: Step[], md = false): string {
  return table(['step', 'seconds', 'GB/s', 'result'], steps.map((s) => [
    s.step, s.seconds.toFixed(2), s.bytes > 0 ? fmt(s.bytes / s.seconds / 1e9) : '-', s.detail,
  ]), md, true);
}

function markdown(r: DemoResults): string {
  const m = r.machine;
  return `# weightseal demo, ${r.date}

${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Node ${m.node}; default backend ${m.backend}` +
`${m.kernel ? ` (kernel ${m.kernel})` : ''}.

## End to end on a ${(r.model.bytes / 2 ** 30).toFixed(2)} GiB synthetic model

${r.model.tensors} bf16 tensors laid out like a decoder-only transformer ` +
`(${JSON.stringify(r.model.config)}); plaintext SHA-256 \`${r.model.sha256}\`.

${stepsTable(r.steps, true)}

## Throughput per backend (in-memory pipeline, GB/s of plaintext)

${comparisonTable(r.comparison, true)}

${coresTable(r.comparison, r.perCore, true)}

"plain copy" is the same pipeline with the addon's memcpy in place of the cipher, on the same
threads: the bound the cipher rows are held to. Reference lines in the chart: ${MARKS.map((x) => x.label).join('; ')}. "cores for 64 GB/s" divides
64 GB/s by the slower of seal and open on one core. noble is measured on 1/32 of the buffer.

![throughput chart](${r.date}.svg)
`;
}

/** Writes <dir>/<date>.json, .md and .svg; returns their paths. */
export async function writeReports(dir: string, r: DemoResults): Promise<{ json: string; md: string; svg: string }> {
  await mkdir(dir, { recursive: true });
  const base = join(dir, r.date);
  const paths = { json: `${base}.json`, md: `${base}.md`, svg: `${base}.svg` };
  const m = r.machine;
  const svg = await renderSvg(chartSpec(r.comparison,
    'weightseal: AES-GCM throughput per backend (higher is better)',
    `${m.cpu}, ${m.cores} cores, Node ${m.node}; in-memory pipeline, 4 MiB slots of 16 KiB chunks; ${r.date}`));
  await writeFile(paths.json, JSON.stringify(r, null, 2) + '\n');
  await writeFile(paths.md, markdown(r));
  await writeFile(paths.svg, svg);
  return paths;
}
