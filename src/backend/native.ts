/** The addon's kernels as a Backend. One Backend object per kernel. */
import { WeightsealError } from '../errors.js';
import { addonStatus, type DerivedKeysHandle, type NativeKeyHandle } from './addon.js';
import type { Backend, GcmKey } from './types.js';

export const KERNEL_NAMES = ['vaes512', 'vaes256', 'aesni', 'armv8'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

class NativeKey implements GcmKey {
  #h: NativeKeyHandle;
  #live = true;
  constructor(readonly backend: Backend, h: NativeKeyHandle) {
    this.#h = h;
  }

  #handle(): NativeKeyHandle {
    if (!this.#live) throw new WeightsealError('ERR_CLOSED', 'this key was destroyed; import it again');
    return this.#h;
  }

  seal(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    this.#handle().seal(iv, aad, plaintext, out);
  }

  open(iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
    return this.#handle().open(iv, aad, sealed, out);
  }

  sealChunks(baseNonce: Uint8Array, firstIndex: number, plaintext: Uint8Array,
    chunkSize: number, nChunks: number, out: Uint8Array): void {
    this.#handle().sealChunks(baseNonce, firstIndex, plaintext, chunkSize, nChunks, out);
  }

  openChunks(baseNonce: Uint8Array, firstIndex: number, sealed: Uint8Array,
    chunkSize: number, nChunks: number, out: Uint8Array): number {
    return this.#handle().openChunks(baseNonce, firstIndex, sealed, chunkSize, nChunks, out);
  }

  /** CTR keystream only (benchmark ceiling); not part of the Backend interface. */
  ctr(iv: Uint8Array, input: Uint8Array, out: Uint8Array): void {
    this.#handle().ctr(iv, input, out);
  }

  destroy(): void {
    if (this.#live) this.#h.destroy();
    this.#live = false;
  }

  get destroyed(): boolean {
    return !this.#live;
  }

  /** See nativeHandle(). */
  get handleForPool(): NativeKeyHandle {
    return this.#h;
  }
}

export type NativeGcmKey = NativeKey;

/** The addon handle behind a native key (for the addon's thread pool), or null for other backends. */
export function nativeHandle(key: GcmKey): NativeKeyHandle | null {
  return key instanceof NativeKey && !key.destroyed ? key.handleForPool : null;
}

/** Kernels this CPU and OS can run, fastest first; empty without the addon. */
export function supportedKernels(): KernelName[] {
  // The CPU does not change under us: asked once (addon.info() builds objects, and every
  // getBackend() call asks, several microseconds per small seal).
  if (!supported) {
    const addon = addonStatus().addon;
    supported = addon ? addon.info().kernels.filter((k) => k.supported).map((k) => k.name as KernelName) : [];
  }
  return supported.slice();
}

let supported: KernelName[] | null = null;

/** The kernel WEIGHTSEAL_KERNEL forces, else the fastest supported one. */
export function chosenKernel(): KernelName | null {
  const forced = process.env.WEIGHTSEAL_KERNEL;
  if (forced) return forced as KernelName;
  return supportedKernels()[0] ?? null;
}

const backends = new Map<string, Backend>();

/**
 * The native backend on one kernel (default: chosenKernel()). Throws
 * ERR_BACKEND_UNAVAILABLE without the addon, ERR_KERNEL_UNAVAILABLE for a kernel this CPU
 * cannot run.
 */
export function nativeBackend(kernel: string | null = chosenKernel()): Backend {
  const { addon, errors } = addonStatus();
  if (!addon) {
    throw new WeightsealError('ERR_BACKEND_UNAVAILABLE',
      `the native addon is not loaded (${errors.join('; ') || 'unknown reason'}); ` +
      'run `npm run build` or use backend "noble" or "node"');
  }
  if (!kernel) {
    throw new WeightsealError('ERR_KERNEL_UNAVAILABLE',
      'this CPU has no AES-NI/PCLMULQDQ, so no native kernel runs here; use backend "node" or "noble"');
  }
  if (!(KERNEL_NAMES as readonly string[]).includes(kernel)) {
    throw new WeightsealError('ERR_KERNEL_UNAVAILABLE',
      `unknown kernel "${kernel}"; choose one of ${KERNEL_NAMES.join(', ')}`);
  }
  if (!supportedKernels().includes(kernel as KernelName)) {
    throw new WeightsealError('ERR_KERNEL_UNAVAILABLE',
      `kernel "${kernel}" cannot run on this CPU/OS (supported: ${supportedKernels().join(', ') || 'none'}); ` +
      'unset WEIGHTSEAL_KERNEL or pick a supported one');
  }
  let b = backends.get(kernel);
  if (!b) {
    const name = kernel;
    const backend: Backend = {
      name: 'native',
      kernel: name,
      importKey: (key: Uint8Array) => new NativeKey(backend, new addon.NativeKey(key, name)),
      importNative: (handle: DerivedKeysHandle) => new NativeKey(backend, new addon.NativeKey(handle, name)),
    };
    backends.set(kernel, backend);
    b = backend;
  }
  return b;
}
