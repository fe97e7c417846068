/**
 * A byte progress bar (cli-progress) on stderr when it is a terminal; nothing otherwise, so
 * pipes, logs and --json output stay clean.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Total bytes processed so far (absolute, not a delta). */
  update(done: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function progressBar(label: string, total: number, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY || total <= 0) return NONE;
  const bar = new cliProgress.SingleBar({
    format: `${label} {bar} {percentage}% | {done} / {all} | {rate} GB/s | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: false,
    etaBuffer: 50,
    fps: 10,
  }, cliProgress.Presets.shades_classic);
  const start = performance.now();
  const fields = (done: number) => ({
    done: human(done),
    all: human(total),
    rate: (done / Math.max(1e-9, (performance.now() - start) / 1000) / 1e9).toFixed(2),
  });
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
