/**
 * How a stream's derived key reaches the pool workers: once per stream, through a 64-byte
 * SharedArrayBuffer that every task of the stream points at (a handle, not a copy). Workers
 * import the key on first sight and cache it by stream id; at close the main thread zeroes
 * the slot and broadcasts the id so every worker destroys its imported key.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { Backend, GcmKey } from '../backend/types.js';
import { offHeap, type KeyMaterial } from '../derived.js';

export const KEYSLOT_BYTES = 64;
const STATE = 0; // Int32 index: 1 live, 0 wiped
const KEY_LEN = 1; // Int32 index
const KEY_AT = 16;
const NONCE_AT = 48;
const NONCE_BYTES = 12;

/** Channel name the pool workers listen on for closed stream ids. */
export const CLOSE_CHANNEL = 'weightseal:pipeline:close';

/**
 * A slot holding the key (written by the addon straight from native memory when it derived
 * it) and the base nonce. Plain key bytes are accepted too (tests, hazmat).
 */
export function writeKeySlot(key: KeyMaterial | Uint8Array, baseNonce?: Uint8Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(KEYSLOT_BYTES);
  const bytes = new Uint8Array(sab);
  const n = key instanceof Uint8Array ? key.length : key.keyBytes;
  if (key instanceof Uint8Array) bytes.set(key, KEY_AT);
  else key.writeKey(bytes.subarray(KEY_AT, KEY_AT + n));
  bytes.set(key instanceof Uint8Array ? baseNonce! : key.baseNonce, NONCE_AT);
  const ctl = new Int32Array(sab, 0, 2);
  Atomics.store(ctl, KEY_LEN, n);
  Atomics.store(ctl, STATE, 1);
  return sab;
}

export function isLive(sab: SharedArrayBuffer): boolean {
  return Atomics.load(new Int32Array(sab, 0, 2), STATE) === 1;
}

/** Copies the key and base nonce out (the caller imports and wipes the key copy). */
export function readKeySlot(sab: SharedArrayBuffer): { key: Uint8Array; baseNonce: Uint8Array } | null {
  const ctl = new Int32Array(sab, 0, 2);
  if (Atomics.load(ctl, STATE) !== 1) return null;
  const n = Atomics.load(ctl, KEY_LEN);
  const bytes = new Uint8Array(sab);
  return { key: bytes.slice(KEY_AT, KEY_AT + n), baseNonce: bytes.slice(NONCE_AT, NONCE_AT + NONCE_BYTES) };
}

/**
 * Imports the slot's key into a backend without a copy on the JS heap: the view into the
 * shared slot goes to the backend's importKey as it is (the addon reads it natively; the
 * JS backends make their own copy). The base nonce comes back in off-heap memory.
 */
export function importKeySlot(sab: SharedArrayBuffer, backend: Backend): { key: GcmKey; baseNonce: Uint8Array } | null {
  const ctl = new Int32Array(sab, 0, 2);
  if (Atomics.load(ctl, STATE) !== 1) return null;
  const n = Atomics.load(ctl, KEY_LEN);
  const baseNonce = offHeap(NONCE_BYTES);
  baseNonce.set(new Uint8Array(sab, NONCE_AT, NONCE_BYTES));
  return { key: backend.importKey(new Uint8Array(sab, KEY_AT, n)), baseNonce };
}

export function wipeKeySlot(sab: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(sab, 0, 2), STATE, 0);
  new Uint8Array(sab).fill(0, 4);
}

let channel: BroadcastChannel | null = null;

/** Tells every worker that `stream` is closed (they destroy its key). */
export function broadcastClose(stream: number): void {
  if (!channel) {
    channel = new BroadcastChannel(CLOSE_CHANNEL);
    channel.unref();
  }
  channel.postMessage(stream);
}
