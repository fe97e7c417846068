/**
 * Argument checks with user-facing messages, done in TypeScript before anything crosses into
 * native code (STYLE habit 2). The addon re-checks only memory-safety invariants.
 */
import { KeyObject } from 'node:crypto';
import { addonStatus } from './backend/addon.js';
import { invalidArg } from './errors.js';

export function describe(v: unknown): string {
  if (v === null) return 'null';
  try {
    // A Proxy of a Uint8Array passes instanceof, yet its length getter throws: describing a bad
    // argument must never throw in place of the ERR_INVALID_ARG being built.
    if (v instanceof Uint8Array) return `${v.constructor.name}(${v.length})`;
    if (ArrayBuffer.isView(v)) return v.constructor.name;
    if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  } catch {
    return 'object';
  }
  return typeof v;
}

// The intrinsics, not the view's own (possibly overridden) methods: both throw a TypeError on
// a view whose buffer was detached or resized smaller than the view (ES2024 "out of bounds").
const TYPED_AT = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'at')!.value as
  (this: ArrayBufferView, i: number) => unknown;
const DATAVIEW_LENGTH = Object.getOwnPropertyDescriptor(DataView.prototype, 'byteLength')!.get!;
const getter = (proto: object, name: string) => Object.getOwnPropertyDescriptor(proto, name)!.get!;
const TYPED_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;
const TYPED_BUFFER = getter(TYPED_PROTO, 'buffer');
const TYPED_OFFSET = getter(TYPED_PROTO, 'byteOffset');
const TYPED_LENGTH = getter(TYPED_PROTO, 'byteLength');
const DATAVIEW_BUFFER = getter(DataView.prototype, 'buffer');
const DATAVIEW_OFFSET = getter(DataView.prototype, 'byteOffset');

/**
 * The view's memory as the engine sees it. A caller's view may carry own `length`,
 * `byteLength`, `byteOffset` or `buffer` properties (getters that even change between reads):
 * only the intrinsic getters say which bytes native code will touch.
 */
function viewParts(v: ArrayBufferView): { buffer: ArrayBufferLike; offset: number; length: number } {
  if (v instanceof DataView) {
    return { buffer: DATAVIEW_BUFFER.call(v), offset: DATAVIEW_OFFSET.call(v), length: DATAVIEW_LENGTH.call(v) };
  }
  return { buffer: TYPED_BUFFER.call(v), offset: TYPED_OFFSET.call(v), length: TYPED_LENGTH.call(v) };
}

/** Whether a view can be read: not over a detached buffer, not past the end of a shrunk one. */
export function isLiveView(v: ArrayBufferView): boolean {
  try {
    if (v instanceof DataView) DATAVIEW_LENGTH.call(v);
    else if (TYPED_LENGTH.call(v) === 0) TYPED_AT.call(v, 0); // only an empty-looking view can be dead
    return true;
  } catch {
    return false;
  }
}

/**
 * Any ArrayBufferView (Uint8Array, Buffer, DataView, a Float32Array of weights...) as a
 * Uint8Array over the same bytes. A view of a detached (transferred) buffer, or one a
 * resizable buffer no longer covers, is ERR_INVALID_ARG: it would otherwise read as empty.
 * A view of a resizable buffer comes back with a fixed length, so the bytes a call checked
 * are the bytes it uses.
 */
export function checkBytes(v: unknown, name: string): Uint8Array {
  if (!ArrayBuffer.isView(v)) {
    throw invalidArg(`${name} must be a Uint8Array (or Buffer), got ${describe(v)}; ` +
      'any ArrayBufferView (DataView, Float32Array) is also read as its bytes');
  }
  if (!isLiveView(v)) {
    throw invalidArg(`${name} is a view of a detached ArrayBuffer (transferred, e.g. by postMessage) ` +
      'or of a resizable buffer shrunk below the view; pass a view of live memory');
  }
  // Always a fresh, fixed-length Uint8Array from the intrinsic getters (see viewParts): the
  // length every later check reads is the length the kernels use.
  const { buffer, offset, length } = viewParts(v);
  return new Uint8Array(buffer, offset, length);
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

/**
 * True when two views share any byte of memory, by address where the addon can tell (two
 * SharedArrayBuffer objects over one memory, as postMessage makes, are different objects).
 * Without the addon only views of one buffer object are compared; see mayAlias().
 */
export function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length === 0 || b.length === 0) return false;
  if (a.buffer === b.buffer) {
    return a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
  }
  const byAddress = addonStatus().addon?.viewsOverlap;
  return byAddress ? byAddress(a, b) : false;
}

/**
 * Whether overlap could not be ruled out: no addon to compare addresses, and both views on
 * distinct SharedArrayBuffer objects (distinct ArrayBuffers never share memory).
 */
export function mayAlias(a: Uint8Array, b: Uint8Array): boolean {
  return a.length > 0 && b.length > 0 && a.buffer !== b.buffer && !addonStatus().addon?.viewsOverlap &&
    a.buffer instanceof SharedArrayBuffer && b.buffer instanceof SharedArrayBuffer;
}

/** Where a call writes its result, and the input it reads. */
export interface Target {
  out: Uint8Array;
  input: Uint8Array;
  /**
   * Overlap with the input could not be ruled out (mayAlias): `input` is a private copy, and an
   * open must decrypt into private memory and write `out` only once everything verified.
   */
  staged: boolean;
}

/**
 * The output of a call: a fresh buffer, or the caller's (checked to hold `length` bytes and
 * not to overlap the input by address: ERR_INVALID_ARG, before anything is written).
 */
export function outputTarget(given: unknown, length: number, input: Uint8Array, what: string): Target {
  if (given === undefined) return { out: new Uint8Array(length), input, staged: false };
  const out = checkBytes(given, 'output');
  if (out.length < length) {
    throw invalidArg(`output must hold at least ${length} bytes (the ${what}), got ${out.length}`);
  }
  const view = out.subarray(0, length);
  if (overlaps(view, input)) throw invalidArg('output must not overlap the input; pass a separate buffer');
  if (mayAlias(view, input)) return { out: view, input: input.slice(), staged: true };
  return { out: view, input, staged: false };
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
  // Keys stay Uint8Array (or Buffer): a key in a Uint16Array is more likely a mistake than bytes.
  if (!(v instanceof Uint8Array)) throw invalidArg(keyTypeMessage(name, v));
  return { bytes: checkAesKey(checkBytes(v, name), name), owned: false };
}

/** What a key of the wrong type should have been, with the fix for the common mistakes. */
export function keyTypeMessage(name: string, v: unknown): string {
  const fix = typeof v === 'string' ? '; decode it first, e.g. Buffer.from(hex, \'hex\')' :
    v instanceof ArrayBuffer ? '; wrap it: new Uint8Array(buffer)' :
    Array.isArray(v) ? '; wrap it: Uint8Array.from(array)' : '';
  return `${name} must be a Uint8Array or a secret KeyObject (a Buffer is fine), got ${describe(v)}${fix}`;
}
