#include "hkdf.h"

#include "gcm.h"

// The HMAC_CTX calls of OpenSSL 1.1 and 3.x (deprecated in 3.0, still exported by every node
// binary that carries OpenSSL), declared weak like openssl_evp.cc so the addon loads without.
extern "C" {
struct hmac_ctx_st;
struct evp_md_st;
struct engine_st;
__attribute__((weak)) hmac_ctx_st* HMAC_CTX_new(void);
__attribute__((weak)) void HMAC_CTX_free(hmac_ctx_st*);
__attribute__((weak)) int HMAC_Init_ex(hmac_ctx_st*, const void*, int, const evp_md_st*,
                                       engine_st*);
__attribute__((weak)) int HMAC_Update(hmac_ctx_st*, const unsigned char*, size_t);
__attribute__((weak)) int HMAC_Final(hmac_ctx_st*, unsigned char*, unsigned int*);
__attribute__((weak)) const evp_md_st* EVP_sha512(void);
}

namespace ws {

bool hkdf_available() {
  return HMAC_CTX_new && HMAC_CTX_free && HMAC_Init_ex && HMAC_Update && HMAC_Final && EVP_sha512;
}

bool hkdf_expand_sha512(const uint8_t* prk, size_t prk_len, const uint8_t* info,
                        size_t info_len, uint8_t* okm, size_t out_len) {
  if (!hkdf_available() || out_len > kHkdfMaxOut || prk_len > 1024) return false;
  // T(i) = HMAC(prk, T(i-1) || info || i). Each T(i) is written straight into okm (which is
  // sized for whole blocks), so T(i-1) is read from there: no second copy of any block.
  // One HMAC context for every block: re-initialising it with a null key keeps the keyed
  // inner and outer states, so the key is hashed once, not once per block.
  hmac_ctx_st* ctx = HMAC_CTX_new();
  if (!ctx) return false;
  bool ok = true;
  uint8_t* prev = nullptr;
  for (unsigned char i = 1; ok && static_cast<size_t>(i - 1) * 64 < out_len; i++) {
    uint8_t* t = okm + (i - 1) * 64;
    unsigned int n = 0;
    ok = (i == 1 ? HMAC_Init_ex(ctx, prk, static_cast<int>(prk_len), EVP_sha512(), nullptr)
                 : HMAC_Init_ex(ctx, nullptr, 0, nullptr, nullptr)) == 1 &&
         (!prev || HMAC_Update(ctx, prev, 64) == 1) &&
         (info_len == 0 || HMAC_Update(ctx, info, info_len) == 1) &&
         HMAC_Update(ctx, &i, 1) == 1 && HMAC_Final(ctx, t, &n) == 1 && n == 64;
    prev = t;
  }
  HMAC_CTX_free(ctx);  // OpenSSL clears the inner and outer digest states as it frees them
  if (!ok) secure_wipe(okm, kHkdfMaxOut);
  return ok;
}

}  // namespace ws
