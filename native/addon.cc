// Init only: detect the CPU once, then the exports table. No global mutable state, so the
// addon loads in any number of worker threads (each gets its own class constructors).
#include <napi.h>

#include "async.h"
#include "binding.h"
#include "binding_keys.h"
#include "hkdf.h"
#include "cpu.h"
#include "memfd.h"
#include "message.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ws::cpu_features();
  exports.Set("NativeKey", ws::NativeKey::Define(env));
  exports.Set("OpensslGcm", ws::OpensslGcm::Define(env));
  exports.Set("ThreadPool", ws::ThreadPool::Define(env));
  exports.Set("memcpy", Napi::Function::New<ws::Memcpy>(env, "memcpy"));
  exports.Set("info", Napi::Function::New<ws::Info>(env, "info"));
  exports.Set("selfTest", Napi::Function::New<ws::SelfTest>(env, "selfTest"));
  exports.Set("viewsOverlap", Napi::Function::New<ws::ViewsOverlap>(env, "viewsOverlap"));
  if (ws::hkdf_available()) {
    exports.Set("DerivedKeys", ws::DerivedKeys::Define(env));
    exports.Set("sealMessage", Napi::Function::New<ws::SealMessage>(env, "sealMessage"));
    exports.Set("openMessage", Napi::Function::New<ws::OpenMessage>(env, "openMessage"));
  }
  exports.Set("memfdCreate", Napi::Function::New<ws::MemfdCreate>(env, "memfdCreate"));
  exports.Set("memfdSeal", Napi::Function::New<ws::MemfdSeal>(env, "memfdSeal"));
  exports.Set("memfdSeals", Napi::Function::New<ws::MemfdSeals>(env, "memfdSeals"));
  return exports;
}

}  // namespace

NODE_API_MODULE(weightseal, Init)
