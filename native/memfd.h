// Anonymous memory files (Linux memfd) for runtimes that only take a path: see
// src/memory/open-in-memory.ts. JS-facing wrappers, like binding.h, kept in their own file.
#pragma once

#include <napi.h>

namespace ws {

// memfdCreate(name: string) -> fd: memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING).
Napi::Value MemfdCreate(const Napi::CallbackInfo& info);
// memfdSeal(fd): adds F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL.
Napi::Value MemfdSeal(const Napi::CallbackInfo& info);
// memfdSeals(fd) -> the F_GET_SEALS bit mask (tests and diagnostics).
Napi::Value MemfdSeals(const Napi::CallbackInfo& info);

}  // namespace ws
