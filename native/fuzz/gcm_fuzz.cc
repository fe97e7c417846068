// libFuzzer harness for the GCM kernels (issue 5, "Native fuzzing"), built with ASan and
// UBSan by native/fuzz/run.sh. Every kernel this CPU runs (ws::cpu_supports) is driven with
// shapes taken from the fuzz input and checked against the other kernels, against the slow
// reference in native/test/ref_gcm.h (messages up to kRefLimit bytes), and against itself (seal/open round
// trips, in place vs out of place, ctr() vs seal's ciphertext, seal_chunks vs per-chunk seals
// vs a run split in two). Any disagreement is __builtin_trap().
//
// Input layout (little-endian; reads past the end give zeros, so every input is valid):
//   [0] mode % 3: 0 message, 1 message with an IV solved so the 32-bit counter wraps,
//       2 chunk run
//   [1] bit 0: AES-256; bits 1-7: misalignment of the input/output buffers
//   [2] misalignment of AAD, IV, tag buffers
//   message: [3] IV length (< 128: 12, else 1..80)  [4..5] AAD length (0..2047)
//            [6] length class  [7..8] length  [9] tamper target  [10..13] tamper position
//            [14] tamper bit   [15..16] counter offset below the wrap (mode 1)
//   chunks:  [3] chunk-size class  [4..5] chunk size  [6] chunk count  [7..8] final chunk
//            length  [9] first-index class  [10..17] first index  [18] split point
//            [19] mutation kind  [20] mutated chunk  [21..24] position  [25] xor value
//   [32..] key, IV/nonce, AAD and data bytes; past the input's end they come from a PRNG
//          seeded by the input, so lengths are not limited by -max_len.
// Heap buffers end exactly where their data ends, so an over-read or over-write trips ASan.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (const ws::Kernel* k : {&ws::kKernelAesni, &ws::kKernelVaes256, &ws::kKernelVaes512}) {
    if (ws::cpu_supports(*k)) g_kernels.push_back(k);
  }
  std::fprintf(stderr, "gcm_fuzz: kernels:");
  for (const ws::Kernel* k : g_kernels) std::fprintf(stderr, " %s", k->name);
  std::fprintf(stderr, "%s\n", g_kernels.size() > 1 ? "" : " (no cross-kernel checks; reference only)");
  REQUIRE(!g_kernels.empty());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  switch (in.at(0) % 3) {
    case 0: fuzz_message(in, false); break;
    case 1: fuzz_message(in, true); break;
    default: fuzz_chunks(in);
  }
  return 0;
}
