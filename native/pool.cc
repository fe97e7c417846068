// WorkerPool: a mutex-guarded queue of (fn, arg, part) tasks and N sleeping threads. A batch
// of chunks is split into a few parts per call (async.cc), so the queue sees a handful of
// tasks per 4 MiB slot: a plain mutex is far below the cost of the work it hands out.
#include "pool.h"

#include <cstdlib>

// Portable prebuilds load on glibc 2.28 (test/prebuild.test.ts): built on glibc 2.34+, these
// three would bind to the GLIBC_2.34 versions libc got when libpthread merged into it. Bind to
// the base versions every glibc exports instead (from libpthread before 2.34, libc after), as
// native/glibc_compat.cc does for libstdc++'s references.
#if defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__))
#if defined(__x86_64__)
#define WS_PTHREAD_BASE "GLIBC_2.2.5"
#else
#define WS_PTHREAD_BASE "GLIBC_2.17"
#endif
extern "C" {
int ws_pthread_create_v0(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) __attribute__((weak));
int ws_pthread_join_v0(pthread_t, void**) __attribute__((weak));
int ws_pthread_attr_setstacksize_v0(pthread_attr_t*, size_t) __attribute__((weak));
}
__asm__(".symver ws_pthread_create_v0, pthread_create@" WS_PTHREAD_BASE);
__asm__(".symver ws_pthread_join_v0, pthread_join@" WS_PTHREAD_BASE);
__asm__(".symver ws_pthread_attr_setstacksize_v0, pthread_attr_setstacksize@" WS_PTHREAD_BASE);
#define WS_PTHREAD_CREATE(t, a, f, x) (ws_pthread_create_v0 ? ws_pthread_create_v0(t, a, f, x) : -1)
#define WS_PTHREAD_JOIN(t) (ws_pthread_join_v0 ? ws_pthread_join_v0(t, nullptr) : -1)
#define WS_PTHREAD_SETSTACK(a, n) (ws_pthread_attr_setstacksize_v0 ? ws_pthread_attr_setstacksize_v0(a, n) : -1)
#else
#define WS_PTHREAD_CREATE(t, a, f, x) pthread_create(t, a, f, x)
#define WS_PTHREAD_JOIN(t) pthread_join(t, nullptr)
#define WS_PTHREAD_SETSTACK(a, n) pthread_attr_setstacksize(a, n)
#endif

namespace ws {

WorkerPool::WorkerPool(unsigned threads) {
  threads_ = static_cast<pthread_t*>(std::calloc(threads ? threads : 1, sizeof(pthread_t)));
  if (!threads_) return;
  for (unsigned i = 0; i < threads; i++) {
    // Crypto needs little stack; 256 KiB keeps 64 threads well under a MiB of address space each.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    WS_PTHREAD_SETSTACK(&attr, 256 * 1024);
    int rc = WS_PTHREAD_CREATE(&threads_[started_], &attr, &WorkerPool::Main, this);
    pthread_attr_destroy(&attr);
    if (rc != 0) break;  // EAGAIN under a thread limit: run with what started
    started_++;
  }
}

WorkerPool::~WorkerPool() {
  pthread_mutex_lock(&mu_);
  stop_ = true;
  pthread_cond_broadcast(&cv_);
  pthread_mutex_unlock(&mu_);
  for (unsigned i = 0; i < started_; i++) WS_PTHREAD_JOIN(threads_[i]);
  std::free(threads_);
  pthread_mutex_destroy(&mu_);
  pthread_cond_destroy(&cv_);
}

void WorkerPool::submit(Fn fn, void* arg, size_t parts) {
  pthread_mutex_lock(&mu_);
  for (size_t p = 0; p < parts; p++) queue_.push_back(Task{fn, arg, p});
  if (parts == 1) {
    pthread_cond_signal(&cv_);
  } else {
    pthread_cond_broadcast(&cv_);
  }
  pthread_mutex_unlock(&mu_);
}

void* WorkerPool::Main(void* self) {
  static_cast<WorkerPool*>(self)->Loop();
  return nullptr;
}

void WorkerPool::Loop() {
  for (;;) {
    pthread_mutex_lock(&mu_);
    while (queue_.empty() && !stop_) pthread_cond_wait(&cv_, &mu_);
    if (queue_.empty()) {  // stopping, and nothing left to run
      pthread_mutex_unlock(&mu_);
      return;
    }
    Task t = queue_.front();
    queue_.pop_front();
    pthread_mutex_unlock(&mu_);
    t.fn(t.arg, t.part);
  }
}

}  // namespace ws
