/** Whether openInMemory can run here, and the reason its suites give when they skip. */
import { readdirSync, readlinkSync } from 'node:fs';
import { addonStatus } from '../../src/backend/addon.js';

export const MEMFD_READY = process.platform === 'linux' && typeof addonStatus().addon?.memfdCreate === 'function';
export const MEMFD_SKIP_REASON = process.platform !== 'linux' ? 'memfd is Linux only' :
  'the native addon is not loaded (WEIGHTSEAL_DISABLE_NATIVE or no build): openInMemory needs memfd_create';

/** A suite's title that says, when the suite skips, why. */
export function memfdSuite(name: string): string {
  return MEMFD_READY ? name : `${name} (skipped: ${MEMFD_SKIP_REASON})`;
}

/** Descriptors of this process whose link is one of our memory files. */
export function ourMemfds(): number[] {
  const fds: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith('/memfd:weightseal')) fds.push(Number(name));
    } catch {
      // Closed between readdir and readlink (the directory's own descriptor, a worker's file).
    }
  }
  return fds.sort((a, b) => a - b);
}
