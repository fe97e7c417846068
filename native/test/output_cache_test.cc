// The output cache (native/output_cache.h) under AddressSanitizer and UBSan: alignment, best
// fit, the limit, trim, and eight threads taking and giving back at once, each checking that
// no block it holds is written by anyone else meanwhile.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "output_cache.h"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    failures++;
  }
}

void single_thread() {
  using namespace ws;
  output_set_limit(0);
  output_set_limit(8 << 20);
  OutputCacheStats s0 = output_stats();
  size_t cap = 0;
  void* a = output_take(1000000, &cap);
  check(a && reinterpret_cast<uintptr_t>(a) % 64 == 0, "aligned block");
  check(cap >= 1000000 && cap % kOutputGrain == 0, "capacity in grains, at least the size");
  std::memset(a, 0x5a, 1000000);  // every byte is ours to write (ASan would say otherwise)
  output_give(a, cap);
  size_t cap2 = 0;
  void* b = output_take(999000, &cap2);
  check(b == a && cap2 == cap, "best fit reuses the given-back block");
  check(output_stats().hits == s0.hits + 1, "counted as a hit");
  // Far smaller requests do not take a block they would waste most of.
  size_t cap3 = 0;
  void* c = output_take(100000, &cap3);
  check(c != b, "small request does not take a large block");
  output_give(c, cap3);
  output_give(b, cap2);
  check(output_stats().cached_bytes == cap2 + cap3 && output_stats().live_bytes == s0.live_bytes, "both cached");
  // Over the limit: the oldest idle blocks go.
  std::vector<std::pair<void*, size_t>> held;
  for (int i = 0; i < 6; i++) {
    size_t k = 0;
    held.emplace_back(output_take(3 << 20, &k), k);
  }
  for (auto& h : held) output_give(h.first, h.second);
  check(output_stats().cached_bytes <= (8u << 20), "idle bytes within the limit");
  size_t big = 0;
  void* d = output_take(9 << 20, &big);
  output_give(d, big);
  check(output_stats().cached_bytes <= (8u << 20), "a block over the limit is freed");
  check(output_trim(60000) > 0, "young blocks survive trim");
  check(output_trim(0) == 0, "trim(0) frees every idle block");
  output_set_limit(0);
}

void threads() {
  using namespace ws;
  output_set_limit(64 << 20);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++) {
    ts.emplace_back([t] {
      for (int i = 0; i < 300; i++) {
        size_t n = (1 + (i * 7 + t) % 5) * 100000, cap = 0;
        auto* p = static_cast<uint8_t*>(output_take(n, &cap));
        if (!p) {
          check(false, "take under contention");
          return;
        }
        std::memset(p, t + 1, n);
        std::this_thread::yield();
        for (size_t j = 0; j < n; j += 4093) {
          if (p[j] != t + 1) {
            check(false, "a held block was written by another thread");
            break;
          }
        }
        output_give(p, cap);
      }
    });
  }
  for (auto& th : ts) th.join();
  OutputCacheStats s = output_stats();
  check(s.live_bytes == 0, "every block given back");
  check(s.cached_bytes <= (64u << 20), "limit held under contention");
  check(s.hits > 0, "threads reuse each other's blocks");
  output_set_limit(0);
  check(output_stats().cached_bytes == 0, "limit 0 frees every idle block");
}

}  // namespace

int main() {
  single_thread();
  threads();
  if (failures) return 1;
  std::printf("output cache: ok\n");
  return 0;
}
