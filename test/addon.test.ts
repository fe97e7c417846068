import { describe, expect, it } from 'vitest';
import { info } from '../src/index.js';
import { nativeBackend, supportedKernels } from '../src/backend/native.js';
import { cpuFlags } from './helpers/backends.js';

describe('native addon', () => {
  const flags = cpuFlags();

  it('loads, and offers every kernel this CPU can run', () => {
    // A silently failed addon build would otherwise turn every native suite into a no-op.
    if (process.env.WEIGHTSEAL_DISABLE_NATIVE || process.arch !== 'x64' || !flags.has('aes')) return;
    const i = info();
    expect(i.addon.errors.filter((e) => !e.startsWith('build:'))).toEqual([]);
    expect(i.addon.loaded).toBe(true);
    expect(i.backend).toBe('native');
    const want = ['aesni'];
    if (flags.has('vaes') && flags.has('vpclmulqdq') && flags.has('avx2')) want.unshift('vaes256');
    if (want[0] === 'vaes256' && flags.has('avx512f') && flags.has('avx512bw') && flags.has('avx512vl')) {
      want.unshift('vaes512');
    }
    expect(supportedKernels()).toEqual(want);
    // The fastest, unless WEIGHTSEAL_KERNEL forces another (how CI-style runs cover all three).
    expect(i.kernel).toBe(process.env.WEIGHTSEAL_KERNEL ?? want[0]);
  });

  it('reports CPU features and the OS vector state', () => {
    const i = info();
    if (!i.addon.loaded) return;
    expect(i.cpu?.features.aes).toBe(flags.has('aes'));
    expect(i.cpu?.features.vaes).toBe(flags.has('vaes'));
    expect(typeof i.cpu?.xcr0).toBe('number');
    expect(i.openssl).toMatch(/OpenSSL/);
  });

  it('rejects an unknown or unsupported kernel with a clear code', () => {
    const code = info().addon.loaded ? 'ERR_KERNEL_UNAVAILABLE' : 'ERR_BACKEND_UNAVAILABLE';
    expect(() => nativeBackend('sse2')).toThrow(expect.objectContaining({ code }));
  });
});
