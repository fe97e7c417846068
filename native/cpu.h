// Which kernels this CPU and OS can run: cpuid for the instructions, xgetbv for whether the
// OS saves the vector state (XCR0). A CPU can list AVX-512 while the OS leaves it disabled.
#pragma once

#include <cstdint>

#include "gcm.h"

namespace ws {

struct CpuFeatures {
  bool aes, pclmul, ssse3, sse41, avx, avx2, vaes, vpclmulqdq, avx512f, avx512bw, avx512vl;
  bool os_ymm;  // XCR0 has SSE and AVX state enabled
  bool os_zmm;  // XCR0 also has opmask and the ZMM state enabled
  uint64_t xcr0;
};

const CpuFeatures& cpu_features();
bool cpu_supports(const Kernel& k);
// The fastest kernel this machine runs, or nullptr when it has no AES-NI at all.
const Kernel* best_kernel();
// By name ("aesni", "vaes256", "vaes512"), or nullptr if unknown.
const Kernel* kernel_by_name(const char* name);

}  // namespace ws
