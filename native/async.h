// The async batch calls: seal/open/copy of a run of chunks on the addon's own threads, in
// place on the caller's buffers (any ArrayBuffer, shared or not), resolving a promise.
#pragma once

#include <napi.h>

#include <cstddef>

#include "pool.h"

namespace ws {

struct Job;
void JobDone(Napi::Env env, Napi::Function, class ThreadPool* pool, Job* job);
using JobTsfn = Napi::TypedThreadSafeFunction<ThreadPool, Job, JobDone>;

class ThreadPool : public Napi::ObjectWrap<ThreadPool> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ThreadPool(const Napi::CallbackInfo& info);
  ~ThreadPool() override;
  // Main thread, once per finished job.
  void Finished(Napi::Env env);

 private:
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Threads(const Napi::CallbackInfo& info);
  Napi::Value Pending(const Napi::CallbackInfo& info);
  static void Teardown(void* self);
  void StopWorkers();

  WorkerPool* workers_ = nullptr;
  JobTsfn tsfn_;
  size_t pending_ = 0;
  bool tsfn_live_ = false;
};

}  // namespace ws
