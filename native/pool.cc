// WorkerPool: a mutex-guarded queue of (fn, arg, part) tasks and N sleeping threads. A batch
// of chunks is split into a few parts per call (async.cc), so the queue sees a handful of
// tasks per 4 MiB slot: a plain mutex is far below the cost of the work it hands out.
#include "pool.h"

#include <cstdlib>

namespace ws {

WorkerPool::WorkerPool(unsigned threads) {
  threads_ = static_cast<pthread_t*>(std::calloc(threads ? threads : 1, sizeof(pthread_t)));
  if (!threads_) return;
  for (unsigned i = 0; i < threads; i++) {
    // Crypto needs little stack; 256 KiB keeps 64 threads well under a MiB of address space each.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&threads_[started_], &attr, &WorkerPool::Main, this);
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
  for (unsigned i = 0; i < started_; i++) pthread_join(threads_[i], nullptr);
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
