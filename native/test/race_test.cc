// Shared-memory race test for the GCM kernels (the read-once invariant in gcm.h). Built -O3
// without sanitizers, as the addon is, because whether a kernel re-reads memory is decided
// by the compiler's register allocation: a sanitizer build can hide the bug.
//
// A second thread keeps toggling one byte of memory the kernel works on while the main
// thread seals or opens, moving the byte across every block lane of the widest group (512
// bytes, so every lane of every kernel's group) and into the tail. Three cases per kernel
// and key size:
//   open, shared input:   a "verified" result must equal the plaintext. The tag only
//                         verifies over the original ciphertext, so a result that verifies
//                         yet differs was decrypted from bytes GHASH did not see.
//   seal, shared output:  the tag must equal the reference tag. The kernel writes the same
//                         ciphertext every time, so a different tag hashed bytes read back
//                         from the output after the other thread changed them.
//   seal, shared input:   the output (private) must open under the same key, to a plaintext
//                         that differs from the original only in the toggled bit.
// Each case prints its counts; any wrong result fails the run.
//
//   race_test [seconds per case, default 0.25]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <pthread.h>

#include <random>
#include <thread>
#include <vector>

#include "cpu.h"
#include "gcm.h"
#include "ref_gcm.h"

namespace {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

// Two groups of the widest kernel (vaes512, 512 bytes) and a tail of 100 bytes, which every
// kernel takes through its tail path (100 < 128, the narrowest group).
constexpr size_t kLen = 2 * 512 + 100;
constexpr size_t kAadLen = 20;

// Bytes per bulk-loop group: the lanes a double fetch can hide in (512, the widest, for any
// other kernel, which covers whatever its group is up to that).
size_t group_bytes(const ws::Kernel& k) {
  return std::strcmp(k.name, "aesni") == 0 ? 128 : std::strcmp(k.name, "vaes256") == 0 ? 256 : 512;
}

// Every group runs the same loop body, so for the toggled-one-at-a-time cases one byte per
// 16-byte lane of the second group (at a varying position within the lane) covers them all;
// then the first, a middle and the last byte of the tail.
std::vector<size_t> lane_offsets(const ws::Kernel& k) {
  const size_t g = group_bytes(k);
  std::vector<size_t> offs;
  for (size_t b = 0; 16 * b < g; ++b) offs.push_back(g + 16 * b + (7 * b) % 16);
  for (size_t t : {size_t{1024}, size_t{1024 + 57}, kLen - 1}) offs.push_back(t);
  return offs;
}

// For the all-at-once case: one byte in every 16-byte block of the message. A seal reads
// back the last group after the loop, so every group matters there.
std::vector<size_t> block_offsets() {
  std::vector<size_t> offs;
  for (size_t b = 0; 16 * b < kLen; ++b) offs.push_back(std::min(16 * b + (7 * b) % 16, kLen - 1));
  return offs;
}

// The toggling thread's progress, read by the preemption handler below.
std::atomic<uint64_t> g_toggles{0};
std::atomic<bool> g_stopping{false};

// SIGUSR1 handler, run on the kernel's thread in the middle of a call: it waits until the
// toggling thread has changed the memory at least once, as if the scheduler had taken the
// CPU away mid-call. Without it the race needs two cores to collide within a few cycles;
// with it, any pair of accesses the kernel makes to the same byte (read twice, or write then
// read back) straddles a change whenever a signal lands between them. Bounded, so it cannot
// hang if the other thread has already stopped.
void preempted(int) {
  const uint64_t seen = g_toggles.load(std::memory_order_relaxed);
  for (int spin = 0; spin < 1 << 22 && !g_stopping.load(std::memory_order_relaxed); ++spin) {
    if (g_toggles.load(std::memory_order_relaxed) != seen) break;
  }
}

// Toggles bit 0 of target[off] for each offset in turn, a slice of time each (or, with slice
// 0, all offsets together), until stopped, and signals `victim` every ~20 us. Each byte is
// back to its original value when the thread returns.
class Flipper {
 public:
  Flipper(uint8_t* target, std::vector<size_t> offs, double slice_s)
      : target_(target), offs_(std::move(offs)), slice_(slice_s), victim_(pthread_self()) {
    g_toggles.store(0, std::memory_order_relaxed);
    g_stopping.store(false, std::memory_order_relaxed);
    thread_ = std::thread([this] { run(); });
    while (!started_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  ~Flipper() { stop(); }
  // Stops and joins the thread; returns how many toggles it made.
  uint64_t stop() {
    if (thread_.joinable()) {
      g_stopping.store(true, std::memory_order_relaxed);
      thread_.join();
    }
    return g_toggles.load(std::memory_order_relaxed);
  }
  uint64_t signals() const { return signals_; }

 private:
  void toggle(size_t first, size_t last) {
    for (size_t j = first; j < last; ++j) {
      // Relaxed atomics: the racing side is the kernel's plain accesses, which is the point.
      uint8_t* p = target_ + offs_[j];
      __atomic_store_n(p, static_cast<uint8_t>(__atomic_load_n(p, __ATOMIC_RELAXED) ^ 1),
                       __ATOMIC_RELAXED);
    }
  }

  void run() {
    started_.store(true, std::memory_order_release);
    uint64_t n = 0;
    auto next_signal = Clock::now();
    for (size_t i = 0; !g_stopping.load(std::memory_order_relaxed); i = (i + 1) % offs_.size()) {
      const size_t first = slice_ > 0 ? i : 0, last = slice_ > 0 ? i + 1 : offs_.size();
      const auto until = Clock::now() + std::chrono::duration<double>(slice_);
      bool odd = false;
      for (;;) {
        for (int k = 0; k < 64; ++k, odd = !odd) {
          toggle(first, last);
          g_toggles.store(++n, std::memory_order_relaxed);
        }
        const auto t = Clock::now();
        if (t >= next_signal) {
          pthread_kill(victim_, SIGUSR1);
          ++signals_;
          next_signal = t + std::chrono::microseconds(20);
        }
        if (t >= until || g_stopping.load(std::memory_order_relaxed)) break;
      }
      if (odd) toggle(first, last);  // restore before moving on
    }
  }

  uint8_t* target_;
  std::vector<size_t> offs_;
  double slice_;
  pthread_t victim_;
  std::atomic<bool> started_{false};
  uint64_t signals_ = 0;
  std::thread thread_;
};

struct Counts {
  uint64_t calls = 0, verified = 0, rejected = 0, wrong = 0;
};

enum class Mode { kOpenSharedInput, kSealSharedOutput, kSealSharedInput };
const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kOpenSharedInput: return "open, shared input";
    case Mode::kSealSharedOutput: return "seal, shared output";
    default: return "seal, shared input";
  }
}

Counts run_case(const ws::Kernel& k, size_t key_len, Mode mode, double seconds) {
  std::mt19937_64 rng(key_len * 131 + static_cast<int>(mode));
  Bytes key(key_len), iv(12), aad(kAadLen), pt(kLen);
  for (auto* v : {&key, &iv, &aad, &pt})
    for (auto& b : *v) b = static_cast<uint8_t>(rng());
  // The expected answer comes from the reference model, not from the kernel under test.
  const Bytes sealed = wsref::seal(key.data(), key_len, iv.data(), iv.size(), aad.data(),
                                   aad.size(), pt.data(), kLen);
  const uint8_t* want_tag = sealed.data() + kLen;

  std::unique_ptr<ws::GcmKey> gk(new ws::GcmKey());
  k.init(gk.get(), key.data(), key_len);

  // `shared` is the memory the other thread writes; `mine` is private.
  Bytes shared = mode == Mode::kOpenSharedInput   ? Bytes(sealed.begin(), sealed.begin() + kLen)
                 : mode == Mode::kSealSharedInput ? pt
                                                  : Bytes(kLen);
  Bytes mine(kLen), back(kLen);
  uint8_t tag[16], tag2[16];
  const std::vector<size_t> offs =
      mode == Mode::kSealSharedOutput ? block_offsets() : lane_offsets(k);

  Counts c;
  // A seal's output has no "verified" outcome to preserve, so every offset toggles at once
  // there (more chances to land between a write and a read-back); an open's input toggles one
  // byte at a time, or the tag would almost never verify.
  const double slice =
      mode == Mode::kSealSharedOutput ? 0 : seconds / static_cast<double>(offs.size());
  Flipper flipper(shared.data(), offs, slice);
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    for (int rep = 0; rep < 64; ++rep) {
      ++c.calls;
      switch (mode) {
        case Mode::kOpenSharedInput: {
          if (ws::gcm_open(k, gk.get(), iv.data(), iv.size(), aad.data(), aad.size(),
                           shared.data(), mine.data(), kLen, want_tag)) {
            ++c.verified;
            if (std::memcmp(mine.data(), pt.data(), kLen) != 0) ++c.wrong;
          } else {
            ++c.rejected;
          }
          break;
        }
        case Mode::kSealSharedOutput: {
          k.seal(gk.get(), iv.data(), iv.size(), aad.data(), aad.size(), pt.data(),
                 shared.data(), kLen, tag);
          if (std::memcmp(tag, want_tag, 16) != 0) ++c.wrong;
          break;
        }
        case Mode::kSealSharedInput: {
          k.seal(gk.get(), iv.data(), iv.size(), aad.data(), aad.size(), shared.data(),
                 mine.data(), kLen, tag);
          // The private output is stable, so the kernel may check it against itself.
          k.open(gk.get(), iv.data(), iv.size(), aad.data(), aad.size(), mine.data(),
                 back.data(), kLen, tag2);
          bool ok = ws::tags_equal(tag, tag2);
          if (ok) ++c.verified;
          for (size_t i = 0; i < kLen && ok; ++i) ok = (back[i] ^ pt[i]) <= 1;
          for (size_t i = 0; i < kLen && ok; ++i) {
            if (back[i] != pt[i]) ok = std::find(offs.begin(), offs.end(), i) != offs.end();
          }
          if (!ok) ++c.wrong;
          break;
        }
      }
    }
  }
  const uint64_t toggles = flipper.stop(), signals = flipper.signals();
  std::printf("race_test: %-7s AES-%zu %-20s %8llu calls %8llu verified %8llu rejected "
              "%4llu WRONG  (%llu toggles, %llu preemptions)\n",
              k.name, key_len * 8, mode_name(mode), static_cast<unsigned long long>(c.calls),
              static_cast<unsigned long long>(c.verified),
              static_cast<unsigned long long>(c.rejected),
              static_cast<unsigned long long>(c.wrong),
              static_cast<unsigned long long>(toggles),
              static_cast<unsigned long long>(signals));
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.25;
  struct sigaction sa = {};
  sa.sa_handler = preempted;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  uint64_t wrong = 0;
  int kernels = 0;
  for (const ws::Kernel* k : ws::all_kernels()) {
    if (!ws::cpu_supports(*k)) {
      std::printf("race_test: skipping %s (this CPU or OS lacks it)\n", k->name);
      continue;
    }
    ++kernels;
    for (size_t key_len : {16, 32}) {
      for (Mode m : {Mode::kOpenSharedInput, Mode::kSealSharedOutput, Mode::kSealSharedInput}) {
        wrong += run_case(*k, key_len, m, seconds).wrong;
      }
    }
  }
  if (kernels == 0) {
    std::printf("race_test: no kernel runs on this CPU\n");
    return 1;
  }
  std::printf("race_test: %llu wrong results\n", static_cast<unsigned long long>(wrong));
  return wrong == 0 ? 0 : 1;
}
