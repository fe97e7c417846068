// Argument checks and calls into the kernels. TypeScript validates first with user-facing
// messages (src/backend/native.ts); these checks only re-assert invariants so that no call
// can read or write outside the buffers it was given.
#include "binding.h"
#include "binding_keys.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu.h"
#include "gcm.h"
#include "key_memory.h"
#include "openssl_evp.h"
#include "selftest.h"

namespace ws {
namespace {

struct Bytes {
  uint8_t* p;
  size_t n;
};

// A zero-length Uint8Array may report a null data pointer; kernels get a valid one instead.
uint8_t g_empty[64];

bool get_bytes(const Napi::Value& v, Bytes* out) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return false;
  Napi::Uint8Array u = v.As<Napi::Uint8Array>();
  out->n = u.ElementLength();
  out->p = out->n ? u.Data() : g_empty;
  return true;
}

bool overlaps(const Bytes& a, const Bytes& b) {
  if (a.n == 0 || b.n == 0) return false;
  return a.p < b.p + b.n && b.p < a.p + a.n;
}

Napi::Value fail(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, "weightseal native: " + msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Reads args[i..] as Uint8Arrays; returns false (with a JS exception pending) on mismatch.
bool args_bytes(const Napi::CallbackInfo& info, size_t first, std::initializer_list<Bytes*> out) {
  size_t i = first;
  for (Bytes* b : out) {
    if (!get_bytes(info[i], b)) {
      fail(info.Env(), "argument " + std::to_string(i) + " must be a Uint8Array");
      return false;
    }
    i++;
  }
  return true;
}

bool arg_u64(const Napi::CallbackInfo& info, size_t i, uint64_t* out) {
  if (!info[i].IsNumber()) {
    fail(info.Env(), "argument " + std::to_string(i) + " must be a number");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    fail(info.Env(), "argument " + std::to_string(i) + " must be a safe non-negative integer");
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

}  // namespace

// --- NativeKey ------------------------------------------------------------------------------

const napi_type_tag kNativeKeyTag = {0x7765696768747365ull, 0x616c2e4e61746b79ull};

Napi::Function NativeKey::Define(Napi::Env env) {
  return DefineClass(env, "NativeKey",
                     {InstanceMethod<&NativeKey::Seal>("seal"),
                      InstanceMethod<&NativeKey::Open>("open"),
                      InstanceMethod<&NativeKey::SealChunks>("sealChunks"),
                      InstanceMethod<&NativeKey::OpenChunks>("openChunks"),
                      InstanceMethod<&NativeKey::Ctr>("ctr"),
                      InstanceMethod<&NativeKey::Destroy>("destroy"),
                      InstanceAccessor<&NativeKey::KernelName>("kernel")});
}

// new NativeKey(rawKey: Uint8Array(16|32) | DerivedKeys, kernel: string). From a DerivedKeys
// the key goes from native memory to native memory: it never exists in the JS heap.
NativeKey::NativeKey(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeKey>(info) {
  Bytes raw;
  const uint8_t* derived = nullptr;
  if (DerivedKeys::KeyOf(info[0], &derived, &raw.n)) {
    raw.p = const_cast<uint8_t*>(derived);
  } else if (!args_bytes(info, 0, {&raw})) {
    return;
  }
  if (raw.n != 16 && raw.n != 32) {
    fail(info.Env(), "key must be 16 or 32 bytes");
    return;
  }
  if (!info[1].IsString()) {
    fail(info.Env(), "kernel name must be a string");
    return;
  }
  std::string name = info[1].As<Napi::String>().Utf8Value();
  const Kernel* k = kernel_by_name(name.c_str());
  if (!k || !cpu_supports(*k)) {
    fail(info.Env(), "kernel '" + name + "' is not available on this CPU");
    return;
  }
  key_ = static_cast<GcmKey*>(key_block_alloc(sizeof(GcmKey)));
  if (!key_) {
    Napi::Error::New(info.Env(), "weightseal native: out of memory").ThrowAsJavaScriptException();
    return;
  }
  kernel_ = k;
  k->init(key_, raw.p, raw.n);
  napi_type_tag_object(info.Env(), info.This(), &kNativeKeyTag);
}

NativeKey::~NativeKey() { Release(); }

void NativeKey::Release() {
  if (!key_) return;
  key_block_free(key_);  // wipes it
  key_ = nullptr;
}

bool NativeKey::Live(const Napi::CallbackInfo& info) {
  if (key_) return true;
  fail(info.Env(), "key was destroyed");
  return false;
}

Napi::Value NativeKey::KernelName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kernel_ ? kernel_->name : "");
}

Napi::Value NativeKey::Destroy(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

// seal(iv, aad, plaintext, out): out = ciphertext || tag, out.length = plaintext.length + 16.
// out may start at plaintext (in place); no other overlap.
Napi::Value NativeKey::Seal(const Napi::CallbackInfo& info) {
  Bytes iv, aad, in, out;
  if (!Live(info) || !args_bytes(info, 0, {&iv, &aad, &in, &out})) return info.Env().Undefined();
  if (iv.n == 0) return fail(info.Env(), "iv must not be empty");
  if (in.n > kMaxMessageBytes) return fail(info.Env(), "message too long for GCM");
  if (out.n != in.n + kTagBytes) return fail(info.Env(), "out must be plaintext length + 16");
  if (overlaps(out, in) && out.p != in.p) return fail(info.Env(), "out partially overlaps input");
  if (overlaps(iv, out) || overlaps(aad, out)) return fail(info.Env(), "out overlaps iv or aad");
  kernel_->seal(key_, iv.p, iv.n, aad.p, aad.n, in.p, out.p, in.n, out.p + in.n);
  return info.Env().Undefined();
}

// open(iv, aad, sealed, out) -> boolean; sealed = ciphertext || tag, out.length = sealed - 16.
// On a bad tag out is zero-filled and false returned.
Napi::Value NativeKey::Open(const Napi::CallbackInfo& info) {
  Bytes iv, aad, in, out;
  if (!Live(info) || !args_bytes(info, 0, {&iv, &aad, &in, &out})) return info.Env().Undefined();
  if (iv.n == 0) return fail(info.Env(), "iv must not be empty");
  if (in.n < kTagBytes) return fail(info.Env(), "sealed input shorter than a tag");
  size_t len = in.n - kTagBytes;
  if (len > kMaxMessageBytes) return fail(info.Env(), "message too long for GCM");
  if (out.n != len) return fail(info.Env(), "out must be sealed length - 16");
  if (overlaps(out, in) && out.p != in.p) return fail(info.Env(), "out partially overlaps input");
  if (overlaps(iv, out) || overlaps(aad, out)) return fail(info.Env(), "out overlaps iv or aad");
  bool ok = gcm_open(*kernel_, key_, iv.p, iv.n, aad.p, aad.n, in.p, out.p, len, in.p + len);
  return Napi::Boolean::New(info.Env(), ok);
}

namespace {

// Shared checks of sealChunks/openChunks: returns the plaintext length of the run, or
// SIZE_MAX with an exception pending. sealed_n is the sealed run's length.
size_t check_run(const Napi::CallbackInfo& info, const Bytes& nonce, uint64_t first,
                 uint64_t chunk, uint64_t n_chunks, size_t sealed_n) {
  if (nonce.n != kNonceBytes) return fail(info.Env(), "base nonce must be 12 bytes"), SIZE_MAX;
  if (chunk == 0 || chunk > (size_t{1} << 30)) return fail(info.Env(), "bad chunk size"), SIZE_MAX;
  // c2sp.org/chunked-encryption: the counter must stay below 2^38.
  if (n_chunks == 0 || first + n_chunks > (uint64_t{1} << 38)) {
    return fail(info.Env(), "chunk index out of range"), SIZE_MAX;
  }
  if (n_chunks > sealed_n / kTagBytes) return fail(info.Env(), "run too short"), SIZE_MAX;
  size_t pt = sealed_n - n_chunks * kTagBytes;
  if (pt > n_chunks * chunk || pt < (n_chunks - 1) * chunk) {
    return fail(info.Env(), "run length does not match the chunk count"), SIZE_MAX;
  }
  return pt;
}

}  // namespace

// sealChunks(baseNonce, firstIndex, plaintext, chunkSize, nChunks, out)
Napi::Value NativeKey::SealChunks(const Napi::CallbackInfo& info) {
  Bytes nonce, in, out;
  uint64_t first, chunk, n;
  if (!Live(info) || !args_bytes(info, 0, {&nonce}) || !arg_u64(info, 1, &first) ||
      !args_bytes(info, 2, {&in}) || !arg_u64(info, 3, &chunk) || !arg_u64(info, 4, &n) ||
      !args_bytes(info, 5, {&out})) {
    return info.Env().Undefined();
  }
  size_t pt = check_run(info, nonce, first, chunk, n, out.n);
  if (pt == SIZE_MAX) return info.Env().Undefined();
  if (pt != in.n) return fail(info.Env(), "out must be plaintext length + 16 per chunk");
  if (overlaps(in, out) || overlaps(nonce, out)) return fail(info.Env(), "out overlaps input");
  seal_chunks(*kernel_, key_, nonce.p, first, in.p, in.n, chunk, n, out.p);
  return info.Env().Undefined();
}

// openChunks(baseNonce, firstIndex, sealed, chunkSize, nChunks, out) -> -1 or failing index
Napi::Value NativeKey::OpenChunks(const Napi::CallbackInfo& info) {
  Bytes nonce, in, out;
  uint64_t first, chunk, n;
  if (!Live(info) || !args_bytes(info, 0, {&nonce}) || !arg_u64(info, 1, &first) ||
      !args_bytes(info, 2, {&in}) || !arg_u64(info, 3, &chunk) || !arg_u64(info, 4, &n) ||
      !args_bytes(info, 5, {&out})) {
    return info.Env().Undefined();
  }
  size_t pt = check_run(info, nonce, first, chunk, n, in.n);
  if (pt == SIZE_MAX) return info.Env().Undefined();
  if (pt != out.n) return fail(info.Env(), "out must be sealed length - 16 per chunk");
  if (overlaps(in, out) || overlaps(nonce, out)) return fail(info.Env(), "out overlaps input");
  int64_t bad = open_chunks(*kernel_, key_, nonce.p, first, in.p, pt, chunk, n, out.p);
  return Napi::Number::New(info.Env(), static_cast<double>(bad));
}

// ctr(iv12, in, out): keystream only, for the benchmark's ceiling.
Napi::Value NativeKey::Ctr(const Napi::CallbackInfo& info) {
  Bytes iv, in, out;
  if (!Live(info) || !args_bytes(info, 0, {&iv, &in, &out})) return info.Env().Undefined();
  if (iv.n != kNonceBytes) return fail(info.Env(), "iv must be 12 bytes");
  if (out.n != in.n || (overlaps(in, out) && in.p != out.p)) return fail(info.Env(), "bad out");
  kernel_->ctr(key_, iv.p, in.p, out.p, in.n);
  return info.Env().Undefined();
}

// --- OpensslGcm: the EVP baseline for benchmarks --------------------------------------------

Napi::Function OpensslGcm::Define(Napi::Env env) {
  return DefineClass(env, "OpensslGcm", {InstanceMethod<&OpensslGcm::Run>("run"),
                                         InstanceMethod<&OpensslGcm::Destroy>("destroy")});
}

// new OpensslGcm(rawKey, encrypt: boolean)
OpensslGcm::OpensslGcm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OpensslGcm>(info) {
  Bytes raw;
  if (!args_bytes(info, 0, {&raw})) return;
  ctx_ = evp_new(raw.p, raw.n, info[1].ToBoolean().Value());
  if (!ctx_) fail(info.Env(), "OpenSSL EVP AES-GCM is not available in this process");
}

OpensslGcm::~OpensslGcm() { evp_free(ctx_); }

// run(iv12, in, out, tag16) -> boolean
Napi::Value OpensslGcm::Run(const Napi::CallbackInfo& info) {
  Bytes iv, in, out, tag;
  if (!ctx_) return fail(info.Env(), "context was destroyed");
  if (!args_bytes(info, 0, {&iv, &in, &out, &tag})) return info.Env().Undefined();
  if (iv.n != kNonceBytes || out.n != in.n || tag.n != kTagBytes) {
    return fail(info.Env(), "bad argument sizes");
  }
  return Napi::Boolean::New(info.Env(), evp_run(ctx_, iv.p, in.p, out.p, in.n, tag.p));
}

Napi::Value OpensslGcm::Destroy(const Napi::CallbackInfo& info) {
  evp_free(ctx_);
  ctx_ = nullptr;
  return info.Env().Undefined();
}

// --- free functions -------------------------------------------------------------------------

// memcpy(dst, src): the plain-copy baseline, through the same call path as the kernels.
Napi::Value Memcpy(const Napi::CallbackInfo& info) {
  Bytes dst, src;
  if (!args_bytes(info, 0, {&dst, &src})) return info.Env().Undefined();
  if (dst.n != src.n || overlaps(dst, src)) return fail(info.Env(), "bad memcpy arguments");
  std::memcpy(dst.p, src.p, src.n);
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = cpu_features();
  Napi::Object features = Napi::Object::New(env);
#if defined(__aarch64__)
  features.Set("aes", f.aes);
  features.Set("pmull", f.pmull);
#else
  features.Set("aes", f.aes);
  features.Set("pclmulqdq", f.pclmul);
  features.Set("ssse3", f.ssse3);
  features.Set("sse41", f.sse41);
  features.Set("avx", f.avx);
  features.Set("avx2", f.avx2);
  features.Set("vaes", f.vaes);
  features.Set("vpclmulqdq", f.vpclmulqdq);
  features.Set("avx512f", f.avx512f);
  features.Set("avx512bw", f.avx512bw);
  features.Set("avx512vl", f.avx512vl);
#endif
  Napi::Object os = Napi::Object::New(env);
  os.Set("xcr0", Napi::Number::New(env, static_cast<double>(f.xcr0)));
  os.Set("ymm", f.os_ymm);
  os.Set("zmm", f.os_zmm);
  Napi::Array kernels = Napi::Array::New(env);
  uint32_t i = 0;
  for (const Kernel* k : all_kernels()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", k->name);
    o.Set("supported", cpu_supports(*k));
    kernels.Set(i++, o);
  }
  const Kernel* best = best_kernel();
  Napi::Object out = Napi::Object::New(env);
  out.Set("features", features);
  out.Set("os", os);
  out.Set("kernels", kernels);
  out.Set("best", best ? Napi::Value(Napi::String::New(env, best->name)) : env.Null());
  out.Set("openssl", evp_available() ? Napi::Value(Napi::String::New(env, evp_version()))
                                     : env.Null());
  return out;
}

// selfTest() -> null when every kernel this CPU runs gives the known answers, else why not.
Napi::Value SelfTest(const Napi::CallbackInfo& info) {
  char why[128];
  if (self_test(why, sizeof why)) return info.Env().Null();
  return Napi::String::New(info.Env(), why);
}

}  // namespace ws
