/**
 * The backend matrix every suite runs against (STYLE habit 8): each native kernel this CPU
 * runs, then noble and node:crypto.
 */
import { readFileSync } from 'node:fs';
import { nativeBackend, nobleBackend, nodeBackend, type Backend } from '../../src/backend/index.js';
import { supportedKernels } from '../../src/backend/native.js';

export interface BackendCase {
  label: string;
  backend: Backend;
}

export function nativeCases(): BackendCase[] {
  return supportedKernels().map((k) => ({ label: `native/${k}`, backend: nativeBackend(k) }));
}

export function allCases(): BackendCase[] {
  return [
    ...nativeCases(),
    { label: 'noble', backend: nobleBackend },
    { label: 'node', backend: nodeBackend },
  ];
}

/** Whether this machine should have every kernel (AES-NI, VAES and AVX-512 in /proc/cpuinfo). */
export function cpuFlags(): Set<string> {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('flags')) ?? '';
    return new Set(line.split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}
