#include "binding_keys.h"

#include <cstdlib>
#include <cstring>

#include "gcm.h"
#include "key_memory.h"
#include "hkdf.h"

namespace ws {
namespace {

// Random tag: napi_check_object_type_tag tells a DerivedKeys from any other wrapped object.
constexpr napi_type_tag kDerivedTag = {0x8d3f0a2b6c714e59ULL, 0xb21e47c09a5d3f68ULL};

Napi::Value type_error(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, std::string("weightseal native: ") + msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

bool view_bytes(const Napi::Value& v, uint8_t** p, size_t* n) {
  napi_env env = v.Env();
  void* data = nullptr;
  if (v.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) {
      return false;
    }
    *n = v.As<Napi::TypedArray>().ByteLength();
  } else if (v.IsDataView()) {
    size_t length = 0, offset = 0;
    napi_value ab;
    if (napi_get_dataview_info(env, v, &length, &data, &ab, &offset) != napi_ok) return false;
    *n = length;
  } else {
    return false;
  }
  *p = static_cast<uint8_t*>(data);
  return true;
}

Napi::Function DerivedKeys::Define(Napi::Env env) {
  return DefineClass(env, "DerivedKeys", {InstanceMethod<&DerivedKeys::WriteKey>("writeKey"),
                                          InstanceMethod<&DerivedKeys::Destroy>("destroy")});
}

// new DerivedKeys(inputKey, info, keyBytes: 16|32, baseNonceOut(12), commitmentOut(32)):
// okm = HKDF-Expand(SHA-512, inputKey, info, keyBytes + 12 + 32) = key || nonce || commitment.
DerivedKeys::DerivedKeys(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DerivedKeys>(info) {
  Napi::Env env = info.Env();
  uint8_t *prk, *inf, *nonce, *commit;
  size_t prk_n, inf_n, nonce_n, commit_n;
  if (!view_bytes(info[0], &prk, &prk_n) || !view_bytes(info[1], &inf, &inf_n) ||
      !info[2].IsNumber() || !view_bytes(info[3], &nonce, &nonce_n) ||
      !view_bytes(info[4], &commit, &commit_n)) {
    type_error(env, "DerivedKeys(inputKey, info, keyBytes, nonceOut, commitmentOut)");
    return;
  }
  uint32_t kb = info[2].As<Napi::Number>().Uint32Value();
  if ((kb != 16 && kb != 32) || prk_n == 0 || !prk || nonce_n != kNonceBytes || !nonce ||
      commit_n != 32 || !commit || (inf_n && !inf)) {
    type_error(env, "DerivedKeys: bad argument sizes");
    return;
  }
  okm_ = static_cast<uint8_t*>(key_block_alloc(kHkdfMaxOut));
  if (!okm_) {
    Napi::Error::New(env, "weightseal native: out of memory").ThrowAsJavaScriptException();
    return;
  }
  if (!hkdf_expand_sha512(prk, prk_n, inf, inf_n, okm_, kb + kNonceBytes + 32)) {
    Release();
    Napi::Error::New(env, "weightseal native: OpenSSL HMAC-SHA-512 is not available")
        .ThrowAsJavaScriptException();
    return;
  }
  key_len_ = kb;
  std::memcpy(nonce, okm_ + kb, kNonceBytes);
  std::memcpy(commit, okm_ + kb + kNonceBytes, 32);
  // Only the key stays: the rest of the blocks (nonce, commitment, unused tail) is wiped now.
  secure_wipe(okm_ + kb, kHkdfMaxOut - kb);
  info.This().As<Napi::Object>().TypeTag(&kDerivedTag);
}

DerivedKeys::~DerivedKeys() { Release(); }

void DerivedKeys::Release() {
  if (!okm_) return;
  key_block_free(okm_);  // wipes it
  okm_ = nullptr;
  key_len_ = 0;
}

bool DerivedKeys::KeyOf(const Napi::Value& v, const uint8_t** key, size_t* len) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kDerivedTag)) return false;
  DerivedKeys* d = DerivedKeys::Unwrap(v.As<Napi::Object>());
  if (!d || !d->okm_) return false;
  *key = d->okm_;
  *len = d->key_len_;
  return true;
}

// writeKey(dst): copies the key into dst (exactly keyBytes long), for a backend that is not
// native or for a pool key slot. The caller wipes dst.
Napi::Value DerivedKeys::WriteKey(const Napi::CallbackInfo& info) {
  uint8_t* dst;
  size_t n;
  if (!okm_) return type_error(info.Env(), "derived key was destroyed");
  if (!view_bytes(info[0], &dst, &n) || n != key_len_ || !dst) {
    return type_error(info.Env(), "writeKey needs a view of exactly the key length");
  }
  std::memcpy(dst, okm_, key_len_);
  return info.Env().Undefined();
}

Napi::Value DerivedKeys::Destroy(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value ViewsOverlap(const Napi::CallbackInfo& info) {
  uint8_t *a, *b;
  size_t an, bn;
  if (!view_bytes(info[0], &a, &an) || !view_bytes(info[1], &b, &bn)) {
    return type_error(info.Env(), "viewsOverlap(a, b) takes two ArrayBufferViews");
  }
  bool hit = an && bn && a && b && a < b + bn && b < a + an;
  return Napi::Boolean::New(info.Env(), hit);
}

}  // namespace ws
