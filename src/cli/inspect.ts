/**
 * `weightseal inspect`: the tensor table of a (sealed) safetensors file. Opening decrypts only
 * the chunks holding the header (and the final chunk, which authenticates the length).
 */
import type { Key, SourceOptions } from '../safetensors/source.js';
import { SealedSafetensors, type TensorInfo } from '../safetensors/index.js';
import { isRemoteUrl } from '../remote/options.js';
import { redactUrl } from '../remote/redact.js';

export interface InspectReport {
  file: string;
  sealed: boolean;
  tensors: number;
  dataBytes: number;
  metadata: Record<string, string>;
  dtypes: Record<string, number>;
  table: Pick<TensorInfo, 'name' | 'dtype' | 'shape' | 'byteOffset' | 'byteLength' | 'file'>[];
}

export async function inspect(path: string, key: Key | null, opts: SourceOptions): Promise<InspectReport> {
  const m = await SealedSafetensors.open(path, key, opts);
  try {
    const table = m.tensors().map(({ name, dtype, shape, byteOffset, byteLength, file }) =>
      ({ name, dtype, shape, byteOffset, byteLength, file }));
    const dtypes: Record<string, number> = {};
    for (const t of table) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + t.byteLength;
    return {
      file: isRemoteUrl(path) ? redactUrl(path) : path, sealed: key !== null, tensors: table.length, dataBytes: m.dataBytes,
      metadata: { ...m.metadata }, dtypes, table,
    };
  } finally {
    await m.close();
  }
}

export function bytesHuman(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

export function formatInspect(r: InspectReport): string {
  const rows = r.table.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, String(t.byteOffset), bytesHuman(t.byteLength)]);
  const head = ['tensor', 'dtype', 'shape', 'offset', 'size'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const out = [
    `${r.file}: ${r.sealed ? 'sealed ' : ''}safetensors, ${r.tensors} tensors, ${bytesHuman(r.dataBytes)} ` +
      `(${Object.entries(r.dtypes).map(([d, b]) => `${d} ${bytesHuman(b)}`).join(', ')})`,
  ];
  if (Object.keys(r.metadata).length > 0) {
    out.push(`metadata: ${Object.entries(r.metadata).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  }
  out.push('', line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line));
  return out.join('\n');
}
