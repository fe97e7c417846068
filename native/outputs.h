// Output buffers from the output cache (native/output_cache.h), handed to JavaScript as
// external buffers whose finalizer gives the memory back. See src/output-memory.ts.
#pragma once

#include <napi.h>

namespace ws {

// outputBuffer(bytes) -> Buffer of exactly `bytes`, or undefined when this runtime refuses
// external buffers (a V8 sandbox) or no memory could be mapped: the caller allocates instead.
Napi::Value OutputBuffer(const Napi::CallbackInfo& info);
// outputCache(limitBytes?, trimIdleMs?) -> stats; sets the limit and trims first when given.
Napi::Value OutputCache(const Napi::CallbackInfo& info);

}  // namespace ws
