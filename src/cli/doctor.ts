/**
 * `weightseal doctor`: what info() sees (CPU features, the OS's XCR0 vector state, the chosen
 * kernel, the addon and every load error) and, for each problem, what to do about it.
 */
import { release } from 'node:os';
import { info, type Info } from '../backend/index.js';

export interface DoctorReport extends Info {
  os: { platform: string; kernel: string; arch: string };
  advice: string[];
}

/** What each kernel needs, to explain why one is not supported. */
const NEEDS: Record<string, string[]> = {
  vaes512: ['vaes', 'vpclmulqdq', 'avx512f', 'avx512bw', 'avx512vl'],
  vaes256: ['vaes', 'vpclmulqdq', 'avx2'],
  aesni: ['aes', 'pclmulqdq', 'ssse3'],
  armv8: ['aes', 'pmull'],
};

export function advise(i: Info): string[] {
  const out: string[] = [];
  if (process.env.WEIGHTSEAL_DISABLE_NATIVE) {
    out.push('WEIGHTSEAL_DISABLE_NATIVE is set, so the native addon is not used; unset it to use the native kernels.');
  } else if (!i.addon.loaded) {
    out.push('The native addon is not loaded, so AES-GCM runs in pure JS (hundreds of times slower). ' +
      `No prebuilt binary was used (${i.addon.reason}). ` +
      'Rebuild it: `npm rebuild weightseal` (or `npm run build` in a checkout); it needs cmake >= 3.15 ' +
      'and a C++17 compiler (g++ >= 10 or clang >= 12): `apt-get install cmake g++`. ' +
      'The reason is in build/addon-error.txt and the errors below.');
    if (process.arch !== 'x64' && process.arch !== 'arm64') {
      out.push(`There are no native kernels for ${process.arch}; only x86-64 and arm64 are supported.`);
    }
  }
  if (i.cpu) {
    const f = i.cpu.features;
    if (process.arch === 'arm64' && (!f.aes || !f.pmull)) {
      out.push('This CPU lacks the ARMv8 Cryptography Extensions (AES, PMULL): no native kernel can run. ' +
        'Use --backend node (OpenSSL) for the best speed available.');
    }
    if (process.arch === 'x64' && (!f.aes || !f.pclmulqdq)) {
      out.push('This CPU has no AES-NI/PCLMULQDQ: no native kernel can run. Use --backend node (OpenSSL) ' +
        'for the best speed available; check that the hypervisor passes the aes and pclmulqdq flags to the guest.');
    }
    if ((f.avx2 || f.vaes) && !i.cpu.osYmm) {
      out.push('The CPU has AVX but the OS has not enabled YMM state in XCR0, so the VAES kernels are off. ' +
        'Check the kernel command line for noxsave/noavx and the hypervisor CPU model.');
    }
    if (f.avx512f && !i.cpu.osZmm) {
      out.push('The CPU has AVX-512 but the OS has not enabled ZMM/opmask state in XCR0 ' +
        `(xcr0 = 0x${(i.cpu.xcr0 ?? 0).toString(16)}), so vaes512 is off. Check for the noavx512 ` +
        'boot option or a hypervisor that masks AVX-512.');
    }
    if (process.arch === 'x64' && f.aes && !f.vaes) {
      out.push('No VAES on this CPU: the aesni kernel (one block per instruction) is used. Expect roughly ' +
        'half the single-core speed of a VAES CPU (Intel Ice Lake / AMD Zen 3 or later).');
    }
    for (const k of i.kernels) {
      if (!k.supported) {
        const missing = (NEEDS[k.name] ?? []).filter((n) => !f[n]);
        if (missing.length > 0) out.push(`Kernel ${k.name} is unavailable: the CPU lacks ${missing.join(', ')}.`);
      }
    }
  }
  if (i.forcedKernel) {
    out.push(`WEIGHTSEAL_KERNEL=${i.forcedKernel} forces a kernel; unset it to let weightseal choose.`);
  }
  if (i.addon.loaded && i.kernel && out.length === 0) out.push(`All good: native ${i.kernel} kernel in use.`);
  return out;
}

export function doctor(): DoctorReport {
  const i = info();
  return {
    ...i,
    os: { platform: process.platform, kernel: release(), arch: process.arch },
    advice: advise(i),
  };
}

export function formatDoctor(r: DoctorReport): string {
  const yes = (b: boolean | undefined) => (b ? 'yes' : 'no');
  const lines = [
    `weightseal doctor`,
    `  node          ${r.node} (${r.os.platform} ${r.os.arch}, kernel ${r.os.kernel})`,
    `  backend       ${r.backend}${r.kernel ? ` (kernel ${r.kernel})` : ''}` +
      (r.error ? `: UNAVAILABLE, seal and open fail with ${r.error.code}: ${r.error.message}` : ''),
    `  addon         ${r.addon.loaded ? `loaded from ${r.addon.path}` : 'NOT loaded'}`,
    `  addon source  ${r.addon.source ?? 'none'}: ${r.addon.reason}`,
    `  openssl       ${r.openssl ?? 'unknown (addon not loaded)'}`,
  ];
  if (r.cpu) {
    const feats = Object.entries(r.cpu.features).map(([k, v]) => `${k}${v ? '+' : '-'}`).join(' ');
    lines.push(`  cpu features  ${feats} (from ${r.cpu.source})`);
    const xcr0 = r.cpu.xcr0 === null ? 'xcr0 unread' : `xcr0=0x${r.cpu.xcr0.toString(16)}`;
    // XCR0 is x86 state; arm64 reports its features through HWCAP only.
    if (r.os.arch !== 'arm64') lines.push(`  os state      ${xcr0} ymm=${yes(r.cpu.osYmm)} zmm=${yes(r.cpu.osZmm)}`);
  }
  if (r.kernels.length > 0) {
    lines.push(`  kernels       ${r.kernels.map((k) => `${k.name}${k.supported ? '' : ' (unsupported)'}`).join(', ')}`);
  }
  if (r.addon.errors.length > 0) {
    lines.push('  load errors:');
    for (const e of r.addon.errors) lines.push(...e.split('\n').map((l) => `    ${l}`));
  }
  lines.push('advice:');
  for (const a of r.advice) lines.push(`  - ${a}`);
  return lines.join('\n');
}
