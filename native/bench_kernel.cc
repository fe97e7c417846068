// Native microbenchmark for one kernel, no Node: the bench/kernels.ts shape (256 chunks of
// 16 KiB laid out chunk || tag, AES-256) against the same kernel's CTR pass over 4 MiB.
// Rounds alternate the cases and keep each case's best time, so a noisy shared machine
// skews the ratios less than separate runs would.
//
//   ws_bench_kernel [kernel] [rounds] [key bytes]     (cmake -DWS_BENCH=ON)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "gcm.h"

using namespace ws;

namespace {

constexpr size_t kChunk = 16384, kBatch = 4 << 20, kChunks = kBatch / kChunk;

double now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Kernel* k = argc > 1 ? kernel_by_name(argv[1]) : best_kernel();
  const int rounds = argc > 2 ? atoi(argv[2]) : 30;
  const size_t key_len = argc > 3 ? static_cast<size_t>(atoi(argv[3])) : 32;
  if (!k || !cpu_supports(*k)) return fprintf(stderr, "kernel unavailable\n"), 1;
  static GcmKey key;
  uint8_t raw[32], base[12];
  for (int i = 0; i < 32; i++) raw[i] = static_cast<uint8_t>(i * 7 + 1);
  for (int i = 0; i < 12; i++) base[i] = static_cast<uint8_t>(i * 13 + 5);
  k->init(&key, raw, key_len);
  std::vector<uint8_t> pt(kBatch), sealed(kBatch + kChunks * kTagBytes), opened(kBatch), ct(kBatch);
  for (size_t i = 0; i < kBatch; i++) pt[i] = static_cast<uint8_t>(i * 31 + (i >> 9));
  seal_chunks(*k, &key, base, 0, pt.data(), kBatch, kChunk, kChunks, sealed.data());
  if (open_chunks(*k, &key, base, 0, sealed.data(), kBatch, kChunk, kChunks, opened.data()) != -1 ||
      memcmp(opened.data(), pt.data(), kBatch) != 0) {
    return fprintf(stderr, "round trip failed\n"), 1;
  }
  const char* names[] = {"ctr 4MiB", "seal 16KiB", "open 16KiB", "seal 1MiB"};
  double best[4] = {1e9, 1e9, 1e9, 1e9};
  uint8_t tag[16];
  for (int r = 0; r < rounds; r++) {
    for (int c = 0; c < 4; c++) {
      const double t0 = now();
      for (int rep = 0; rep < 4; rep++) {
        if (c == 0) k->ctr(&key, base, pt.data(), ct.data(), kBatch);
        if (c == 1) seal_chunks(*k, &key, base, 0, pt.data(), kBatch, kChunk, kChunks, sealed.data());
        if (c == 2) open_chunks(*k, &key, base, 0, sealed.data(), kBatch, kChunk, kChunks, opened.data());
        if (c == 3) {
          for (size_t off = 0; off < kBatch; off += 1 << 20) {
            k->seal(&key, base, 12, nullptr, 0, pt.data() + off, ct.data() + off, 1 << 20, tag);
          }
        }
      }
      const double t = (now() - t0) / 4;
      if (t < best[c]) best[c] = t;
    }
  }
  printf("%s AES-%zu\n", k->name, key_len * 8);
  for (int c = 0; c < 4; c++) {
    printf("  %-11s %6.2f GB/s  %.3fx ctr\n", names[c], kBatch / best[c] / 1e9, best[0] / best[c]);
  }
  return 0;
}
