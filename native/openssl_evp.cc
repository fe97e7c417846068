#include "openssl_evp.h"

// Prototypes of the stable EVP ABI (OpenSSL 1.1 and 3.x), declared weak so the addon still
// loads where the process exports no OpenSSL. Node ships these headers too, but declaring the
// dozen functions we call keeps the build free of any path into a Node install.
extern "C" {
struct evp_cipher_st;
struct evp_cipher_ctx_st;
struct engine_st;
typedef struct evp_cipher_st EVP_CIPHER;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
typedef struct engine_st ENGINE;
__attribute__((weak)) const EVP_CIPHER* EVP_aes_128_gcm(void);
__attribute__((weak)) const EVP_CIPHER* EVP_aes_256_gcm(void);
__attribute__((weak)) EVP_CIPHER_CTX* EVP_CIPHER_CTX_new(void);
__attribute__((weak)) void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX*);
__attribute__((weak)) int EVP_CipherInit_ex(EVP_CIPHER_CTX*, const EVP_CIPHER*, ENGINE*,
                                            const unsigned char*, const unsigned char*, int);
__attribute__((weak)) int EVP_CipherUpdate(EVP_CIPHER_CTX*, unsigned char*, int*,
                                           const unsigned char*, int);
__attribute__((weak)) int EVP_CipherFinal_ex(EVP_CIPHER_CTX*, unsigned char*, int*);
__attribute__((weak)) int EVP_CIPHER_CTX_ctrl(EVP_CIPHER_CTX*, int, int, void*);
__attribute__((weak)) const char* OpenSSL_version(int);
}

namespace ws {
namespace {
constexpr int kCtrlGcmGetTag = 0x10;  // EVP_CTRL_AEAD_GET_TAG
constexpr int kCtrlGcmSetTag = 0x11;  // EVP_CTRL_AEAD_SET_TAG
}  // namespace

struct EvpGcm {
  EVP_CIPHER_CTX* ctx;
  bool encrypt;
};

bool evp_available() {
  return EVP_aes_128_gcm && EVP_aes_256_gcm && EVP_CIPHER_CTX_new && EVP_CIPHER_CTX_free &&
         EVP_CipherInit_ex && EVP_CipherUpdate && EVP_CipherFinal_ex && EVP_CIPHER_CTX_ctrl;
}

const char* evp_version() { return OpenSSL_version ? OpenSSL_version(0) : "unavailable"; }

EvpGcm* evp_new(const uint8_t* key, size_t key_len, bool encrypt) {
  if (!evp_available() || (key_len != 16 && key_len != 32)) return nullptr;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return nullptr;
  const EVP_CIPHER* c = key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
  // The key schedule is set once here; evp_run only supplies a new IV, as a tuned caller would.
  if (EVP_CipherInit_ex(ctx, c, nullptr, key, nullptr, encrypt ? 1 : 0) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return nullptr;
  }
  return new EvpGcm{ctx, encrypt};
}

void evp_free(EvpGcm* g) {
  if (!g) return;
  EVP_CIPHER_CTX_free(g->ctx);
  delete g;
}

bool evp_run(EvpGcm* g, const uint8_t iv[12], const uint8_t* in, uint8_t* out, size_t len,
             uint8_t tag[16]) {
  int n = 0;
  if (len > 0x7fffffff) return false;
  if (EVP_CipherInit_ex(g->ctx, nullptr, nullptr, nullptr, iv, -1) != 1) return false;
  if (!g->encrypt && EVP_CIPHER_CTX_ctrl(g->ctx, kCtrlGcmSetTag, 16, tag) != 1) return false;
  if (len && EVP_CipherUpdate(g->ctx, out, &n, in, static_cast<int>(len)) != 1) return false;
  if (EVP_CipherFinal_ex(g->ctx, out + n, &n) != 1) return false;
  if (g->encrypt && EVP_CIPHER_CTX_ctrl(g->ctx, kCtrlGcmGetTag, 16, tag) != 1) return false;
  return true;
}

}  // namespace ws
