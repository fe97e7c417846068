/**
 * Argument checks with user-facing messages, done in TypeScript before anything crosses into
 * native code (STYLE habit 2). The addon re-checks only memory-safety invariants.
 */
import { KeyObject } from 'node:crypto';
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

/**
 * An AES key for the hazmat layer: bytes, or a secret KeyObject (whose exported copy the
 * caller wipes when `owned`). Any other KeyObject, a string, an ArrayBuffer or an array is
 * ERR_INVALID_ARG; the message names the type and length, never a key byte.
 */
export function aesKeyBytes(v: unknown, name = 'key'): { bytes: Uint8Array; owned: boolean } {
  if (v instanceof KeyObject) {
    if (v.type !== 'secret') {
      throw invalidArg(`${name} must be a secret KeyObject (createSecretKey), got a ${v.type} key`);
    }
    const bytes = new Uint8Array(v.export());
    if (bytes.length !== 16 && bytes.length !== 32) {
      const n = bytes.length;
      bytes.fill(0);
      throw invalidArg(`${name} must be a 16- or 32-byte AES key, got a ${n}-byte KeyObject` +
        (n === 24 ? '; AES-192 is not supported' : ''));
    }
    return { bytes, owned: true };
  }
  if (!(v instanceof Uint8Array)) throw invalidArg(keyTypeMessage(name, v));
  return { bytes: checkAesKey(v, name), owned: false };
}

/** What a key of the wrong type should have been, with the fix for the common mistakes. */
export function keyTypeMessage(name: string, v: unknown): string {
  const fix = typeof v === 'string' ? '; decode it first, e.g. Buffer.from(hex, \'hex\')' :
    v instanceof ArrayBuffer ? '; wrap it: new Uint8Array(buffer)' :
    Array.isArray(v) ? '; wrap it: Uint8Array.from(array)' : '';
  return `${name} must be a Uint8Array or a secret KeyObject (a Buffer is fine), got ${describe(v)}${fix}`;
}
