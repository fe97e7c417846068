// JS-facing wrappers for what the boundary needs besides the kernels: the c2sp derived key
// held in native memory, and overlap of two views by address. Includes napi.h (as binding.h).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace ws {

// One message's derived AEAD key (c2sp.org/chunked-encryption "Key derivation"), computed by
// HKDF in native memory. Only the key stays here; base nonce and commitment are written to
// JS buffers (the commitment is in the header; GCM nonces are not secret). Wiped by
// destroy() or, failing that, by the finalizer.
class DerivedKeys : public Napi::ObjectWrap<DerivedKeys> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit DerivedKeys(const Napi::CallbackInfo& info);
  ~DerivedKeys() override;

  // The key bytes of a live DerivedKeys object `v` (checked by type tag, so no other wrapped
  // object is mistaken for one); false when v is not one or was destroyed.
  static bool KeyOf(const Napi::Value& v, const uint8_t** key, size_t* len);

 private:
  Napi::Value WriteKey(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  void Release();

  uint8_t* okm_ = nullptr;  // kHkdfMaxOut bytes; the key is the first key_len_
  size_t key_len_ = 0;
};

// Any ArrayBufferView's bytes (TypedArray of any element type, or DataView), by the data
// pointer Node-API reports, which is right for SharedArrayBuffer memory too.
bool view_bytes(const Napi::Value& v, uint8_t** p, size_t* n);

// viewsOverlap(a, b) -> boolean: whether two ArrayBufferViews share a byte of memory, by
// address, so two SharedArrayBuffer objects over one memory (postMessage) are caught.
Napi::Value ViewsOverlap(const Napi::CallbackInfo& info);

}  // namespace ws
