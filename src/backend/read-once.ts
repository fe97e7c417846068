/**
 * Read-once for the JS backends (native/gcm.h states the rule the kernels follow). Memory in
 * a SharedArrayBuffer can change at any moment, and neither JS backend reads its input once:
 * @noble/ciphers hashes the ciphertext and then decrypts it in a second pass, and OpenSSL's
 * GCM may load the same input twice. Either could then return a "verified" plaintext the tag
 * never covered. So shared input is copied once into memory only this call sees, and the
 * backend works from that copy; output is built privately and written out once. Ordinary
 * buffers are used as they are and pay nothing.
 */
import { types } from 'node:util';

/** Whether another thread may write v's memory (checked by type, so across realms too). */
export function isShared(v: Uint8Array): boolean {
  return types.isSharedArrayBuffer(v.buffer);
}

/** v itself, or when v is shared, a private copy of its bytes taken in one pass. */
export function readOnce(v: Uint8Array): Uint8Array {
  return isShared(v) ? v.slice() : v;
}
