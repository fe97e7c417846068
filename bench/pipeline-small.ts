/**
 * Small messages and start-up: what one whole-buffer seal + open costs against node:crypto's
 * one-shot AES-256-GCM seal + open of the same bytes (createCipheriv/createDecipheriv, fresh
 * outputs), key derivation and commitment included on our side; and what the first 4 MiB
 * stream after import pays against the hundredth.
 *
 *   node dist/bench/pipeline-small.js [--quick]        (also a phase of bench:pipeline)
 *
 * Timing: contenders interleaved in rounds, each round a batch of calls, best round per call
 * (the least disturbed by other processes); ratios compare figures of this run only.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { open, plaintextSize, seal, sealedSize } from '../src/index.js';
import { fmt } from './report.js';

const KiB = 1024;
const MiB = 2 ** 20;
export const SMALL_SIZES = [4 * KiB, 64 * KiB, MiB, 4 * MiB];

export interface SmallRow {
  bytes: number;
  /** Microseconds per seal + open. */
  nodeUs: number;
  weightsealUs: number;
  /** The same with `into` outputs reused across calls. */
  intoUs: number;
  /** node / weightseal: above 1 is faster than node:crypto. */
  speedup: number;
  intoSpeedup: number;
}

function nodeSealOpen(key: Uint8Array, pt: Uint8Array): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(pt), c.final()]);
  const tag = c.getAuthTag();
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

async function perCall(f: () => unknown, batch: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < batch; i++) await f();
  return ((performance.now() - t0) * 1000) / batch;
}

export async function smallMessages(quick: boolean, log: (s: string) => void): Promise<SmallRow[]> {
  const key = randomBytes(32);
  const rows: SmallRow[] = [];
  for (const bytes of SMALL_SIZES) {
    const pt = randomBytes(bytes);
    const sealedInto = new Uint8Array(sealedSize(bytes));
    const openInto = new Uint8Array(plaintextSize(sealedInto.length));
    // Outputs agree before anything is timed.
    const back = await open(key, await seal(key, pt));
    if (!Buffer.from(back).equals(pt) || !nodeSealOpen(key, pt).equals(pt)) throw new Error('small: round trip failed');
    const contenders: [string, () => unknown][] = [
      ['node', () => nodeSealOpen(key, pt)],
      ['weightseal', async () => open(key, await seal(key, pt))],
      ['into', async () => open(key, await seal(key, pt, { into: sealedInto }), { into: openInto })],
    ];
    const batch = Math.max(2, Math.round((quick ? 2 : 8) * MiB / bytes));
    const best = new Map<string, number>(contenders.map(([n]) => [n, Infinity]));
    for (const [, f] of contenders) await perCall(f, batch); // warm-up: JIT, pools, rings
    for (let round = 0; round < (quick ? 5 : 15); round++) {
      for (const [name, f] of contenders) best.set(name, Math.min(best.get(name)!, await perCall(f, batch)));
    }
    const [n, w, i] = [best.get('node')!, best.get('weightseal')!, best.get('into')!];
    rows.push({ bytes, nodeUs: n, weightsealUs: w, intoUs: i, speedup: n / w, intoSpeedup: n / i });
    log(`  small ${String(bytes / KiB).padStart(5)} KiB seal+open: node:crypto ${fmt(n)} us, weightseal ${fmt(w)} us ` +
      `(${(n / w).toFixed(2)}x), with into ${fmt(i)} us (${(n / i).toFixed(2)}x)`);
  }
  return rows;
}

export interface StartupRow {
  /** Milliseconds of the first 4 MiB seal stream (bounce) after import, and of the hundredth. */
  firstMs: number;
  hundredthMs: number;
}

const CHILD = fileURLToPath(import.meta.url);

/** First vs hundredth 4 MiB bounce seal, in a fresh process (nothing warm but the import). */
export function startup(): StartupRow {
  return JSON.parse(execFileSync(process.execPath, [CHILD, '--startup-child'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as StartupRow;
}

async function startupChild(): Promise<void> {
  const { bounce } = await import('../src/index.js');
  const key = randomBytes(32);
  const pt = randomBytes(4 * MiB);
  const times: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t0 = performance.now();
    await bounce(pt, key, { mode: 'seal', onSlot: () => {} });
    times.push(performance.now() - t0);
  }
  process.stdout.write(JSON.stringify({ firstMs: times[0], hundredthMs: times[99] }));
}

async function main(): Promise<void> {
  if (process.argv.includes('--startup-child')) return startupChild();
  const quick = process.argv.includes('--quick');
  await smallMessages(quick, (s) => console.log(s));
  const s = startup();
  console.log(`  first 4 MiB stream ${fmt(s.firstMs)} ms, hundredth ${fmt(s.hundredthMs)} ms`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
