// Whole small c2sp.org/chunked-encryption messages in one native call (see message.cc).
#pragma once

#include <napi.h>

namespace ws {

// sealMessage(inputKey, info, keyBytes, kernel, plaintext, out): writes commitment and chunks
// (out[24..] of salt || commitment || chunks); the caller has put the salt in out[0..24].
Napi::Value SealMessage(const Napi::CallbackInfo& info);
// openMessage(inputKey, info, keyBytes, kernel, sealed, out) -> -1 all verified, -2 wrong key
// or context (commitment mismatch, nothing decrypted), else the index of the first chunk that
// failed (out is then all zero).
Napi::Value OpenMessage(const Napi::CallbackInfo& info);

}  // namespace ws
