// A small message's whole seal or open in one call: HKDF, key expansion, commitment and
// chunks, with the derived key only ever in a native key block. The general path (derive into
// a DerivedKeys object, import it into a NativeKey, run the chunks, destroy both) costs four
// boundary crossings, two wrapped objects for the GC to finalise and three small JS buffers
// per message, which at 4-64 KiB is several times the cipher's own time.
#include "message.h"

#include <cstring>

#include "binding_keys.h"
#include "cpu.h"
#include "gcm.h"
#include "hkdf.h"
#include "key_memory.h"

namespace ws {
namespace {

constexpr size_t kSalt = 24;
constexpr size_t kCommit = 32;
constexpr size_t kHeader = kSalt + kCommit;
constexpr size_t kChunk = 16384;

struct Call {
  const Kernel* kernel = nullptr;
  uint8_t *ikm = nullptr, *inf = nullptr, *in = nullptr, *out = nullptr;
  size_t ikm_n = 0, inf_n = 0, in_n = 0, out_n = 0;
  uint32_t key_bytes = 0;
};

Napi::Value type_error(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, std::string("weightseal native: ") + msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool parse(const Napi::CallbackInfo& info, Call* c) {
  if (!view_bytes(info[0], &c->ikm, &c->ikm_n) || !view_bytes(info[1], &c->inf, &c->inf_n) ||
      !info[2].IsNumber() || !info[3].IsString() || !view_bytes(info[4], &c->in, &c->in_n) ||
      !view_bytes(info[5], &c->out, &c->out_n)) {
    type_error(info.Env(), "(inputKey, info, keyBytes, kernel, input, out)");
    return false;
  }
  c->key_bytes = info[2].As<Napi::Number>().Uint32Value();
  const Kernel* k = kernel_by_name(info[3].As<Napi::String>().Utf8Value().c_str());
  if (!k || !cpu_supports(*k)) {
    type_error(info.Env(), "kernel not available on this CPU");
    return false;
  }
  c->kernel = k;
  const bool overlap = c->in_n && c->out_n && c->in < c->out + c->out_n && c->out < c->in + c->in_n;
  if ((c->key_bytes != 16 && c->key_bytes != 32) || c->ikm_n == 0 || !c->ikm ||
      (c->in_n && !c->in) || (c->out_n && !c->out) || overlap) {
    type_error(info.Env(), "bad key length, empty key, or overlapping input and output");
    return false;
  }
  return true;
}

// okm = key || base nonce || commitment in one key block, and the key expanded in another.
// Both are wiped as they go back (key_memory.cc).
class Keys {
 public:
  bool Derive(const Call& c) {
    okm_ = static_cast<uint8_t*>(key_block_alloc(kHkdfMaxOut));
    key_ = static_cast<GcmKey*>(key_block_alloc(sizeof(GcmKey)));
    if (!okm_ || !key_) return false;
    if (!hkdf_expand_sha512(c.ikm, c.ikm_n, c.inf, c.inf_n, okm_, c.key_bytes + kNonceBytes + kCommit)) {
      return false;
    }
    c.kernel->init(key_, okm_, c.key_bytes);
    nonce_ = okm_ + c.key_bytes;
    commitment_ = nonce_ + kNonceBytes;
    return true;
  }
  ~Keys() {
    key_block_free(okm_);
    key_block_free(key_);
  }
  const GcmKey* key() const { return key_; }
  const uint8_t* nonce() const { return nonce_; }
  const uint8_t* commitment() const { return commitment_; }

 private:
  uint8_t* okm_ = nullptr;
  GcmKey* key_ = nullptr;
  const uint8_t* nonce_ = nullptr;
  const uint8_t* commitment_ = nullptr;
};

Napi::Value no_hkdf(Napi::Env env) {
  Napi::Error::New(env, "weightseal native: OpenSSL HMAC-SHA-512 is not available")
      .ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

Napi::Value SealMessage(const Napi::CallbackInfo& info) {
  Call c;
  if (!parse(info, &c)) return info.Env().Undefined();
  const uint64_t n = c.in_n / kChunk + 1;
  if (c.out_n != kHeader + c.in_n + n * kTagBytes) {
    return type_error(info.Env(), "out must be exactly the sealed length");
  }
  Keys k;
  if (!k.Derive(c)) return no_hkdf(info.Env());
  std::memcpy(c.out + kSalt, k.commitment(), kCommit);
  seal_chunks(*c.kernel, k.key(), k.nonce(), 0, c.in, c.in_n, kChunk, n, c.out + kHeader);
  return info.Env().Undefined();
}

Napi::Value OpenMessage(const Napi::CallbackInfo& info) {
  Call c;
  if (!parse(info, &c)) return info.Env().Undefined();
  const size_t body = c.in_n >= kHeader ? c.in_n - kHeader : 0;
  const uint64_t n = body / (kChunk + kTagBytes) + 1;
  if (c.in_n < kHeader || body < n * kTagBytes || c.out_n != body - n * kTagBytes ||
      (n - 1) * kChunk > c.out_n || c.out_n - (n - 1) * kChunk >= kChunk) {
    return type_error(info.Env(), "sealed length has no message, or out is not its plaintext length");
  }
  Keys k;
  if (!k.Derive(c)) return no_hkdf(info.Env());
  // The received commitment is read once, into our own copy, and compared in constant time.
  uint8_t got[kCommit];
  std::memcpy(got, c.in + kSalt, kCommit);
  uint8_t diff = 0;
  for (size_t i = 0; i < kCommit; i++) diff |= got[i] ^ k.commitment()[i];
  volatile uint8_t d = diff;
  if (d != 0) return Napi::Number::New(info.Env(), -2);
  const int64_t bad = open_chunks(*c.kernel, k.key(), k.nonce(), 0, c.in + kHeader, c.out_n,
                                  kChunk, n, c.out);
  // Chunks before the bad one verified, but no part of a failed message reaches the caller.
  if (bad >= 0) secure_wipe(c.out, c.out_n);
  return Napi::Number::New(info.Env(), static_cast<double>(bad));
}

}  // namespace ws
