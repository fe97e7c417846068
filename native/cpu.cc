#include "cpu.h"

#include <cpuid.h>

#include <cstring>
#include <initializer_list>

namespace ws {
namespace {

uint64_t read_xcr0() {
  uint32_t lo, hi;
  // xgetbv with ecx = 0, spelled as bytes so this file needs no -mxsave.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f{};
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  f.ssse3 = c & bit_SSSE3;
  f.sse41 = c & bit_SSE4_1;
  f.pclmul = c & bit_PCLMUL;
  f.aes = c & bit_AES;
  f.avx = c & bit_AVX;
  bool osxsave = c & bit_OSXSAVE;
  if (osxsave) {
    f.xcr0 = read_xcr0();
    f.os_ymm = (f.xcr0 & 0x6) == 0x6;
    f.os_zmm = f.os_ymm && (f.xcr0 & 0xe0) == 0xe0;
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = b & bit_AVX2;
    f.avx512f = b & bit_AVX512F;
    f.avx512bw = b & bit_AVX512BW;
    f.avx512vl = b & bit_AVX512VL;
    f.vaes = c & (1u << 9);
    f.vpclmulqdq = c & (1u << 10);
  }
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool cpu_supports(const Kernel& k) {
  const CpuFeatures& f = cpu_features();
  bool aesni = f.aes && f.pclmul && f.ssse3 && f.sse41;
  bool vaes256 = aesni && f.avx && f.avx2 && f.vaes && f.vpclmulqdq && f.os_ymm;
  if (&k == &kKernelAesni) return aesni;
  if (&k == &kKernelVaes256) return vaes256;
  if (&k == &kKernelVaes512) return vaes256 && f.avx512f && f.avx512bw && f.avx512vl && f.os_zmm;
  return false;
}

const Kernel* best_kernel() {
  for (const Kernel* k : {&kKernelVaes512, &kKernelVaes256, &kKernelAesni}) {
    if (cpu_supports(*k)) return k;
  }
  return nullptr;
}

const Kernel* kernel_by_name(const char* name) {
  for (const Kernel* k : {&kKernelVaes512, &kKernelVaes256, &kKernelAesni}) {
    if (std::strcmp(k->name, name) == 0) return k;
  }
  return nullptr;
}

}  // namespace ws
