// ThreadPool.run(): one batch call of native/gcm.h split into parts across the pool's threads,
// working in place on the caller's Uint8Arrays. The buffers (and the pool) are held by
// references until the promise settles, so GC cannot free them under the threads; the key is
// copied per job, so destroying the NativeKey meanwhile is safe. Memory that others can write
// (a SharedArrayBuffer) is read once: the kernels load each input block once (STYLE habit 11).
//
// Opening: each part stops at its first failing chunk (zero-filled by gcm_open); the promise
// resolves to the smallest failing chunk index of the run, or -1. Parts after a failure may
// hold plaintext of chunks that verified; callers deliver only the prefix before the failure.
#include "async.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "binding.h"
#include "cpu.h"
#include "gcm.h"
#include "key_memory.h"

namespace ws {

namespace {

constexpr int kOpSeal = 0;
constexpr int kOpOpen = 1;
constexpr int kOpCopy = 2;
constexpr int64_t kNoFailure = INT64_MAX;

Napi::Value Reject(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, "weightseal native: " + msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool Bytes(const Napi::Value& v, uint8_t** p, size_t* n) {
  static uint8_t empty[64];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return false;
  }
  Napi::Uint8Array u = v.As<Napi::Uint8Array>();
  *n = u.ElementLength();
  *p = *n ? u.Data() : empty;
  return true;
}

bool U64(const Napi::Value& v, uint64_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

bool Overlap(const uint8_t* a, size_t an, const uint8_t* b, size_t bn) {
  return an && bn && a < b + bn && b < a + an;
}

}  // namespace

struct Job {
  int op = kOpCopy;
  const Kernel* kernel = nullptr;
  GcmKey* key = nullptr;  // our copy, wiped when the last part finishes
  uint8_t nonce[kNonceBytes] = {};
  uint64_t first = 0;
  uint64_t n = 0;
  size_t chunk = 0;
  const uint8_t* src = nullptr;
  uint8_t* dst = nullptr;
  size_t pt_len = 0;  // plaintext bytes of the run (copy: bytes copied)
  size_t parts = 1;
  std::atomic<size_t> remaining{0};
  std::atomic<int64_t> fail{kNoFailure};
  JobTsfn* tsfn = nullptr;
  // Raw Node-API: settling runs as late as an environment's teardown, when JS cannot run and
  // the C++ wrappers would turn the failed call into a fatal error.
  napi_deferred deferred = nullptr;
  Napi::ObjectReference src_ref, dst_ref, pool_ref;

