// OpenSSL's EVP AES-GCM, called through the OpenSSL that the node binary itself carries and
// exports. It is here as a baseline for the kernel benchmark, not as a backend: the same
// sizes, no allocation per call, so the comparison with our kernels is like for like.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ws {

struct EvpGcm;

// False when the process exports no OpenSSL (e.g. a node built against a shared libcrypto).
bool evp_available();
const char* evp_version();
EvpGcm* evp_new(const uint8_t* key, size_t key_len, bool encrypt);
void evp_free(EvpGcm* g);
// One message with a 12-byte IV and no AAD. Returns false on failure (open: tag mismatch).
bool evp_run(EvpGcm* g, const uint8_t iv[12], const uint8_t* in, uint8_t* out, size_t len,
             uint8_t tag[16]);

}  // namespace ws
