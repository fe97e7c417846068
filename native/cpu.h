// Which kernels this CPU and OS can run. x86-64: cpuid for the instructions, xgetbv for
// whether the OS saves the vector state (XCR0); a CPU can list AVX-512 while the OS leaves it
// disabled. arm64: the kernel's HWCAP bits (getauxval), which the OS sets only for what it
// lets user space run.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gcm.h"

namespace ws {

struct CpuFeatures {
  bool aes, pclmul, ssse3, sse41, avx, avx2, vaes, vpclmulqdq, avx512f, avx512bw, avx512vl;
  bool os_ymm;  // XCR0 has SSE and AVX state enabled
  bool os_zmm;  // XCR0 also has opmask and the ZMM state enabled
  uint64_t xcr0;
  bool pmull;  // arm64: PMULL/PMULL2 (64x64 carry-less multiply); aes above is AESE/AESD there
};

// Every kernel compiled into this binary, fastest first: x86-64 or arm64.
struct KernelList {
  const Kernel* const* first;
  size_t n;
  const Kernel* const* begin() const { return first; }
  const Kernel* const* end() const { return first + n; }
};
KernelList all_kernels();

const CpuFeatures& cpu_features();
bool cpu_supports(const Kernel& k);
// The fastest kernel this machine runs, or nullptr when it has no AES-NI (arm64: no AES and
// PMULL) at all.
const Kernel* best_kernel();
// By name ("aesni", "vaes256", "vaes512", "armv8"), or nullptr if unknown here.
const Kernel* kernel_by_name(const char* name);

}  // namespace ws