  void DropKey() {
    if (!key) return;
    key_block_free(key);  // wipes it
    key = nullptr;
  }
};

namespace {

// Part p of the job: chunks [a, b), i.e. a contiguous stretch of input and output.
void RunPart(void* arg, size_t p) {
  Job* j = static_cast<Job*>(arg);
  if (j->op == kOpCopy) {
    // Copied in chunk-sized pieces, as the kernels walk memory: glibc switches to
    // non-temporal stores for one large memcpy, which is not the cipher's access pattern.
    size_t lo = j->pt_len * p / j->parts, hi = j->pt_len * (p + 1) / j->parts;
    for (size_t at = lo; at < hi; at += j->chunk) {
      size_t len = hi - at < j->chunk ? hi - at : j->chunk;
      std::memcpy(j->dst + at, j->src + at, len);
    }
  } else {
    uint64_t a = j->n * p / j->parts, b = j->n * (p + 1) / j->parts;
    size_t pt_lo = static_cast<size_t>(a) * j->chunk;
    size_t pt_hi = static_cast<size_t>(b) * j->chunk;
    if (pt_hi > j->pt_len) pt_hi = j->pt_len;
    size_t sealed_lo = static_cast<size_t>(a) * (j->chunk + kTagBytes);
    if (j->op == kOpSeal) {
      seal_chunks(*j->kernel, j->key, j->nonce, j->first + a, j->src + pt_lo, pt_hi - pt_lo,
                  j->chunk, b - a, j->dst + sealed_lo);
    } else {
      int64_t bad = open_chunks(*j->kernel, j->key, j->nonce, j->first + a, j->src + sealed_lo,
                                pt_hi - pt_lo, j->chunk, b - a, j->dst + pt_lo);
      if (bad >= 0) {
        int64_t at = static_cast<int64_t>(a) + bad;
        int64_t cur = j->fail.load(std::memory_order_relaxed);
        while (at < cur && !j->fail.compare_exchange_weak(cur, at)) {
        }
      }
    }
  }
  if (j->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    j->DropKey();
    // Fails (napi_closing) only at environment teardown, when the job is simply dropped.
    j->tsfn->NonBlockingCall(j);
  }
}

}  // namespace

// Main thread (env null at teardown): settle the promise, let go of the buffers.
void JobDone(Napi::Env env, Napi::Function, ThreadPool* pool, Job* job) {
  if (env == nullptr) {
    job->src_ref.SuppressDestruct();
    job->dst_ref.SuppressDestruct();
    job->pool_ref.SuppressDestruct();
    delete job;
    return;
  }
  int64_t f = job->fail.load();
  napi_value result;
  // Both fail only while the environment shuts down; nobody awaits the promise then.
  if (napi_create_double(env, f == kNoFailure ? -1.0 : static_cast<double>(f), &result) == napi_ok) {
    napi_resolve_deferred(env, job->deferred, result);
  }
  delete job;
  pool->Finished(env);
}

Napi::Function ThreadPool::Define(Napi::Env env) {
  return DefineClass(env, "ThreadPool",
                     {InstanceMethod<&ThreadPool::Run>("run"),
                      InstanceMethod<&ThreadPool::Close>("close"),
                      InstanceAccessor<&ThreadPool::Threads>("threads"),
                      InstanceAccessor<&ThreadPool::Pending>("pending")});
}

// new ThreadPool(threads)
ThreadPool::ThreadPool(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ThreadPool>(info) {
  uint64_t threads;
  if (!U64(info[0], &threads) || threads < 1 || threads > 1024) {
    Reject(info.Env(), "threads must be an integer in 1..1024");
    return;
  }
  workers_ = new WorkerPool(static_cast<unsigned>(threads));
  tsfn_ = JobTsfn::New(info.Env(), "weightseal.ThreadPool", 0, 1, this);
  tsfn_live_ = true;
  tsfn_.Unref(info.Env());  // an idle pool does not keep the process alive
  // A worker_thread's environment may end with jobs queued: finish them before memory goes.
  napi_add_env_cleanup_hook(info.Env(), &ThreadPool::Teardown, this);
}

ThreadPool::~ThreadPool() {
  napi_remove_env_cleanup_hook(Env(), &ThreadPool::Teardown, this);
  StopWorkers();
  if (tsfn_live_) tsfn_.Release();
}

void ThreadPool::Teardown(void* self) { static_cast<ThreadPool*>(self)->StopWorkers(); }

void ThreadPool::StopWorkers() {
  delete workers_;  // runs what is queued, then joins
  workers_ = nullptr;
}

void ThreadPool::Finished(Napi::Env env) {
  if (--pending_ == 0 && tsfn_live_) tsfn_.Unref(env);
}

Napi::Value ThreadPool::Threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), workers_ ? workers_->started() : 0);
}

Napi::Value ThreadPool::Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(pending_));
}

// close(): joins the threads; refused while jobs are in flight.
Napi::Value ThreadPool::Close(const Napi::CallbackInfo& info) {
  if (pending_ > 0) return Reject(info.Env(), "pool has jobs in flight");
  StopWorkers();
  if (tsfn_live_) {
    tsfn_.Release();
    tsfn_live_ = false;
  }
  return info.Env().Undefined();
}

