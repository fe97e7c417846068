/**
 * Loads the native addon once. Never throws: on failure the reasons are kept for info() and
 * `weightseal doctor`, and the package falls back to the noble backend (STYLE habit 10).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

export interface Addon {
  NativeKey: new (key: Uint8Array, kernel: string) => NativeKeyHandle;
  OpensslGcm: new (key: Uint8Array, encrypt: boolean) => OpensslGcmHandle;
  memcpy(dst: Uint8Array, src: Uint8Array): void;
  info(): NativeInfo;
  /** Linux memfd (native/memfd.cc); absent from builds that predate it. */
  memfdCreate?(name: string): number;
  memfdSeal?(fd: number): void;
  memfdSeals?(fd: number): number;
}

export interface AddonStatus {
  addon: Addon | null;
  path: string | null;
  errors: string[];
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

function load(): AddonStatus {
  const errors: string[] = [];
  if (process.env.WEIGHTSEAL_DISABLE_NATIVE) {
    return { addon: null, path: null, errors: ['WEIGHTSEAL_DISABLE_NATIVE is set'] };
  }
  const root = packageRoot();
  const buildError = join(root, 'build', 'addon-error.txt');
  if (existsSync(buildError)) errors.push(`build: ${readFileSync(buildError, 'utf8').trim()}`);
  const candidates = [
    process.env.WEIGHTSEAL_ADDON,
    join(root, 'build', 'Release', 'weightseal.node'),
    join(root, 'build', 'Debug', 'weightseal.node'),
  ].filter((p): p is string => !!p);
  const require = createRequire(import.meta.url);
  for (const path of candidates) {
    if (!existsSync(path)) {
      errors.push(`${path}: not found (run \`npm run build\`)`);
      continue;
    }
    try {
      return { addon: require(path) as Addon, path, errors };
    } catch (e) {
      errors.push(`${path}: ${(e as Error).message}`);
    }
  }
  return { addon: null, path: null, errors };
}

let status: AddonStatus | undefined;

export function addonStatus(): AddonStatus {
  status ??= load();
  return status;
}
