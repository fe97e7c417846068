// A small persistent thread pool over plain pthreads: no Node-API here (STYLE habit 1), so the
// addon's async batch calls (native/async.cc) and any future C++ caller share it. Threads
// sleep on a condition variable when idle, so an idle pool costs no CPU.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <deque>

namespace ws {

class WorkerPool {
 public:
  using Fn = void (*)(void* arg, size_t part);

  // Starts up to `threads` threads; fewer when the OS refuses one (started() says how many).
  explicit WorkerPool(unsigned threads);
  // Runs what is queued, then joins every thread.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  unsigned started() const { return started_; }
  // Queues fn(arg, 0) .. fn(arg, parts - 1); each may run on any pool thread.
  void submit(Fn fn, void* arg, size_t parts);

 private:
  struct Task {
    Fn fn;
    void* arg;
    size_t part;
  };
  static void* Main(void* self);
  void Loop();

  pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv_ = PTHREAD_COND_INITIALIZER;
  std::deque<Task> queue_;
  bool stop_ = false;
  pthread_t* threads_ = nullptr;
  unsigned started_ = 0;
};

}  // namespace ws
