/**
 * Ctrl-C, SIGTERM and SIGHUP: temporary files the command created are removed synchronously
 * (the event loop may be busy with workers), then the process exits 128 + the signal number
 * as shells expect (130, 143, 129; exit.ts). SIGKILL cannot be caught: what it leaves is named
 * by its pid and swept by the next seal or open into the same directory (io/temp.ts).
 */
import { rmSync } from 'node:fs';
import { SIGNAL_EXIT } from './exit.js';

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

/**
 * Installs the signal handlers once; `say` reports on stderr unless quiet, `report` prints
 * the command's --json failure object before the exit.
 */
export function installSignalCleanup(say: (line: string) => void,
  report?: (signal: string, exitCode: number) => void): void {
  if (installed) return;
  installed = true;
  const onSignal = (signal: keyof typeof SIGNAL_EXIT) => {
    const n = temps.size;
    removeTemps();
    try {
      say(`\ninterrupted (${signal})${n ? `: removed ${n} temporary file${n === 1 ? '' : 's'}` : ''}`);
    } catch {
      // stderr may be gone with the terminal (SIGHUP): the exit code still says what happened.
    }
    try {
      report?.(signal, SIGNAL_EXIT[signal]);
    } catch {
      // stdout may be gone too.
    }
    process.exit(SIGNAL_EXIT[signal]);
  };
  for (const signal of Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]) {
    process.on(signal, () => onSignal(signal));
  }
}