// run(op, key, baseNonce, firstIndex, src, chunkSize, nChunks, dst, parts) -> Promise<number>
//   op 0 seal: src plaintext, dst chunk || tag per chunk (as NativeKey.sealChunks)
//   op 1 open: the reverse; resolves to -1 or the first failing chunk within the run
//   op 2 copy: dst = src in chunkSize pieces (key, nonce, first, nChunks ignored)
Napi::Value ThreadPool::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!workers_ || workers_->started() == 0) return Reject(env, "pool is closed");
  uint64_t op, first = 0, chunk, n = 0, parts;
  uint8_t *src, *dst, *nonce = nullptr;
  size_t src_n, dst_n, nonce_n = 0;
  if (!U64(info[0], &op) || op > 2) return Reject(env, "op must be 0, 1 or 2");
  if (!Bytes(info[4], &src, &src_n) || !Bytes(info[7], &dst, &dst_n)) {
    return Reject(env, "src and dst must be Uint8Arrays");
  }
  if (!U64(info[5], &chunk) || chunk == 0 || chunk > (uint64_t{1} << 30)) {
    return Reject(env, "bad chunk size");
  }
  if (!U64(info[8], &parts) || parts == 0) return Reject(env, "parts must be a positive integer");
  if (Overlap(src, src_n, dst, dst_n)) return Reject(env, "dst overlaps src");

  Job* job = new Job();
  job->op = static_cast<int>(op);
  job->chunk = static_cast<size_t>(chunk);
  job->src = src;
  job->dst = dst;
  if (op == kOpCopy) {
    if (src_n != dst_n) {
      delete job;
      return Reject(env, "copy needs src and dst of one length");
    }
    job->pt_len = src_n;
    uint64_t pieces = (src_n + chunk - 1) / chunk;
    if (parts > pieces) parts = pieces ? pieces : 1;
  } else {
    NativeKey* k = nullptr;
    bool tagged = false;
    if (info[1].IsObject()) {
      napi_check_object_type_tag(env, info[1], &kNativeKeyTag, &tagged);
      if (tagged) k = NativeKey::Unwrap(info[1].As<Napi::Object>());
    }
    const char* err = nullptr;
    if (!k || !k->key()) err = "key must be a live NativeKey";
    else if (!Bytes(info[2], &nonce, &nonce_n) || nonce_n != kNonceBytes) err = "base nonce must be 12 bytes";
    else if (!U64(info[3], &first) || !U64(info[6], &n)) err = "firstIndex and nChunks must be safe integers";
    else if (n == 0 || first + n > (uint64_t{1} << 38)) err = "chunk index out of range";
    if (!err) {
      // c2sp.org/chunked-encryption: every chunk but the run's last is full.
      size_t sealed_n = op == kOpSeal ? dst_n : src_n;
      size_t plain_n = op == kOpSeal ? src_n : dst_n;
      if (n > sealed_n / kTagBytes || sealed_n - n * kTagBytes != plain_n ||
          plain_n > n * chunk || plain_n < (n - 1) * chunk) {
        err = "run length does not match the chunk count";
      } else if (Overlap(nonce, nonce_n, dst, dst_n)) {
        err = "dst overlaps the nonce";
      }
      job->pt_len = plain_n;
    }
    if (err) {
      delete job;
      return Reject(env, err);
    }
    job->kernel = k->kernel();
    job->key = static_cast<GcmKey*>(key_block_alloc(sizeof(GcmKey)));
    if (!job->key) {
      delete job;
      return Reject(env, "out of memory");
    }
    std::memcpy(job->key, k->key(), sizeof(GcmKey));
    std::memcpy(job->nonce, nonce, kNonceBytes);
    job->first = first;
    job->n = n;
    if (parts > n) parts = n;
  }
  job->parts = static_cast<size_t>(parts);
  job->remaining.store(job->parts);
  job->tsfn = &tsfn_;
  job->src_ref = Napi::Persistent(info[4].As<Napi::Object>());
  job->dst_ref = Napi::Persistent(info[7].As<Napi::Object>());
  job->pool_ref = Napi::Persistent(info.This().As<Napi::Object>());
  napi_value promise;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    delete job;
    return Reject(env, "cannot create a promise");
  }
  if (pending_++ == 0) tsfn_.Ref(env);
  workers_->submit(&RunPart, job, job->parts);
  return Napi::Value(env, promise);
}

}  // namespace ws

