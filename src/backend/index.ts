/** Backend selection: native when the addon loads, else noble, said once on stderr. */
import { invalidArg, isWeightsealError } from '../errors.js';
import { addonStatus, type AddonSource } from './addon.js';
import { cpuinfoReport, type CpuReport } from './cpuinfo.js';
import { chosenKernel, nativeBackend } from './native.js';
import { nobleBackend } from './noble.js';
import { nodeBackend } from './node.js';
import { BACKEND_NAMES, type Backend, type BackendName } from './types.js';

export type { Backend, BackendName, GcmKey } from './types.js';
export { BACKEND_NAMES } from './types.js';

let warned = false;

function warnFallback(reason: string): void {
  if (warned || process.env.WEIGHTSEAL_QUIET) return;
  warned = true;
  process.emitWarning(
    `native AES-GCM unavailable (${reason}); using the pure-JS noble backend, which is ` +
      'several hundred times slower. Run `npx weightseal doctor` for details.',
    { code: 'WEIGHTSEAL_FALLBACK' },
  );
}

/** The default: native on the chosen kernel, or noble when no native kernel can run. */
export function defaultBackend(): Backend {
  const { addon, errors } = addonStatus();
  if (!addon) {
    warnFallback(errors[0] ?? 'addon not loaded');
    return nobleBackend;
  }
  if (!chosenKernel()) {
    warnFallback(process.arch === 'arm64' ? 'this CPU has no ARMv8 AES/PMULL instructions'
      : 'this CPU has no AES-NI/PCLMULQDQ');
    return nobleBackend;
  }
  // A forced but unsupported WEIGHTSEAL_KERNEL is an error, not a silent fallback.
  return nativeBackend();
}

export function getBackend(which?: BackendName | Backend): Backend {
  if (which === undefined) return defaultBackend();
  if (typeof which === 'object' && which !== null && typeof which.importKey === 'function') return which;
  switch (which) {
    case 'native': return nativeBackend();
    case 'noble': return nobleBackend;
    case 'node': return nodeBackend;
    default:
      throw invalidArg(`backend must be one of ${BACKEND_NAMES.join(', ')}, got ${String(which)}`);
  }
}

export interface Info {
  backend: BackendName;
  kernel: string | null;
  forcedKernel: string | null;
  addon: {
    loaded: boolean; path: string | null; errors: string[];
    /** 'prebuild' (shipped in the package), 'build' (compiled at install), 'env' (WEIGHTSEAL_ADDON), or null. */
    source: AddonSource | null;
    /** Why that one loaded, or why none did. */
    reason: string;
  };
  /** From the addon's cpuid/xgetbv, else /proc/cpuinfo (so a failed load still shows the CPU); null if neither. */
  cpu: CpuReport | null;
  kernels: { name: string; supported: boolean }[];
  openssl: string | null;
  node: string;
  /**
   * Why the default backend cannot run (seal(), open() and the rest throw exactly this), e.g.
   * WEIGHTSEAL_KERNEL naming an unknown kernel; null when it can. `backend` then names the
   * backend that was asked for, not one that would silently run instead.
   */
  error: { code: string; message: string } | null;
}

/** What weightseal sees on this machine: CPU, OS vector state, kernel, addon load errors. */
export function info(): Info {
  const { addon, path, errors, source, reason } = addonStatus();
  const native = addon?.info() ?? null;
  let backend: BackendName = 'noble';
  let kernel: string | null = null;
  const allErrors = [...errors];
  let error: Info['error'] = null;
  try {
    const b = defaultBackend();
    backend = b.name;
    kernel = b.kernel;
  } catch (e) {
    if (!isWeightsealError(e)) throw e;
    allErrors.push(e.message);
    backend = 'native'; // what the default asked for: seal() fails with this error, it does not fall back
    error = { code: e.code, message: e.message };
  }
  return {
    backend,
    kernel,
    forcedKernel: process.env.WEIGHTSEAL_KERNEL ?? null,
    addon: { loaded: !!addon, path, errors: allErrors, source, reason },
    cpu: native ? {
      source: process.arch === 'arm64' ? 'hwcap' : 'cpuid',
      features: native.features,
      xcr0: native.os.xcr0,
      osYmm: native.os.ymm,
      osZmm: native.os.zmm,
    } : cpuinfoReport(),
    kernels: native?.kernels ?? [],
    openssl: native?.openssl ?? null,
    node: process.version,
    error,
  };
}

export { nobleBackend, nodeBackend, nativeBackend };
