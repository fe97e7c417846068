// HKDF-Expand (RFC 5869 section 2.3) with HMAC-SHA-512, computed in native memory so the
// c2sp.org/chunked-encryption derived key never exists in the JS heap. No Node-API here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ws {

// Largest output the format asks for: key (32) || base nonce (12) || commitment (32).
constexpr size_t kHkdfMaxOut = 2 * 64;

// False when the process exports no OpenSSL HMAC (a node built against a shared libcrypto
// that hides it); the JS side then derives in JS and says so.
bool hkdf_available();

// okm = HKDF-Expand(SHA-512, prk, info, out_len), out_len <= kHkdfMaxOut. Every intermediate
// block lives in okm itself or is wiped before return. Returns false if OpenSSL failed.
bool hkdf_expand_sha512(const uint8_t* prk, size_t prk_len, const uint8_t* info,
                        size_t info_len, uint8_t* okm, size_t out_len);

}  // namespace ws
