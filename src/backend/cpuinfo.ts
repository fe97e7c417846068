/**
 * CPU features from /proc/cpuinfo, for info() when the addon (and its cpuid) cannot load: the
 * report a user reads to find out why still says what the CPU offers. Linux lists avx and
 * avx512f only where the OS enabled their register state, so those stand in for XCR0.
 */
import { readFileSync } from 'node:fs';

/** Our feature names (native/cpu.h) and the kernel's spelling of each. */
const FLAGS: Record<string, string> = {
  aes: 'aes', pclmulqdq: 'pclmulqdq', ssse3: 'ssse3', sse41: 'sse4_1', avx: 'avx', avx2: 'avx2', vaes: 'vaes',
  vpclmulqdq: 'vpclmulqdq', avx512f: 'avx512f', avx512bw: 'avx512bw', avx512vl: 'avx512vl',
};

export interface CpuReport {
  /** cpuid (x86-64) or hwcap (arm64, getauxval) from the addon; /proc/cpuinfo without it. */
  source: 'cpuid' | 'hwcap' | '/proc/cpuinfo';
  features: Record<string, boolean>;
  /** XCR0 as read by xgetbv; null when only /proc/cpuinfo was available. */
  xcr0: number | null;
  osYmm: boolean;
  osZmm: boolean;
}

export function cpuinfoReport(text?: string): CpuReport | null {
  let cpuinfo = text;
  if (cpuinfo === undefined) {
    try {
      cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return null;
    }
  }
  const arm = /^Features\s*:(.*)$/m.exec(cpuinfo);
  if (arm && !/^flags\s*:/m.test(cpuinfo)) {
    // arm64: the kernel's HWCAP names; no XCR0 there.
    const have = new Set(arm[1]!.trim().split(/\s+/));
    return { source: '/proc/cpuinfo', features: { aes: have.has('aes'), pmull: have.has('pmull') }, xcr0: null,
      osYmm: false, osZmm: false };
  }
  const line = /^flags\s*:(.*)$/m.exec(cpuinfo);
  if (!line) return null;
  const have = new Set(line[1]!.trim().split(/\s+/));
  const features = Object.fromEntries(Object.entries(FLAGS).map(([ours, linux]) => [ours, have.has(linux)]));
  return { source: '/proc/cpuinfo', features, xcr0: null, osYmm: have.has('avx'), osZmm: have.has('avx512f') };
}
