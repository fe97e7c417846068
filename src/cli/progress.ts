/**
 * A byte progress bar (cli-progress) on stderr when it is a terminal; nothing otherwise, so
 * pipes, logs and --json output stay clean.
 */
import cliProgress from 'cli-progress';
import { bytesHuman } from './inspect.js';

export interface Progress {
  /** Total bytes processed so far (absolute, not a delta). */
  update(done: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

/** Binary units, as the command's summary lines print them (inspect.ts bytesHuman). */
const human = bytesHuman;

/**
 * Seconds left as "45s", "12m05s" or "3h07m": rounded once, then split, so a remainder never
 * reads as 60 ("3h60m"). Unknown (no progress yet) is "--".
 */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function progressBar(label: string, total: number, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY || total <= 0) return NONE;
  const bar = new cliProgress.SingleBar({
    format: `${label} {bar} {percentage}% | {done} / {all} | {rate} GB/s | ETA {left}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: false,
    etaBuffer: 50,
    fps: 10,
  }, cliProgress.Presets.shades_classic);
  const start = performance.now();
  const fields = (done: number) => {
    const bps = done / Math.max(1e-9, (performance.now() - start) / 1000);
    return {
      done: human(done),
      all: human(total),
      rate: (bps / 1e9).toFixed(2),
      left: formatEta(done > 0 ? (total - done) / bps : NaN),
    };
  };
  bar.start(total, 0, fields(0));
  let last = 0;
  return {
    update(done) {
      last = Math.min(done, total);
      bar.update(last, fields(last));
    },
    stop() {
      bar.update(last, fields(last));
      bar.stop();
    },
  };
}
