// libFuzzer harness for the GCM kernels (issue 5, "Native fuzzing"), built with ASan and
// UBSan by native/fuzz/run.sh. Every kernel this CPU runs (ws::cpu_supports) is driven with
// shapes taken from the fuzz input and checked against the other kernels, against the slow
// reference in native/test/ref_gcm.h (messages up to kRefLimit bytes), and against itself (seal/open round
// trips, in place vs out of place, ctr() vs seal's ciphertext, seal_chunks vs per-chunk seals
// vs a run split in two). Any disagreement is __builtin_trap().
//
// A racing mode has a second thread toggle bytes of the (shared) input or output during each
// kernel call and checks the result against private copies: a verified open must equal the
// plaintext, a seal's tag must cover the ciphertext the kernel wrote (native/gcm.h, "read
// once").
//
// Input layout (little-endian; reads past the end give zeros, so every input is valid):
//   [0] bit 7 set: racing (layout below); else mode (bits 0-6) % 3: 0 message, 1 message
//       with an IV solved so the 32-bit counter wraps, 2 chunk run
//   [1] bit 0: AES-256; bits 1-7: misalignment of the input/output buffers
//   [2] misalignment of AAD, IV, tag buffers
//   message: [3] IV length (< 128: 12, else 1..80)  [4..5] AAD length (0..2047)
//            [6] length class  [7..8] length  [9] tamper target  [10..13] tamper position
//            [14] tamper bit   [15..16] counter offset below the wrap (mode 1)
//   chunks:  [3] chunk-size class  [4..5] chunk size  [6] chunk count  [7..8] final chunk
//            length  [9] first-index class  [10..17] first index  [18] split point
//            [19] mutation kind  [20] mutated chunk  [21..24] position  [25] xor value
//   racing:  [3] case % 4 (open shared input, seal shared output, seal shared input, open a
//            shared chunk run)  [4] AAD length (0..63)  [6..7] length (0..2047)
//            [8] chunk size (1..256, runs)  [9] toggled bytes (1..4)  [10..17] their offsets
//            [18] xor value (0 means 1)  [19] calls per kernel (1..8)
//   [32..] key, IV/nonce, AAD and data bytes; past the input's end they come from a PRNG
//          seeded by the input, so lengths are not limited by -max_len.
// Heap buffers end exactly where their data ends, so an over-read or over-write trips ASan.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>

#include "cpu.h"
#include "gcm.h"
#include "../test/ref_gcm.h"

namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kHeader = 32;
constexpr size_t kRefLimit = 16384;       // reference model cost ~ microseconds per block
constexpr size_t kMaxRunBytes = 1 << 18;  // plaintext bound for one chunk run

#define REQUIRE(cond) \
  do {                \
    if (!(cond)) __builtin_trap(); \
  } while (0)

struct Input {
  const uint8_t* data;
  size_t size;
  size_t pos = kHeader;
  uint64_t prng;

