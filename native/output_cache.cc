// The output cache (output_cache.h). Blocks come straight from mmap, not malloc: glibc maps
// large requests itself but moves its mmap threshold as blocks are freed, so whether a 4 MiB
// output got fresh pages or warm ones used to depend on history (0.5-6 ms per call). Here a
// block is either warm (taken from the cache) or fresh (counted as a miss), nothing between.
#include "output_cache.h"

#include <chrono>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>

#ifdef _WIN32
#include <malloc.h>
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace ws {
namespace {

struct Idle {
  void* block;
  uint64_t since_ms;  // when it was given back, for trim()
  uint64_t order;     // give-back order: the oldest is dropped first when over the limit
};

size_t default_limit();

struct Cache {
  Cache() { stats.limit_bytes = default_limit(); }
  std::mutex mu;
  std::multimap<size_t, Idle> idle;  // by capacity, for best fit
  uint64_t next_order = 0;
  OutputCacheStats stats;
};

// WEIGHTSEAL_OUTPUT_CACHE=<MiB> (0: off), else 2 GiB or an eighth of RAM, whichever is less:
// enough for one 1 GiB output and a loader's largest tensors, and what the slot ring cache
// keeps besides. Read once per process; src/output-memory.ts warns about a value it rejects.
size_t default_limit() {
  const char* env = std::getenv("WEIGHTSEAL_OUTPUT_CACHE");
  if (env && *env) {
    char* end = nullptr;
    unsigned long long mib = std::strtoull(env, &end, 10);
    if (*end == '\0' && env[0] != '-' && mib <= (SIZE_MAX >> 20)) return static_cast<size_t>(mib) << 20;
  }
  size_t limit = size_t{2048} << 20;
#ifndef _WIN32
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) {
    size_t eighth = static_cast<size_t>(pages) / 8 * static_cast<size_t>(page);
    if (eighth < limit) limit = eighth;
  }
#endif
  return limit;
}

// Never destroyed: finalizers of buffers still alive at process exit may run after static
// destructors would have.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

// Page-aligned (so 64-byte aligned), untouched until written: only the pages an output writes
// are faulted in, by the threads that write them.
void* map_block(size_t capacity) {
#ifdef _WIN32
  return _aligned_malloc(capacity, 64);
#else
  void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
#endif
}

void unmap_block(void* block, size_t capacity) {
#ifdef _WIN32
  (void)capacity;
  _aligned_free(block);
#else
  munmap(block, capacity);
#endif
}

// Caller holds the lock; the block leaves the cache and is freed by the caller, unlocked.
Idle drop(Cache& c, std::multimap<size_t, Idle>::iterator it, size_t* capacity) {
  Idle e = it->second;
  *capacity = it->first;
  c.stats.cached_bytes -= it->first;
  c.stats.cached_blocks--;
  c.idle.erase(it);
  return e;
}

}  // namespace

void* output_take(size_t bytes, size_t* capacity) {
  if (bytes == 0) bytes = 1;
  const size_t want = (bytes + kOutputGrain - 1) / kOutputGrain * kOutputGrain;
  if (want < bytes) return nullptr;  // overflow
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    // Best fit, wasting at most an eighth: a loader's tensors come in a few repeated sizes.
    auto it = c.idle.lower_bound(want);
    if (it != c.idle.end() && it->first - want <= want / 8) {
      Idle e = drop(c, it, capacity);
      c.stats.hits++;
      c.stats.live_bytes += *capacity;
      return e.block;
    }
    c.stats.misses++;
  }
  void* p = map_block(want);
  if (!p) return nullptr;
  *capacity = want;
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.live_bytes += want;
  return p;
}

void output_give(void* block, size_t capacity) {
  Cache& c = cache();
  // At most a few blocks leave per give-back; free them outside the lock (munmap is slow).
  void* freed[8];
  size_t sizes[8];
  size_t n = 0;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.stats.live_bytes -= capacity;
    if (capacity > c.stats.limit_bytes) {
      freed[n] = block;
      sizes[n++] = capacity;
    } else {
      c.idle.emplace(capacity, Idle{block, now_ms(), c.next_order++});
      c.stats.cached_bytes += capacity;
      c.stats.cached_blocks++;
    }
    while (c.stats.cached_bytes > c.stats.limit_bytes) {
      auto oldest = c.idle.begin();
      for (auto it = c.idle.begin(); it != c.idle.end(); ++it) {
        if (it->second.order < oldest->second.order) oldest = it;
      }
      size_t cap;
      Idle e = drop(c, oldest, &cap);
      if (n == std::size(freed)) {
        unmap_block(e.block, cap);  // rare: many small blocks leave at once
      } else {
        freed[n] = e.block;
        sizes[n++] = cap;
      }
    }
  }
  for (size_t i = 0; i < n; i++) unmap_block(freed[i], sizes[i]);
}

void output_set_limit(size_t bytes) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.stats.limit_bytes = bytes;
  }
  if (bytes == 0) output_trim(0);
}

size_t output_trim(uint64_t idle_ms) {
  Cache& c = cache();
  const uint64_t now = now_ms();
  for (;;) {
    void* block = nullptr;
    size_t cap = 0;
    {
      std::lock_guard<std::mutex> lock(c.mu);
      for (auto it = c.idle.begin(); it != c.idle.end(); ++it) {
        if (now - it->second.since_ms >= idle_ms) {
          block = drop(c, it, &cap).block;
          break;
        }
      }
      if (!block) return c.stats.cached_bytes;
    }
    unmap_block(block, cap);
  }
}

OutputCacheStats output_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

}  // namespace ws
