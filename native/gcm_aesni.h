// Scalar (one 128-bit vector) GCM pieces shared by the aesni and vaes256 kernels. Every CPU
// with VAES has AES-NI and PCLMULQDQ, so vaes256 calls these rather than duplicating them.
//
// GHASH state and H powers are kept byte-reflected: a block's bytes reversed so that GHASH
// becomes POLYVAL (RFC 8452 appendix A) with H' = mulX_POLYVAL(ByteReverse(H)). Both
// kernels share the first kAesniHtableBytes of GcmKey::htable in this layout.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gcm.h"

namespace ws {

// htable[0, 128): H'^8 .. H'^1 (entry i is H'^(8 - i)); htable[128, 256): for each of those,
// the XOR of its two 64-bit halves (Karatsuba), in the low half of the entry.
constexpr size_t kAesniHtableBytes = 256;

// Computes H = AES_K(0^128) from key->round_keys and fills htable[0, kAesniHtableBytes).
void aesni_init_htable(GcmKey* key);

// SP 800-38D 7.1 step 2: the pre-counter block J0 in spec byte order.
void aesni_j0(const GcmKey* key, const uint8_t* iv, size_t iv_len, uint8_t j0[16]);

// Steps 5-6: folds in the length block, multiplies by H and XORs in AES_K(J0).
void aesni_finish_tag(const GcmKey* key, const uint8_t state[16], const uint8_t j0[16],
                      uint64_t aad_len, uint64_t len, uint8_t tag[16]);

}  // namespace ws