  Input(const uint8_t* d, size_t n) : data(d), size(n) {
    prng = 0x9e3779b97f4a7c15ull ^ n;
    for (size_t i = 0; i < n && i < kHeader; ++i) prng = (prng ^ d[i]) * 0x100000001b3ull;
  }
  uint8_t at(size_t i) const { return i < size ? data[i] : 0; }
  uint64_t le(size_t i, int n) const {
    uint64_t v = 0;
    for (int b = n - 1; b >= 0; --b) v = (v << 8) | at(i + b);
    return v;
  }
  // Payload bytes: the input after the header, then splitmix64.
  Bytes take(size_t n) {
    Bytes out(n);
    size_t i = 0;
    for (; i < n && pos < size; ++i) out[i] = data[pos++];
    for (; i < n; ++i) {
      uint64_t z = (prng += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      out[i] = static_cast<uint8_t>(z ^ (z >> 31));
    }
    return out;
  }
};

// An exact-size heap allocation with the data `mis` bytes in; malloc(0) for empty data, which
// ASan treats as zero usable bytes.
struct Buf {
  uint8_t* base;
  uint8_t* p;
  size_t n;
  Buf(size_t len, size_t mis) : base(static_cast<uint8_t*>(std::malloc(len + mis))), p(base + mis), n(len) {
    REQUIRE(base != nullptr || len + mis == 0);
    if (!base) base = p = static_cast<uint8_t*>(std::malloc(1));  // never null for callers
  }
  Buf(const uint8_t* src, size_t len, size_t mis) : Buf(len, mis) {
    if (len) std::memcpy(p, src, len);
  }
  Buf(const Bytes& b, size_t mis) : Buf(b.data(), b.size(), mis) {}
  ~Buf() { std::free(base); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  bool eq(const uint8_t* q, size_t len) const { return len == n && (n == 0 || std::memcmp(p, q, n) == 0); }
  bool eq(const Bytes& b) const { return eq(b.data(), b.size()); }
  bool all(uint8_t v, size_t from, size_t to) const {
    for (size_t i = from; i < to; ++i)
      if (p[i] != v) return false;
    return true;
  }
};

struct Key {
  ws::GcmKey* k;
  Key(const ws::Kernel& kern, const Bytes& raw) : k(new ws::GcmKey()) { kern.init(k, raw.data(), raw.size()); }
  ~Key() { delete k; }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
};

std::vector<const ws::Kernel*> g_kernels;

// ---- one message ---------------------------------------------------------------------------

void fuzz_message(Input& in, bool wrap) {
  const size_t key_len = in.at(1) & 1 ? 32 : 16;
  const size_t mis_in = (in.at(1) >> 1) & 15, mis_out = (in.at(1) >> 5) & 7;
  const size_t mis_aad = in.at(2) & 15, mis_iv = (in.at(2) >> 4) & 7, mis_tag = in.at(2) >> 7;
  size_t iv_len = in.at(3) < 128 ? 12 : 1 + (in.at(3) & 127) % 80;
  const size_t aad_len = in.le(4, 2) & 0x7ff;
  const uint64_t lraw = in.le(7, 2);
  const size_t len = static_cast<size_t>(in.at(6) % 4 == 0   ? lraw & 0xff
                                         : in.at(6) % 4 == 1 ? lraw & 0xfff
                                         : in.at(6) % 4 == 2 ? lraw & 0x3fff
                                                             : (lraw << 2) | (in.at(6) >> 6));
  const Bytes key = in.take(key_len);
  Bytes iv;
  if (wrap) {
    // J0's counter sits `below` steps short of 2^32, so data counters J0+1.. wrap inside the
    // bulk loops or the tail, depending on the length.
    const uint32_t below = static_cast<uint32_t>(in.le(15, 2) % 1100);
    Bytes j = in.take(12);
    const uint32_t c = 0xffffffffu - below;
    for (int b = 0; b < 4; ++b) j.push_back(static_cast<uint8_t>(c >> (24 - 8 * b)));
    iv.resize(16);
    wsref::iv_for_j0(key.data(), key_len, j.data(), iv.data());
    uint8_t check[16];
    wsref::j0(wsref::Aes(key.data(), key_len), iv.data(), 16, check);
    REQUIRE(std::memcmp(check, j.data(), 16) == 0);
    iv_len = 16;
  } else {
    iv = in.take(iv_len);
  }
  const Bytes aad = in.take(aad_len), pt = in.take(len);

  Bytes ref;
  if (len + aad_len <= kRefLimit) {
    ref = wsref::seal(key.data(), key_len, iv.data(), iv_len, aad.data(), aad_len, pt.data(), len);
  }
  Bytes first;  // ciphertext || tag from the first kernel
  Buf biv(iv, mis_iv), baad(aad, mis_aad);

  for (const ws::Kernel* kern : g_kernels) {
    const Key k(*kern, key);
    Buf src(pt, mis_in), dst(len, mis_out), tag(16, mis_tag);
    kern->seal(k.k, biv.p, iv_len, baad.p, aad_len, src.p, dst.p, len, tag.p);
    REQUIRE(src.eq(pt));  // input untouched
    Bytes got(dst.p, dst.p + len);
    got.insert(got.end(), tag.p, tag.p + 16);
    if (!ref.empty()) REQUIRE(got == ref);
    if (first.empty()) first = got;
    REQUIRE(got == first);

    // In place, laid out as the binding does: ciphertext || tag in one buffer.
    {
      Buf io(len + 16, mis_in);
      if (len) std::memcpy(io.p, pt.data(), len);
      kern->seal(k.k, biv.p, iv_len, baad.p, aad_len, io.p, io.p, len, io.p + len);
      REQUIRE(io.eq(got));
      REQUIRE(ws::gcm_open(*kern, k.k, biv.p, iv_len, baad.p, aad_len, io.p, io.p, len, io.p + len));
      REQUIRE(len == 0 || std::memcmp(io.p, pt.data(), len) == 0);
    }
    // Out-of-place open through gcm_open, and the raw kernel open in place.
    {
      Buf back(len, mis_out ^ 5);
      REQUIRE(ws::gcm_open(*kern, k.k, biv.p, iv_len, baad.p, aad_len, dst.p, back.p, len, tag.p));
      REQUIRE(back.eq(pt));
      Buf io(got.data(), len, mis_aad), want(16, 0);
      kern->open(k.k, biv.p, iv_len, baad.p, aad_len, io.p, io.p, len, want.p);
      REQUIRE(io.eq(pt) && want.eq(tag.p, 16));
    }
    // ctr(): with a 96-bit IV the keystream from iv || 2 is exactly seal's.
    if (iv_len == 12) {
      Buf c(pt, mis_out), o(len, mis_in);
      kern->ctr(k.k, biv.p, c.p, o.p, len);
      REQUIRE(o.eq(got.data(), len));
      kern->ctr(k.k, biv.p, c.p, c.p, len);
      REQUIRE(c.eq(got.data(), len));
    }
    // One flipped bit in ciphertext, tag, AAD or IV, or a ciphertext one byte short: open
    // fails and the output is wiped.
    {
      Bytes c2 = got, a2 = aad, i2 = iv;
      const uint8_t bit = static_cast<uint8_t>(1u << (in.at(14) & 7));
      const uint64_t at = in.le(10, 4);
      size_t n2 = len;
      switch (in.at(9) % 5) {
        case 0: if (len) { c2[at % len] ^= bit; break; } [[fallthrough]];
        case 1: c2[len + at % 16] ^= bit; break;
        case 2: if (aad_len) { a2[at % aad_len] ^= bit; break; } c2[len] ^= bit; break;
        case 3: i2[at % iv_len] ^= bit; break;
        default:
          if (len == 0) { c2[len] ^= bit; break; }
          n2 = len - 1;  // tag stays where it was: a truncated ciphertext
      }
      Buf bc(c2.data(), n2, mis_in), bt(c2.data() + len, 16, mis_tag), ba(a2, mis_aad), bi(i2, mis_iv);
      Buf out(n2, mis_out);
      if (n2) std::memset(out.p, 0xaa, n2);
      REQUIRE(!ws::gcm_open(*kern, k.k, bi.p, iv_len, ba.p, aad_len, bc.p, out.p, n2, bt.p));
      REQUIRE(out.all(0, 0, n2));
      // The same, in place with the tag right after the data.
      Buf io(n2 + 16, mis_out);
      if (n2) std::memcpy(io.p, c2.data(), n2);
      std::memcpy(io.p + n2, c2.data() + len, 16);
      REQUIRE(!ws::gcm_open(*kern, k.k, bi.p, iv_len, ba.p, aad_len, io.p, io.p, n2, io.p + n2));
      REQUIRE(io.all(0, 0, n2) && std::memcmp(io.p + n2, c2.data() + len, 16) == 0);
    }
  }
}

// ---- a run of chunks ----------------------------------------------------------------------

void chunk_nonce(const Bytes& base, uint64_t index, uint8_t out[12]) {
  std::memcpy(out, base.data(), 12);
  for (int b = 0; b < 8; ++b) out[11 - b] ^= static_cast<uint8_t>(index >> (8 * b));
}

void fuzz_chunks(Input& in) {
  const size_t key_len = in.at(1) & 1 ? 32 : 16;
  const size_t mis_in = (in.at(1) >> 1) & 15, mis_out = (in.at(1) >> 5) & 7;
  const uint64_t craw = in.le(4, 2);
  const size_t chunk = 1 + static_cast<size_t>(in.at(3) % 3 == 0   ? craw & 0x3f
                                               : in.at(3) % 3 == 1 ? craw & 0x7ff
                                                                   : craw);
  uint64_t n = 1 + in.at(6) % 24;
  if (n * chunk > kMaxRunBytes) n = 1 + kMaxRunBytes / chunk;
  const size_t last = static_cast<size_t>(in.le(7, 2) % (chunk + 1));
  const size_t pt_len = static_cast<size_t>(n - 1) * chunk + last;
  // The binding keeps first + n <= 2^38 (c2sp.org/chunked-encryption's counter limit).
  const uint64_t limit = (uint64_t{1} << 38) - n;
  const uint64_t fraw = in.le(10, 8);
  const uint64_t first = in.at(9) % 3 == 0 ? fraw & 0xff
                         : in.at(9) % 3 == 1 ? limit - (fraw & 0xff) % (limit + 1)
                                             : fraw % (limit + 1);
  const uint64_t split = in.at(18) % n;  // chunks in the first half-run; 0 means none
  const size_t sealed_len = pt_len + 16 * static_cast<size_t>(n);
  auto chunk_at = [&](uint64_t i) { return std::min(chunk, pt_len - static_cast<size_t>(i) * chunk); };
  auto sealed_at = [&](uint64_t i) { return static_cast<size_t>(i) * (chunk + 16); };

  const Bytes key = in.take(key_len), base = in.take(12), pt = in.take(pt_len);
  Buf bbase(base, mis_out & 3);

  // The reference: each chunk sealed as its own message, nonce = base XOR index.
  Bytes ref;
  if (pt_len <= kRefLimit) {
    for (uint64_t i = 0; i < n; ++i) {
      uint8_t nonce[12];
      chunk_nonce(base, first + i, nonce);
      const Bytes s = wsref::seal(key.data(), key_len, nonce, 12, nullptr, 0,
                                  pt.data() + i * chunk, chunk_at(i));
      ref.insert(ref.end(), s.begin(), s.end());
    }
  }
  Bytes first_out;

  for (const ws::Kernel* kern : g_kernels) {
    const Key k(*kern, key);
    Buf src(pt, mis_in), out(sealed_len, mis_out);
    ws::seal_chunks(*kern, k.k, bbase.p, first, src.p, pt_len, chunk, n, out.p);
    REQUIRE(src.eq(pt));
    const Bytes sealed(out.p, out.p + sealed_len);
    if (!ref.empty()) REQUIRE(sealed == ref);
    if (first_out.empty()) first_out = sealed;
    REQUIRE(sealed == first_out);

    // Against this kernel's single-message seal, chunk by chunk.
    for (uint64_t i = 0; i < n; ++i) {
      uint8_t nonce[12];
      chunk_nonce(base, first + i, nonce);
      const size_t m = chunk_at(i);
      Buf c(pt.data() + i * chunk, m, mis_in), o(m, 0), t(16, 0);
      kern->seal(k.k, nonce, 12, nullptr, 0, c.p, o.p, m, t.p);
      REQUIRE(o.eq(sealed.data() + sealed_at(i), m) && t.eq(sealed.data() + sealed_at(i) + m, 16));
    }

    // The same run sealed as two runs, [0, split) and [split, n), concatenates to it.
    if (split > 0) {
      const size_t pa = static_cast<size_t>(split) * chunk, pb = pt_len - pa;
      Buf a(pt.data(), pa, mis_in), b(pt.data() + pa, pb, mis_out), oa(pa + 16 * split, 1),
          ob(pb + 16 * (n - split), 2);
      ws::seal_chunks(*kern, k.k, bbase.p, first, a.p, pa, chunk, split, oa.p);
      ws::seal_chunks(*kern, k.k, bbase.p, first + split, b.p, pb, chunk, n - split, ob.p);
      REQUIRE(oa.eq(sealed.data(), oa.n) && ob.eq(sealed.data() + oa.n, ob.n));
      Buf back(pb, 3);
      REQUIRE(ws::open_chunks(*kern, k.k, bbase.p, first + split, ob.p, pb, chunk, n - split,
                              back.p) == -1);
      REQUIRE(back.eq(pt.data() + pa, pb));
    }

    // Intact run opens; the same run under the wrong first index fails at chunk 0.
    {
      Buf back(pt_len, mis_in ^ 9);
      REQUIRE(ws::open_chunks(*kern, k.k, bbase.p, first, out.p, pt_len, chunk, n, back.p) == -1);
      REQUIRE(back.eq(pt));
      const uint64_t wrong = first == 0 ? 1 : first - 1;
      if (pt_len) std::memset(back.p, 0xaa, pt_len);
      REQUIRE(ws::open_chunks(*kern, k.k, bbase.p, wrong, out.p, pt_len, chunk, n, back.p) == 0);
      REQUIRE(back.all(0, 0, chunk_at(0)) && back.all(0xaa, chunk_at(0), pt_len));
    }

    // A mutated run: open_chunks reports the first bad chunk, leaves earlier chunks decrypted,
    // zeroes the bad one and writes nothing after it.
    {
      Bytes bad = sealed;
      uint64_t j = in.at(20) % n;
      const uint8_t x = in.at(25) ? in.at(25) : 1;
      switch (in.at(19) % 3) {
        case 0:  // a flipped byte in chunk j's data or tag
          bad[sealed_at(j) + in.le(21, 4) % (chunk_at(j) + 16)] ^= x;
          break;
        case 1: {  // chunk j swapped with a later full-size chunk
          const uint64_t other = j + 1 + in.le(21, 4) % n;
          if (other < n && chunk_at(other) == chunk_at(j)) {
            std::swap_ranges(bad.begin() + sealed_at(j), bad.begin() + sealed_at(j) + chunk + 16,
                             bad.begin() + sealed_at(other));
          } else {
            bad[sealed_at(j) + chunk_at(j) + (x & 15)] ^= 0x80;  // tag bit
          }
          break;
        }
        default: {  // chunk j spliced in from the same position of a run one index later
          uint8_t nonce[12];
          chunk_nonce(base, first + j + 1, nonce);
          Buf c(pt.data() + j * chunk, chunk_at(j), 0), o(chunk_at(j) + 16, 0);
          kern->seal(k.k, nonce, 12, nullptr, 0, c.p, o.p, chunk_at(j), o.p + chunk_at(j));
          std::memcpy(bad.data() + sealed_at(j), o.p, o.n);
        }
      }
      Buf bin(bad, mis_in), back(pt_len, mis_out);
      if (pt_len) std::memset(back.p, 0xaa, pt_len);
      const int64_t r = ws::open_chunks(*kern, k.k, bbase.p, first, bin.p, pt_len, chunk, n, back.p);
      REQUIRE(r == static_cast<int64_t>(j));
      const size_t js = static_cast<size_t>(j) * chunk, je = js + chunk_at(j);
      REQUIRE(js == 0 || std::memcmp(back.p, pt.data(), js) == 0);
      REQUIRE(back.all(0, js, je) && back.all(0xaa, je, pt_len));
      REQUIRE(bin.eq(bad));
    }
  }
}

// ---- racing: a second thread writes the memory a call works on ------------------------------

// The racer's progress, read by preempted() below.
std::atomic<uint64_t> g_toggles{0};
std::atomic<bool> g_racing{false};
// SIGURG: libFuzzer uses SIGALRM, SIGUSR1/2 and the fault signals, and a standard signal
// (unlike a real-time one) does not queue up while the handler runs.
const int kPreemptSignal = SIGURG;

// Run on the calling thread mid-call: waits (bounded) until the racer has written again, as
// if the scheduler had taken the CPU there. Any two accesses a kernel makes to one byte then
// straddle a change whenever the signal lands between them, instead of needing two cores to
// collide within a few cycles.
void preempted(int) {
  const uint64_t seen = g_toggles.load(std::memory_order_relaxed);
  for (int spin = 0; spin < 1 << 16 && g_racing.load(std::memory_order_relaxed); ++spin) {
    if (g_toggles.load(std::memory_order_relaxed) != seen) break;
  }
}

// One long-lived thread (libFuzzer runs millions of inputs; a thread per call would dominate).
// start() returns once it is toggling; stop() returns once it no longer touches the memory,
// so the caller may then free it. While toggling it also signals the caller every ~20 us.
class Racer {
 public:
  static Racer& get() {
    static Racer* r = new Racer();  // never destroyed: the thread runs until the process exits
    return *r;
  }

