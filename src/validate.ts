/**
 * Argument checks with user-facing messages, done in TypeScript before anything crosses into
 * native code (STYLE habit 2). The addon re-checks only memory-safety invariants.
 */
import { invalidArg } from './errors.js';

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return `${v.constructor.name}(${v.length})`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

export function checkBytes(v: unknown, name: string): Uint8Array {
  if (!(v instanceof Uint8Array)) {
    throw invalidArg(`${name} must be a Uint8Array (or Buffer), got ${describe(v)}`);
  }
  return v;
}

export function checkAesKey(v: unknown, name = 'key'): Uint8Array {
  const key = checkBytes(v, name);
  if (key.length !== 16 && key.length !== 32) {
    throw invalidArg(
      `${name} must be 16 bytes (AES-128) or 32 bytes (AES-256), got ${key.length} bytes` +
        (key.length === 24 ? '; AES-192 is not supported' : ''),
    );
  }
  return key;
}

export function checkIndex(v: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw invalidArg(`${name} must be an integer in 0..${max}, got ${describe(v)} ${String(v)}`);
  }
  return v;
}

/** True when two views share any byte of memory (same buffer, intersecting ranges). */
export function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  if (a.buffer !== b.buffer || a.length === 0 || b.length === 0) return false;
  return a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}
