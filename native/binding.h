// The only header besides addon.cc that includes napi.h: JS-facing wrappers over gcm.h.
#pragma once

#include <napi.h>

#include "gcm.h"
#include "openssl_evp.h"

namespace ws {

// Tags NativeKey objects, so async.cc can unwrap a key argument without type confusion.
extern const napi_type_tag kNativeKeyTag;

// An expanded AES-GCM key bound to one kernel. The schedule and H powers live in native
// memory and are wiped by destroy() or, failing that, by the finalizer.
class NativeKey : public Napi::ObjectWrap<NativeKey> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeKey(const Napi::CallbackInfo& info);
  ~NativeKey() override;
  // For native/async.cc: the expanded key and its kernel (key() is null once destroyed).
  const GcmKey* key() const { return key_; }
  const Kernel* kernel() const { return kernel_; }

 private:
  bool Live(const Napi::CallbackInfo& info);
  void Release();
  Napi::Value Seal(const Napi::CallbackInfo& info);
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value SealChunks(const Napi::CallbackInfo& info);
  Napi::Value OpenChunks(const Napi::CallbackInfo& info);
  Napi::Value Ctr(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value KernelName(const Napi::CallbackInfo& info);

  GcmKey* key_ = nullptr;
  const Kernel* kernel_ = nullptr;
};

class OpensslGcm : public Napi::ObjectWrap<OpensslGcm> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit OpensslGcm(const Napi::CallbackInfo& info);
  ~OpensslGcm() override;

 private:
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  EvpGcm* ctx_ = nullptr;
};

Napi::Value Memcpy(const Napi::CallbackInfo& info);
Napi::Value Info(const Napi::CallbackInfo& info);
Napi::Value SelfTest(const Napi::CallbackInfo& info);

}  // namespace ws
