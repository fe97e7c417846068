/**
 * Ctrl-C: temporary files the command created are removed synchronously (the event loop may
 * be busy with workers), then the process exits 130 as shells expect after SIGINT.
 */
import { rmSync } from 'node:fs';

const temps = new Set<string>();
let installed = false;

export function trackTemp(path: string): void {
  temps.add(path);
}

export function untrackTemp(path: string): void {
  temps.delete(path);
}

export function removeTemps(): void {
  for (const p of temps) {
    try {
      rmSync(p, { force: true, recursive: true });
    } catch {
      // Best effort: the process is exiting.
    }
  }
  temps.clear();
}

/** Installs the SIGINT/SIGTERM handlers once; `say` reports on stderr unless quiet. */
export function installSignalCleanup(say: (line: string) => void): void {
  if (installed) return;
  installed = true;
  const onSignal = (signal: NodeJS.Signals) => {
    const n = temps.size;
    removeTemps();
    say(`\ninterrupted (${signal})${n ? `: removed ${n} temporary file${n === 1 ? '' : 's'}` : ''}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
