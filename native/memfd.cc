// memfd_create(2) and file seals (fcntl(2) F_ADD_SEALS), the two calls Node has no API for.
// The plaintext goes in through ordinary pwrite(2) on the descriptor (Node's fs.write from the
// pipeline's slots), so this file only creates and seals. Elsewhere than Linux each call throws
// ENOSYS; TypeScript checks the platform first and says what to use instead.
#include "memfd.h"

#include <cerrno>
#include <cstring>
#include <string>

#ifdef __linux__
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace ws {
namespace {

// A system error as Node's fs errors look: .code (errno name) and .errno, so ioError() words it.
Napi::Value sys_error(Napi::Env env, const char* call, int err) {
  std::string code;
  switch (err) {
    case EMFILE: code = "EMFILE"; break;
    case ENFILE: code = "ENFILE"; break;
    case ENOMEM: code = "ENOMEM"; break;
    case EPERM: code = "EPERM"; break;
    case EBUSY: code = "EBUSY"; break;
    case EINVAL: code = "EINVAL"; break;
    case EBADF: code = "EBADF"; break;
    case ENOSYS: code = "ENOSYS"; break;
    default: code = "E" + std::to_string(err); break;
  }
  Napi::Error e = Napi::Error::New(env, std::string(call) + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, call));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool arg_fd(const Napi::CallbackInfo& info, int* fd) {
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "weightseal native: fd must be a number").ThrowAsJavaScriptException();
    return false;
  }
  int64_t v = info[0].As<Napi::Number>().Int64Value();
  if (v < 0 || v > 0x7fffffff) {
    Napi::TypeError::New(info.Env(), "weightseal native: fd out of range").ThrowAsJavaScriptException();
    return false;
  }
  *fd = static_cast<int>(v);
  return true;
}

}  // namespace

#ifdef __linux__

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) {
    Napi::TypeError::New(info.Env(), "weightseal native: memfd name must be a string").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  // Close-on-exec: no child sees the plaintext unless it is handed over on purpose (the `run`
  // command dup2s it into one child). Sealing must be allowed at creation or never.
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return sys_error(info.Env(), "memfd_create", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value MemfdSeal(const Napi::CallbackInfo& info) {
  int fd;
  if (!arg_fd(info, &fd)) return info.Env().Undefined();
  // F_SEAL_WRITE fails with EBUSY while a writable shared mapping exists; we never map it.
  // F_SEAL_SEAL last in the same call, so no one can lift or add seals afterwards.
  const int seals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;
  if (fcntl(fd, F_ADD_SEALS, seals) != 0) return sys_error(info.Env(), "fcntl(F_ADD_SEALS)", errno);
  return info.Env().Undefined();
}

Napi::Value MemfdSeals(const Napi::CallbackInfo& info) {
  int fd;
  if (!arg_fd(info, &fd)) return info.Env().Undefined();
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return sys_error(info.Env(), "fcntl(F_GET_SEALS)", errno);
  return Napi::Number::New(info.Env(), seals);
}

#else

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) { return sys_error(info.Env(), "memfd_create", ENOSYS); }
Napi::Value MemfdSeal(const Napi::CallbackInfo& info) { return sys_error(info.Env(), "fcntl(F_ADD_SEALS)", ENOSYS); }
Napi::Value MemfdSeals(const Napi::CallbackInfo& info) { return sys_error(info.Env(), "fcntl(F_GET_SEALS)", ENOSYS); }

#endif

}  // namespace ws
