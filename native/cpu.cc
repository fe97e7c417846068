#include "cpu.h"

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace ws {
namespace {

#if defined(__x86_64__)

const Kernel* const kKernels[] = {&kKernelVaes512, &kKernelVaes256, &kKernelAesni};

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

bool supported(const CpuFeatures& f, const Kernel& k) {
  bool aesni = f.aes && f.pclmul && f.ssse3 && f.sse41;
  bool vaes256 = aesni && f.avx && f.avx2 && f.vaes && f.vpclmulqdq && f.os_ymm;
  if (&k == &kKernelAesni) return aesni;
  if (&k == &kKernelVaes256) return vaes256;
  if (&k == &kKernelVaes512) return vaes256 && f.avx512f && f.avx512bw && f.avx512vl && f.os_zmm;
  return false;
}

#elif defined(__aarch64__)

const Kernel* const kKernels[] = {&kKernelArmv8};

// <asm/hwcap.h> values for AArch64, spelled out so the build needs no kernel headers.
constexpr unsigned long kHwcapAes = 1ul << 3;
constexpr unsigned long kHwcapPmull = 1ul << 4;

CpuFeatures detect() {
  CpuFeatures f{};
  unsigned long hw = getauxval(AT_HWCAP);
  f.aes = hw & kHwcapAes;
  f.pmull = hw & kHwcapPmull;
  return f;
}

bool supported(const CpuFeatures& f, const Kernel& k) {
  return &k == &kKernelArmv8 && f.aes && f.pmull;
}

#else
#error "weightseal's native kernels are built for x86-64 and arm64 only"
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

KernelList all_kernels() { return {kKernels, sizeof kKernels / sizeof kKernels[0]}; }

bool cpu_supports(const Kernel& k) { return supported(cpu_features(), k); }

const Kernel* best_kernel() {
  for (const Kernel* k : all_kernels()) {
    if (cpu_supports(*k)) return k;
  }
  return nullptr;
}

const Kernel* kernel_by_name(const char* name) {
  for (const Kernel* k : all_kernels()) {
    if (std::strcmp(k->name, name) == 0) return k;
  }
  return nullptr;
}

}  // namespace ws
