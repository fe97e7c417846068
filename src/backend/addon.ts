/**
 * Loads the native addon once. Never throws: on failure the reasons are kept for info() and
 * `weightseal doctor`, and the package falls back to the noble backend (STYLE habit 10).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPrebuild } from './prebuild.js';

export interface NativeKeyHandle {
  readonly kernel: string;
  seal(iv: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array): void;
  open(iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean;
  sealChunks(nonce: Uint8Array, first: number, pt: Uint8Array, chunk: number, n: number, out: Uint8Array): void;
  openChunks(nonce: Uint8Array, first: number, sealed: Uint8Array, chunk: number, n: number, out: Uint8Array): number;
  ctr(iv: Uint8Array, input: Uint8Array, out: Uint8Array): void;
  destroy(): void;
}

export interface OpensslGcmHandle {
  run(iv: Uint8Array, input: Uint8Array, out: Uint8Array, tag: Uint8Array): boolean;
  destroy(): void;
}

export interface NativeInfo {
  features: Record<string, boolean>;
  os: { xcr0: number; ymm: boolean; zmm: boolean };
  kernels: { name: string; supported: boolean }[];
  best: string | null;
  openssl: string | null;
}

/** The addon's own thread pool (native/async.cc): batch calls in place on any ArrayBuffer. */
export interface NativeThreadPool {
  /** Threads that started (fewer than asked when the OS refused some). */
  readonly threads: number;
  /** Jobs whose promise has not settled yet. */
  readonly pending: number;
  /** op 0 seal, 1 open (resolves -1 or the first failing chunk of the run), 2 copy. */
  run(op: number, key: NativeKeyHandle | null, baseNonce: Uint8Array | null, first: number, src: Uint8Array,
    chunk: number, n: number, dst: Uint8Array, parts: number): Promise<number>;
  /** Joins the threads; throws while jobs are in flight. */
  close(): void;
}

/** A c2sp derived key held in native memory (native/binding_keys.h); see src/derived.ts. */
export interface DerivedKeysHandle {
  /** Copies the key into dst (exactly the key length): for a JS backend or a pool key slot. */
  writeKey(dst: Uint8Array): void;
  destroy(): void;
}

export interface Addon {
  NativeKey: new (key: Uint8Array | DerivedKeysHandle, kernel: string) => NativeKeyHandle;
  /** Absent when the process exports no OpenSSL HMAC: derivation then runs in JS. */
  DerivedKeys?: new (inputKey: Uint8Array, info: Uint8Array, keyBytes: number, baseNonceOut: Uint8Array,
    commitmentOut: Uint8Array) => DerivedKeysHandle;
  /**
   * A whole small message in one call (native/message.cc), present with DerivedKeys. Seal
   * writes commitment and chunks after the salt the caller put in out; open returns -1 (all
   * verified), -2 (commitment mismatch) or the first failing chunk (out then all zero).
   */
  sealMessage?(inputKey: Uint8Array, info: Uint8Array, keyBytes: number, kernel: string, plaintext: Uint8Array,
    out: Uint8Array): void;
  openMessage?(inputKey: Uint8Array, info: Uint8Array, keyBytes: number, kernel: string, sealed: Uint8Array,
    out: Uint8Array): number;
  /** Whether two views share a byte of memory, by address (older builds lack it). */
  viewsOverlap?(a: ArrayBufferView, b: ArrayBufferView): boolean;
  OpensslGcm: new (key: Uint8Array, encrypt: boolean) => OpensslGcmHandle;
  /** Missing from addons built before the pool existed (a stale build/): callers fall back. */
  ThreadPool?: new (threads: number) => NativeThreadPool;
  memcpy(dst: Uint8Array, src: Uint8Array): void;
  info(): NativeInfo;
  /** null when every kernel this CPU runs gives the known answers, else what failed. */
  selfTest?(): string | null;
  /** Linux memfd (native/memfd.cc); absent from builds that predate it. */
  memfdCreate?(name: string): number;
  memfdSeal?(fd: number): void;
  memfdSeals?(fd: number): number;
}

/** Where the loaded addon came from: WEIGHTSEAL_ADDON, the package's prebuilds/, or build/. */
export type AddonSource = 'env' | 'prebuild' | 'build';

export interface AddonStatus {
  addon: Addon | null;
  path: string | null;
  errors: string[];
  /** Which candidate loaded (null: none did). */
  source: AddonSource | null;
  /** Why this one: what was tried before it, in one sentence. */
  reason: string;
}

/** The package root: the first ancestor holding package.json (src/ and dist/src/ both work). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dir;
}

/**
 * Load order: WEIGHTSEAL_ADDON (an explicit path), then the prebuilt binary for this
 * platform, then a local build (build/Release, build/Debug). Each must load and pass the
 * addon's own known-answer self-test; a failure is recorded and the next one tried.
 */
function load(): AddonStatus {
  const errors: string[] = [];
  if (process.env.WEIGHTSEAL_DISABLE_NATIVE) {
    return { addon: null, path: null, errors: ['WEIGHTSEAL_DISABLE_NATIVE is set'], source: null,
      reason: 'WEIGHTSEAL_DISABLE_NATIVE is set' };
  }
  const root = packageRoot();
  const buildError = join(root, 'build', 'addon-error.txt');
  if (existsSync(buildError)) errors.push(`build: ${readFileSync(buildError, 'utf8').trim()}`);
  const prebuild = findPrebuild(root);
  const candidates: { path: string; source: AddonSource; reason: string }[] = [];
  if (process.env.WEIGHTSEAL_ADDON) {
    candidates.push({ path: process.env.WEIGHTSEAL_ADDON, source: 'env', reason: 'WEIGHTSEAL_ADDON names it' });
  }
  if (prebuild.path) {
    candidates.push({ path: prebuild.path, source: 'prebuild', reason: `${prebuild.reason}; it passed its self-test` });
  }
  for (const dir of ['Release', 'Debug']) {
    candidates.push({ path: join(root, 'build', dir, 'weightseal.node'), source: 'build',
      reason: `local build from source (${prebuild.path ? 'the prebuilt binary failed, see errors' : prebuild.reason})` });
  }
  const require = createRequire(import.meta.url);
  for (const c of candidates) {
    if (!existsSync(c.path)) {
      errors.push(`${c.path}: not found (run \`npm run build\`)`);
      continue;
    }
    try {
      const addon = require(c.path) as Addon;
      const failed = addon.selfTest?.() ?? null;
      if (failed) {
        errors.push(`${c.path}: failed its self-test (${failed})`);
        continue;
      }
      return { addon, path: c.path, errors, source: c.source, reason: c.reason };
    } catch (e) {
      errors.push(`${c.path}: ${(e as Error).message}`);
    }
  }
  return { addon: null, path: null, errors, source: null, reason: `no addon loaded (${prebuild.reason})` };
}

let status: AddonStatus | undefined;

export function addonStatus(): AddonStatus {
  status ??= load();
  return status;
}