  void start(uint8_t* p, const std::vector<size_t>& offs, uint8_t x) {
    uint64_t gen;
    {
      std::lock_guard<std::mutex> l(m_);
      p_ = p, offs_ = offs, x_ = x, caller_ = pthread_self();
      go_.store(true, std::memory_order_relaxed);
      g_racing.store(true, std::memory_order_relaxed);
      gen = ++gen_;
    }
    cv_.notify_one();
    while (started_.load(std::memory_order_acquire) != gen) std::this_thread::yield();
  }

  void stop() {
    go_.store(false, std::memory_order_relaxed);
    g_racing.store(false, std::memory_order_relaxed);
    const uint64_t gen = gen_;
    while (done_.load(std::memory_order_acquire) != gen) std::this_thread::yield();
  }

 private:
  Racer() { std::thread([this] { run(); }).detach(); }

  void run() {
    uint64_t seen = 0;
    for (;;) {
      uint8_t* p;
      std::vector<size_t> offs;
      uint8_t x;
      pthread_t caller;
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return gen_ != seen; });
        seen = gen_, p = p_, offs = offs_, x = x_, caller = caller_;
      }
      started_.store(seen, std::memory_order_release);
      auto next = std::chrono::steady_clock::now();
      for (uint64_t n = 0; go_.load(std::memory_order_relaxed); ++n) {
        // Relaxed atomics on this side; the kernel's plain accesses are the race under test.
        for (size_t o : offs) __atomic_fetch_xor(p + o, x, __ATOMIC_RELAXED);
        g_toggles.fetch_add(1, std::memory_order_relaxed);
        if (n % 64 == 0 && std::chrono::steady_clock::now() >= next) {
          pthread_kill(caller, kPreemptSignal);
          next = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
        }
      }
      done_.store(seen, std::memory_order_release);
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  uint64_t gen_ = 0;  // written under m_, read by stop() on the same thread as start()
  uint8_t* p_ = nullptr;
  std::vector<size_t> offs_;
  uint8_t x_ = 1;
  pthread_t caller_{};
  std::atomic<bool> go_{false};
  std::atomic<uint64_t> started_{0}, done_{0};
};

// Whether got equals want except that bytes at offs may be XORed with x (the racer's values).
bool equal_up_to(const uint8_t* got, const uint8_t* want, size_t n, const std::vector<size_t>& offs,
                 uint8_t x) {
  for (size_t i = 0; i < n; ++i) {
    if (got[i] == want[i]) continue;
    if ((got[i] ^ want[i]) != x || std::find(offs.begin(), offs.end(), i) == offs.end()) return false;
  }
  return true;
}

void fuzz_race(Input& in) {
  const size_t key_len = in.at(1) & 1 ? 32 : 16;
  const size_t mis = (in.at(1) >> 1) & 15;
  const int what = in.at(3) % 4;
  const size_t aad_len = in.at(4) & 63;
  const size_t len = in.le(6, 2) & 0x7ff;
  const size_t chunk = 1 + in.at(8);
  const uint8_t x = in.at(18) ? in.at(18) : 1;
  const int calls = 1 + in.at(19) % 8;
  const Bytes key = in.take(key_len), iv = in.take(12), aad = in.take(aad_len), pt = in.take(len);
  // The message as sealed by the reference, on private memory.
  const Bytes ref = wsref::seal(key.data(), key_len, iv.data(), 12, aad.data(), aad_len, pt.data(), len);

  // Chunk run case: len bytes in chunks of `chunk`, sealed by the reference chunk by chunk.
  const uint64_t n_chunks = len == 0 ? 1 : (len + chunk - 1) / chunk;
  Bytes run;
  if (what == 3) {
    for (uint64_t i = 0; i < n_chunks; ++i) {
      uint8_t nonce[12];
      chunk_nonce(iv, i, nonce);
      const size_t m = std::min(chunk, len - static_cast<size_t>(i) * chunk);
      const Bytes s = wsref::seal(key.data(), key_len, nonce, 12, nullptr, 0, pt.data() + i * chunk, m);
      run.insert(run.end(), s.begin(), s.end());
    }
  }
  // The toggled offsets, within what the racer may write: the sealed input (ciphertext and
  // tag), or the ciphertext part of a seal's output, or the plaintext.
  const size_t span = what == 0 ? len + 16 : what == 3 ? run.size() : len;
  if (span == 0) return;
  std::vector<size_t> offs;
  for (int i = 0; i <= in.at(9) % 4; ++i) offs.push_back(in.le(10 + 2 * i, 2) % span);

  // One shared buffer per kernel, toggled through all of its calls: one thread hand-off per
  // kernel rather than per call. Everything checked is private.
  Racer& racer = Racer::get();
  for (const ws::Kernel* kern : g_kernels) {
    const Key k(*kern, key);
    Buf sh(what == 0 ? ref : what == 2 ? pt : what == 3 ? run : Bytes(len), mis);
    racer.start(sh.p, offs, x);
    for (int c = 0; c < calls; ++c) {
      if (what == 0) {
        Buf out(len, mis ^ 3);
        const bool ok = ws::gcm_open(*kern, k.k, iv.data(), 12, aad.data(), aad_len, sh.p, out.p, len,
                                     sh.p + len);
        REQUIRE(ok ? out.eq(pt) : out.all(0, 0, len));
      } else if (what == 1) {
        Buf src(pt, mis ^ 5), tag(16, 0);
        kern->seal(k.k, iv.data(), 12, aad.data(), aad_len, src.p, sh.p, len, tag.p);
        REQUIRE(tag.eq(ref.data() + len, 16));
      } else if (what == 2) {
        Buf out(len, mis ^ 7), tag(16, 0);
        kern->seal(k.k, iv.data(), 12, aad.data(), aad_len, sh.p, out.p, len, tag.p);
        // The plaintext the kernel used (same keystream as the reference's), resealed by the
        // reference, gives exactly this output and tag; it is the plaintext give or take toggles.
        Bytes used(len);
        for (size_t i = 0; i < len; ++i) used[i] = out.p[i] ^ ref[i] ^ pt[i];
        const Bytes again = wsref::seal(key.data(), key_len, iv.data(), 12, aad.data(), aad_len,
                                        used.data(), len);
        REQUIRE(out.eq(again.data(), len) && tag.eq(again.data() + len, 16));
        REQUIRE(equal_up_to(used.data(), pt.data(), len, offs, x));
      } else {
        Buf out(len, mis ^ 1);
        if (len) std::memset(out.p, 0xaa, len);
        const int64_t bad = ws::open_chunks(*kern, k.k, iv.data(), 0, sh.p, len, chunk, n_chunks, out.p);
        // Chunks before the first failure are the plaintext; the failing one is zeroed; later
        // ones are untouched.
        const size_t good = bad < 0 ? len : std::min(len, static_cast<size_t>(bad) * chunk);
        REQUIRE(good == 0 || std::memcmp(out.p, pt.data(), good) == 0);
        if (bad >= 0) {
          const size_t end = std::min(len, good + chunk);
          REQUIRE(out.all(0, good, end) && out.all(0xaa, end, len));
        }
      }
    }
    racer.stop();
    // A seal's shared output holds the ciphertext, give or take the racer's toggles.
    if (what == 1) REQUIRE(equal_up_to(sh.p, ref.data(), len, offs, x));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (const ws::Kernel* k : ws::all_kernels()) {
    if (ws::cpu_supports(*k)) g_kernels.push_back(k);
  }
  std::fprintf(stderr, "gcm_fuzz: kernels:");
  for (const ws::Kernel* k : g_kernels) std::fprintf(stderr, " %s", k->name);
  std::fprintf(stderr, "%s\n", g_kernels.size() > 1 ? "" : " (no cross-kernel checks; reference only)");
  REQUIRE(!g_kernels.empty());
  struct sigaction sa = {};
  sa.sa_handler = preempted;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  REQUIRE(sigaction(kPreemptSignal, &sa, nullptr) == 0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  if (in.at(0) & 0x80) {
    fuzz_race(in);
    return 0;
  }
  switch ((in.at(0) & 0x7f) % 3) {
    case 0: fuzz_message(in, false); break;
    case 1: fuzz_message(in, true); break;
    default: fuzz_chunks(in);
  }
  return 0;
}
