// JS-facing side of the output cache. The buffer's memory goes back to the cache only from
// its finalizer, which Node runs once no JavaScript can reach the buffer (or, at a worker's
// teardown, after detaching it), so a block is never in two callers' hands. Node marks such
// buffers untransferable, so postMessage cannot move the memory to another thread either.
// V8 counts an external buffer's bytes as external memory like any ArrayBuffer's, so dropped
// outputs raise GC pressure and come back promptly without napi_adjust_external_memory.
#include "outputs.h"

#include <cstdint>

#include "output_cache.h"

namespace ws {
namespace {

void GiveBack(napi_env, void* data, void* hint) {
  output_give(data, static_cast<size_t>(reinterpret_cast<uintptr_t>(hint)));
}

bool Size(const Napi::Value& v, uint64_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d))) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

}  // namespace

Napi::Value OutputBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t n = 0;
  if (!Size(info[0], &n) || n == 0 || n > SIZE_MAX / 2) {
    Napi::TypeError::New(env, "weightseal native: output size must be a positive integer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t capacity = 0;
  void* block = output_take(static_cast<size_t>(n), &capacity);
  if (!block) return env.Undefined();
  napi_value buf;
  napi_status s = napi_create_external_buffer(env, static_cast<size_t>(n), block, GiveBack,
                                              reinterpret_cast<void*>(static_cast<uintptr_t>(capacity)), &buf);
  if (s != napi_ok) {
    output_give(block, capacity);
    return env.Undefined();
  }
  return Napi::Value(env, buf);
}

Napi::Value OutputCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t limit = 0, idle_ms = 0;
  if (!info[0].IsUndefined()) {
    if (!Size(info[0], &limit)) {
      Napi::TypeError::New(env, "weightseal native: cache limit must be a byte count").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    output_set_limit(static_cast<size_t>(limit));
  }
  if (!info[1].IsUndefined()) {
    if (!Size(info[1], &idle_ms)) {
      Napi::TypeError::New(env, "weightseal native: trim age must be milliseconds").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    output_trim(idle_ms);
  }
  OutputCacheStats st = output_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("hits", Napi::Number::New(env, static_cast<double>(st.hits)));
  o.Set("misses", Napi::Number::New(env, static_cast<double>(st.misses)));
  o.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(st.cached_bytes)));
  o.Set("cachedBlocks", Napi::Number::New(env, static_cast<double>(st.cached_blocks)));
  o.Set("limitBytes", Napi::Number::New(env, static_cast<double>(st.limit_bytes)));
  o.Set("liveBytes", Napi::Number::New(env, static_cast<double>(st.live_bytes)));
  return o;
}

}  // namespace ws
