/**
 * The demo's chart: throughput per backend, one thread and all cores, against the three lines
 * that matter for a confidential GPU: the ~4 GB/s the driver's encrypted bounce path reaches
 * today, 50 GB/s, and 64 GB/s (PCIe Gen5 x16). Drawn by vega-lite and rendered to SVG by vega's
 * headless View (no canvas needed). Throughputs span four orders of magnitude (pure JS to
 * native on every core), hence a log axis with dots and value labels rather than bars.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ChartRow {
  /** Backend as shown: "native vaes512", "node:crypto", "noble", "plain copy". */
  backend: string;
  threads: number;
  op: 'seal' | 'open' | 'copy';
  gbps: number;
}

export const MARKS = [
  { gbps: 4, label: 'driver bounce path, 4 GB/s' },
  { gbps: 50, label: '50 GB/s' },
  { gbps: 64, label: 'PCIe Gen5 x16, 64 GB/s' },
];

export function chartSpec(rows: ChartRow[], title: string, subtitle: string): TopLevelSpec {
  const allCores = Math.max(...rows.map((r) => r.threads));
  const data = rows.map((r) => ({
    backend: r.backend,
    op: r.op === 'copy' ? 'seal' : r.op,
    threads: r.threads === 1 ? '1 thread' : `${r.threads} threads (all cores)`,
    gbps: r.gbps,
    label: r.gbps >= 1 ? r.gbps.toFixed(1) : r.gbps.toPrecision(2),
  }));
  // plain copy is the same for both panels: show it in each.
  for (const r of data.filter((d) => d.backend === 'plain copy')) data.push({ ...r, op: 'open' });
  const order = [...new Set(rows.map((r) => r.backend))];
  const lo = Math.min(...rows.map((r) => r.gbps), 1);
  const domain = [10 ** Math.floor(Math.log10(lo)), 100];
  const x = {
    field: 'gbps', type: 'quantitative', title: 'GB/s (log scale)',
    scale: { type: 'log', domain },
    axis: { grid: true, values: [0.001, 0.01, 0.1, 0.5, 1, 2, 4, 10, 20, 50, 100].filter((v) => v >= domain[0]!),
      labelFontSize: 12, titleFontSize: 13, format: '~g' },
  } as const;
  const y = { field: 'backend', type: 'nominal', sort: order, title: null, axis: { labelFontSize: 13, labelLimit: 220 } } as const;
  const color = {
    field: 'threads', type: 'nominal', title: null,
    scale: { domain: ['1 thread', `${allCores} threads (all cores)`], range: ['#9ecae1', '#08519c'] },
    legend: { orient: 'top', labelFontSize: 13, symbolSize: 160, labelLimit: 400 },
  } as const;
  const colors = ['#d95f02', '#7570b3', '#e7298a'];
  const panel = (op: string) => ({
    title: { text: op === 'seal' ? 'seal (encrypt)' : 'open (decrypt + authenticate)', anchor: 'start', fontSize: 14,
      offset: op === 'seal' ? 34 : 10 },
    width: 640,
    height: order.length * 44,
    layer: [
      { transform: [{ filter: `datum.op === '${op}'` }], layer: [
        { mark: { type: 'rule', color: '#e0e0e0', strokeWidth: 1 },
          encoding: { y, x, x2: { datum: domain[0] }, yOffset: { field: 'threads' } } },
        { mark: { type: 'point', filled: true, size: 150, opacity: 1 }, encoding: { y, x, color, yOffset: { field: 'threads' } } },
        { mark: { type: 'text', align: 'left', dx: 9, fontSize: 11 },
          encoding: { y, x, text: { field: 'label' }, yOffset: { field: 'threads' } } },
      ] },
      ...MARKS.map((m, i) => ({
        data: { values: [m] },
        layer: [
          { mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5, color: colors[i] },
            encoding: { x: { field: 'gbps', type: 'quantitative' } } },
          // Labels above the seal panel, right-aligned on their line; 64 on a row of its own.
          ...(op === 'seal' ? [{ mark: { type: 'text', align: 'right', baseline: 'bottom', dx: 3, fontSize: 11,
            fontWeight: 'bold', color: colors[i] },
          encoding: { x: { field: 'gbps', type: 'quantitative' }, y: { value: i === 2 ? -18 : -4 }, text: { field: 'label' } } }] : []),
        ],
      })),
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle, fontSize: 18, subtitleFontSize: 12, anchor: 'start' },
    data: { values: data },
    vconcat: [panel('seal'), panel('open')],
    spacing: 28,
    resolve: { scale: { x: 'shared', color: 'shared' } },
    config: { view: { stroke: '#ccc' }, font: 'Helvetica, Arial, sans-serif', padding: 16 },
  } as unknown as TopLevelSpec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Warnings only (layer domains merged); errors still throw.
  const logger = vega.logger(vega.Error);
  const view = new vega.View(vega.parse(compile(spec, { logger }).spec), { renderer: 'none', logLevel: vega.Error });
  try {
    const svg = await view.toSVG();
    return svg;
  } finally {
    view.finalize();
  }
}
