// Native test driver for the GCM kernels: no Node, built with AddressSanitizer and UBSan
// (CMakeLists WS_NATIVE_TESTS). Every kernel this CPU runs is checked against
//   - the GCM spec's test cases (McGrew-Viega, appendix B: 1-6 and 13-18; no AES-192 here),
//   - Wycheproof aes_gcm_test.json (path in argv[1], default test/vectors/aes_gcm_test.json),
//   - a slow, independent reference model below (FIPS-197 AES, SP 800-38D GHASH bit by bit),
//     over random lengths, AAD, IV lengths, misaligned and in-place buffers,
//   - counters that wrap mod 2^32 inside the bulk loops (IVs solved for a chosen J0),
// and gcm_open, seal_chunks and open_chunks are checked for tamper rejection and wiping.
// `--upper-state` (run on the -O3 build, as shipped) checks every entry point returns with the
// upper vector state clean.
// Buffers are heap allocations that end exactly where the data ends, so a kernel that
// reads or writes past a tail trips ASan.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "cpu.h"
#include "gcm.h"
#include "ref_gcm.h"

namespace {

using Bytes = std::vector<uint8_t>;

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    if (g_failed <= 50) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  }
}

Bytes hex(const std::string& s) {
  Bytes out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::stoi(s.substr(2 * i, 2), nullptr, 16);
  return out;
}

std::mt19937_64 rng(0x5eed);
Bytes random_bytes(size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}
size_t rand_below(size_t n) { return static_cast<size_t>(rng() % n); }

// A heap buffer whose data starts `mis` bytes into the allocation and ends at its last byte.
struct Buf {
  uint8_t* base;
  uint8_t* p;
  size_t n;
  Buf(size_t len, size_t mis = 0)
      : base(static_cast<uint8_t*>(std::malloc(len + mis ? len + mis : 1))),
        p(base + mis),
        n(len) {}
  Buf(const Bytes& b, size_t mis = 0) : Buf(b.size(), mis) {
    if (n) std::memcpy(p, b.data(), n);
  }
  ~Buf() { std::free(base); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  Bytes bytes() const { return Bytes(p, p + n); }
  bool equals(const Bytes& b) const {
    return b.size() == n && (n == 0 || std::memcmp(p, b.data(), n) == 0);
  }
};

// ---- reference model (ref_gcm.h, shared with the fuzz harness) -----------------------------

// Returns ciphertext || tag.
Bytes ref_seal(const Bytes& key, const Bytes& iv, const Bytes& aad, const Bytes& pt) {
  return wsref::seal(key.data(), key.size(), iv.data(), iv.size(), aad.data(), aad.size(),
                     pt.data(), pt.size());
}

// Keystream XOR from counter block `first` onward (inc32 between blocks).
Bytes ref_ctr(const Bytes& key, const uint8_t first[16], const Bytes& in) {
  Bytes out(in.size());
  wsref::ctr(wsref::Aes(key.data(), key.size()), first, in.data(), out.data(), in.size());
  return out;
}

Bytes ref_j0(const Bytes& key, const Bytes& iv) {
  Bytes j0(16);
  wsref::j0(wsref::Aes(key.data(), key.size()), iv.data(), iv.size(), j0.data());
  return j0;
}

Bytes iv_for_j0(const Bytes& key, const uint8_t j0[16]) {
  Bytes iv(16);
  wsref::iv_for_j0(key.data(), key.size(), j0, iv.data());
  return iv;
}

// ---- kernel harness -------------------------------------------------------------------------

struct Key {
  std::unique_ptr<ws::GcmKey> k{new ws::GcmKey()};
  Key(const ws::Kernel& kern, const Bytes& raw) { kern.init(k.get(), raw.data(), raw.size()); }
  const ws::GcmKey* get() const { return k.get(); }
};

std::string describe(const ws::Kernel& k, const char* what, size_t len, size_t aad, size_t iv,
                     size_t keylen) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s %s len=%zu aad=%zu iv=%zu key=%zu", k.name, what, len, aad,
                iv, keylen * 8);
  return buf;
}

// Seals and opens one message every way a caller may: out of place, in place, misaligned,
// through gcm_open, and with each input tampered. `expect` is ciphertext || tag.
void check_message(const ws::Kernel& kern, const Bytes& key, const Bytes& iv, const Bytes& aad,
                   const Bytes& pt, const Bytes& expect, size_t mis = 0, bool tamper = true) {
  const std::string d = describe(kern, "", pt.size(), aad.size(), iv.size(), key.size());
  const Key k(kern, key);
  const size_t n = pt.size();
  const Bytes ct(expect.begin(), expect.end() - 16), tag(expect.end() - 16, expect.end());
  Buf biv(iv), baad(aad), tagbuf(16);
  {  // out of place, input misaligned by mis, output by (mis + 3) % 16
    Buf in(pt, mis), out(n, (mis + 3) % 16);
    kern.seal(k.get(), biv.p, iv.size(), baad.p, aad.size(), in.p, out.p, n, tagbuf.p);
    check(out.equals(ct) && tagbuf.equals(tag), d + " seal");
    check(in.equals(pt), d + " seal leaves input alone");
    Buf back(n, mis);
    const bool ok = ws::gcm_open(kern, k.get(), biv.p, iv.size(), baad.p, aad.size(), out.p,
                                 back.p, n, tagbuf.p);
    check(ok && back.equals(pt), d + " open");
  }
  {  // in place
    Buf io(pt, (mis + 7) % 16);
    kern.seal(k.get(), biv.p, iv.size(), baad.p, aad.size(), io.p, io.p, n, tagbuf.p);
    check(io.equals(ct) && tagbuf.equals(tag), d + " seal in place");
    kern.open(k.get(), biv.p, iv.size(), baad.p, aad.size(), io.p, io.p, n, tagbuf.p);
    check(io.equals(pt) && tagbuf.equals(tag), d + " open in place");
  }
  if (!tamper) return;
  // Any changed bit in ciphertext, tag, AAD or IV must fail, with the output wiped.
  for (int which = 0; which < 4; ++which) {
    Bytes c2 = ct, t2 = tag, a2 = aad, i2 = iv;
    Bytes* target = which == 0 ? &c2 : which == 1 ? &t2 : which == 2 ? &a2 : &i2;
    if (target->empty()) continue;
    (*target)[rand_below(target->size())] ^= static_cast<uint8_t>(1u << rand_below(8));
    Buf in(c2), out(n), bt(t2), ba(a2), bi(i2);
    if (n) std::memset(out.p, 0xaa, n);
    const bool ok =
        ws::gcm_open(kern, k.get(), bi.p, i2.size(), ba.p, a2.size(), in.p, out.p, n, bt.p);
    check(!ok && out.equals(Bytes(n, 0)), d + " tamper " + std::to_string(which));
  }
}

// ---- spec known answers ---------------------------------------------------------------------

struct Kat {
  const char* name;
  const char *key, *iv, *aad, *pt, *ct, *tag;
};

const char kP64[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const char kP60[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const char kK128[] = "feffe9928665731c6d6a8f9467308308";
const char kK256[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const char kA20[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const char kIv96[] = "cafebabefacedbaddecaf888";
const char kIv60[] =
    "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
    "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b";

// "The Galois/Counter Mode of Operation (GCM)", McGrew and Viega, appendix B.
const Kat kKats[] = {
    {"TC1", "00000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "58e2fccefa7e3061367f1d57a4e7455a"},
    {"TC2", "00000000000000000000000000000000", "000000000000000000000000", "",
     "00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"},
    {"TC3", kK128, kIv96, "", kP64,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"TC4", kK128, kIv96, kA20, kP60,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"TC5", kK128, "cafebabefacedbad", kA20, kP60,
     "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423"
     "73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
     "3612d2e79e3b0785561be14aaca2fccb"},
    {"TC6", kK128, kIv60, kA20, kP60,
     "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7"
     "01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
     "619cc5aefffe0bfa462af43c1699d050"},
    {"TC13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"TC14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"TC15", kK256, kIv96, "", kP64,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"TC16", kK256, kIv96, kA20, kP60,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {"TC17", kK256, "cafebabefacedbad", kA20, kP60,
     "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0"
     "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
     "3a337dbf46a792c45e454913fe2ea8f2"},
    {"TC18", kK256, kIv60, kA20, kP60,
     "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
     "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
     "a44a8266ee1c8eb0c8b5d4cf5ae9f19a"},
};

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void test_reference_model() {
  for (const Kat& t : kKats) {
    const Bytes got = ref_seal(hex(t.key), hex(t.iv), hex(t.aad), hex(t.pt));
    check(got == concat(hex(t.ct), hex(t.tag)), std::string("reference model ") + t.name);
  }
}

void test_kats(const ws::Kernel& k) {
  for (const Kat& t : kKats) {
    for (size_t mis : {0, 1, 15}) {
      check_message(k, hex(t.key), hex(t.iv), hex(t.aad), hex(t.pt),
                    concat(hex(t.ct), hex(t.tag)), mis);
    }
  }
}

// ---- Wycheproof -----------------------------------------------------------------------------

// Just enough JSON for the Wycheproof files: objects, arrays, strings without escapes
// beyond \" and \\, numbers, true/false/null.
struct Json {
  enum Kind { kNull, kBool, kNum, kStr, kArr, kObj } kind = kNull;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;
  const Json* get(const char* key) const {
    for (const auto& kv : obj)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
};

struct JsonParser {
  const char* p;
  const char* end;
  bool ok = true;
  void ws() {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  }
  std::string string() {
    std::string s;
    ++p;  // opening quote
    while (p < end && *p != '"') {
      if (*p == '\\' && p + 1 < end) ++p;
      s += *p++;
    }
    ++p;
    return s;
  }
  Json value() {
    Json v;
    ws();
    if (p >= end) {
      ok = false;
      return v;
    }
    if (*p == '{') {
      v.kind = Json::kObj;
      ++p;
      for (ws(); ok && p < end && *p != '}'; ws()) {
        std::string k = string();
        ws();
        ++p;  // ':'
        v.obj.emplace_back(k, value());
        ws();
        if (*p == ',') ++p;
      }
      ++p;
    } else if (*p == '[') {
      v.kind = Json::kArr;
      ++p;
      for (ws(); ok && p < end && *p != ']'; ws()) {
        v.arr.push_back(value());
        ws();
        if (*p == ',') ++p;
      }
      ++p;
    } else if (*p == '"') {
      v.kind = Json::kStr;
      v.str = string();
    } else if (*p == 't' || *p == 'f' || *p == 'n') {
      v.kind = *p == 'n' ? Json::kNull : Json::kBool;
      v.num = *p == 't';
      while (p < end && *p >= 'a' && *p <= 'z') ++p;
    } else {
      v.kind = Json::kNum;
      char* e;
      v.num = std::strtod(p, &e);
      if (e == p) ok = false;
      p = e;
    }
    return v;
  }
};

void test_wycheproof(const std::vector<const ws::Kernel*>& kernels, const char* path) {
  FILE* f = std::fopen(path, "rb");
  check(f != nullptr, std::string("open Wycheproof vectors at ") + path);
  if (!f) return;
  std::string text;
  char chunk[65536];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) text.append(chunk, n);
  std::fclose(f);
  JsonParser jp{text.data(), text.data() + text.size()};
  const Json root = jp.value();
  const Json* groups = root.get("testGroups");
  check(jp.ok && groups != nullptr, "parse Wycheproof JSON");
  if (!groups) return;
  int run = 0;
  for (const Json& g : groups->arr) {
    const int key_bits = static_cast<int>(g.get("keySize")->num);
    const size_t tag_bytes = static_cast<size_t>(g.get("tagSize")->num) / 8;
    if (key_bits != 128 && key_bits != 256) continue;  // AES-192 is not offered
    for (const Json& t : g.get("tests")->arr) {
      const Bytes key = hex(t.get("key")->str), iv = hex(t.get("iv")->str);
      if (iv.empty()) continue;  // zero-length IVs are rejected before any kernel runs
      const Bytes aad = hex(t.get("aad")->str), msg = hex(t.get("msg")->str);
      const Bytes ct = hex(t.get("ct")->str), tag = hex(t.get("tag")->str);
      const bool valid = t.get("result")->str == "valid";
      const std::string id =
          "wycheproof tcId " + std::to_string(static_cast<int>(t.get("tcId")->num));
      for (const ws::Kernel* k : kernels) {
        ++run;
        if (valid && tag_bytes == 16) {
          check_message(*k, key, iv, aad, msg, concat(ct, tag), 0, false);
          continue;
        }
        const Key kk(*k, key);
        Buf in(ct), out(ct.size()), biv(iv), baad(aad), got(16);
        k->open(kk.get(), biv.p, iv.size(), baad.p, aad.size(), in.p, out.p, ct.size(), got.p);
        const bool match = std::memcmp(got.p, tag.data(), tag.size()) == 0;
        check(match == valid && (!valid || out.equals(msg)), std::string(k->name) + " " + id);
        if (!valid && tag.size() == 16) {
          const bool ok = ws::gcm_open(*k, kk.get(), biv.p, iv.size(), baad.p, aad.size(), in.p,
                                       out.p, ct.size(), tag.data());
          check(!ok && out.equals(Bytes(ct.size(), 0)), std::string(k->name) + " " + id + " wipe");
        }
      }
    }
  }
  check(run > 0, "Wycheproof vectors ran");
}

// ---- randomized against the reference model -------------------------------------------------

void test_random(const std::vector<const ws::Kernel*>& kernels) {
  auto one = [&](size_t len, size_t aad_len, size_t iv_len, size_t key_len, bool tamper) {
    const Bytes key = random_bytes(key_len), iv = random_bytes(iv_len);
    const Bytes aad = random_bytes(aad_len), pt = random_bytes(len);
    const Bytes want = ref_seal(key, iv, aad, pt);
    const size_t mis = rand_below(16);
    for (const ws::Kernel* k : kernels) check_message(*k, key, iv, aad, pt, want, mis, tamper);
  };
  for (size_t key_len : {16, 32}) {
    // Every length through a few groups of the widest kernel, so each tail size is hit.
    for (size_t len = 0; len <= 1100; ++len) one(len, rand_below(40), 12, key_len, len % 16 == 0);
    for (int i = 0; i < 150; ++i)
      one(rand_below(4097), rand_below(301), 1 + rand_below(64), key_len, i % 8 == 0);
    for (size_t iv_len = 1; iv_len <= 64; ++iv_len)
      one(rand_below(600), rand_below(301), iv_len, key_len, false);
    for (size_t aad_len = 0; aad_len <= 300; ++aad_len)
      one(rand_below(64), aad_len, 12, key_len, false);
    for (size_t len : {size_t(65536), size_t(65536 + 17), size_t(1) << 20, (size_t(1) << 20) - 1})
      one(len, rand_below(301), (len & 1) ? 1 + rand_below(64) : 12, key_len, false);
  }
}

// ctr(): keystream from iv || 2, no GHASH.
void test_ctr(const std::vector<const ws::Kernel*>& kernels) {
  for (int i = 0; i < 300; ++i) {
    const size_t key_len = i % 2 ? 32 : 16;
    const size_t len = i < 100 ? static_cast<size_t>(i) * 7 : rand_below(5000);
    const Bytes key = random_bytes(key_len), iv = random_bytes(12), pt = random_bytes(len);
    uint8_t first[16] = {};
    std::memcpy(first, iv.data(), 12);
    first[15] = 2;
    const Bytes want = ref_ctr(key, first, pt);
    for (const ws::Kernel* k : kernels) {
      const Key kk(*k, key);
      Buf in(pt, i % 16), out(len, (i + 5) % 16), biv(iv);
      k->ctr(kk.get(), biv.p, in.p, out.p, len);
      check(out.equals(want), describe(*k, "ctr", len, 0, 12, key_len));
      k->ctr(kk.get(), biv.p, in.p, in.p, len);
      check(in.equals(want), describe(*k, "ctr in place", len, 0, 12, key_len));
    }
  }
}

// inc32 wraps mod 2^32 (SP 800-38D 6.2): J0 chosen so the counter wraps at every position
// within and around the 8- and 16-block bulk groups and the tails.
void test_counter_wrap(const std::vector<const ws::Kernel*>& kernels) {
  for (size_t key_len : {16, 32}) {
    const Bytes key = random_bytes(key_len);
    for (uint32_t before = 0; before < 70; ++before) {
      uint8_t j0[16];
      const Bytes rnd = random_bytes(12);
      std::memcpy(j0, rnd.data(), 12);
      const uint32_t c = 0xffffffffu - before;  // data starts at c + 1
      j0[12] = static_cast<uint8_t>(c >> 24);
      j0[13] = static_cast<uint8_t>(c >> 16);
      j0[14] = static_cast<uint8_t>(c >> 8);
      j0[15] = static_cast<uint8_t>(c);
      const Bytes iv = iv_for_j0(key, j0);
      check(ref_j0(key, iv) == Bytes(j0, j0 + 16), "solved IV gives the chosen J0");
      const size_t len = 16 * (before % 40) + 1100 + rand_below(300);
      const Bytes aad = random_bytes(rand_below(40)), pt = random_bytes(len);
      const Bytes want = ref_seal(key, iv, aad, pt);
      for (const ws::Kernel* k : kernels)
        check_message(*k, key, iv, aad, pt, want, before % 16, false);
    }
  }
}

// ---- chunk runs (gcm.cc) --------------------------------------------------------------------

void test_chunks(const std::vector<const ws::Kernel*>& kernels) {
  struct Case {
    size_t chunk, pt_len;
    uint64_t n_chunks, first_index;
  };
  const Case cases[] = {{64, 64 * 5, 5, 0},    {64, 64 * 4 + 10, 5, 7},   {64, 64 * 4, 5, 3},
                        {1024, 3000, 3, 1000}, {4096, 4096, 1, (uint64_t(1) << 38) - 1},
                        {256, 0, 1, 0},        {65536, 65536 * 2 + 1, 3, 42}};
  for (const ws::Kernel* k : kernels) {
    for (const Case& c : cases) {
      const Bytes key = random_bytes(c.chunk % 3 ? 16 : 32), base = random_bytes(12);
      const Bytes pt = random_bytes(c.pt_len);
      const Key kk(*k, key);
      const size_t sealed_len = c.pt_len + 16 * c.n_chunks;
      Buf in(pt, 1), out(sealed_len, 3), bbase(base);
      ws::seal_chunks(*k, kk.get(), bbase.p, c.first_index, in.p, c.pt_len, c.chunk, c.n_chunks,
                      out.p);
      // Against per-chunk seals with nonce = base XOR index (big-endian, low bytes).
      Bytes want;
      for (uint64_t i = 0; i < c.n_chunks; ++i) {
        Bytes nonce = base;
        const uint64_t idx = c.first_index + i;
        for (int b = 0; b < 8; ++b) nonce[11 - b] ^= static_cast<uint8_t>(idx >> (8 * b));
        const size_t start = static_cast<size_t>(i) * c.chunk;
        const size_t n = std::min(c.chunk, c.pt_len - start);
        const Bytes piece(pt.begin() + start, pt.begin() + start + n);
        want = concat(want, ref_seal(key, nonce, {}, piece));
      }
      const std::string d = std::string(k->name) + " chunks chunk=" + std::to_string(c.chunk) +
                            " n=" + std::to_string(c.n_chunks);
      check(out.equals(want), d + " seal_chunks");
      Buf back(c.pt_len, 5);
      check(ws::open_chunks(*k, kk.get(), bbase.p, c.first_index, out.p, c.pt_len, c.chunk,
                            c.n_chunks, back.p) == -1 && back.equals(pt),
            d + " open_chunks");
      // A flipped bit in chunk j (data or tag): open_chunks reports j, leaves earlier chunks
      // decrypted and chunk j zeroed.
      for (uint64_t j = 0; j < c.n_chunks; ++j) {
        Bytes bad = want;
        const size_t off = static_cast<size_t>(j) * (c.chunk + 16);
        const size_t n = std::min(c.chunk, c.pt_len - static_cast<size_t>(j) * c.chunk);
        bad[off + rand_below(n + 16)] ^= 0x20;
        Buf bin(bad), bout(c.pt_len);
        if (c.pt_len) std::memset(bout.p, 0xaa, c.pt_len);
        const int64_t r = ws::open_chunks(*k, kk.get(), bbase.p, c.first_index, bin.p, c.pt_len,
                                          c.chunk, c.n_chunks, bout.p);
        const size_t js = static_cast<size_t>(j) * c.chunk;
        const bool prefix = js == 0 || std::memcmp(bout.p, pt.data(), js) == 0;
        bool zeroed = true;
        for (size_t i = js; i < js + n; ++i) zeroed &= bout.p[i] == 0;
        check(r == static_cast<int64_t>(j) && prefix && zeroed,
              d + " tamper chunk " + std::to_string(j));
      }
    }
  }
}

// All kernels agree with each other on odd shapes (a quick check that needs no reference).
void test_cross(const std::vector<const ws::Kernel*>& kernels) {
  if (kernels.size() < 2) return;
  for (int i = 0; i < 400; ++i) {
    const size_t key_len = i % 2 ? 32 : 16;
    const size_t len = i < 300 ? rand_below(4097) : rand_below(3 << 20);
    const Bytes key = random_bytes(key_len), iv = random_bytes(1 + rand_below(64));
    const Bytes aad = random_bytes(rand_below(301)), pt = random_bytes(len);
    Bytes first;
    for (const ws::Kernel* k : kernels) {
      const Key kk(*k, key);
      Buf in(pt, rand_below(16)), out(len, rand_below(16)), tag(16);
      k->seal(kk.get(), iv.data(), iv.size(), aad.data(), aad.size(), in.p, out.p, len, tag.p);
      const Bytes got = concat(out.bytes(), tag.bytes());
      if (first.empty()) first = got;
      check(got == first, describe(*k, "cross-check", len, aad.size(), iv.size(), key_len));
    }
  }
}

// XGETBV with ECX = 1 reads XINUSE: which state components are not in their initial state.
// Bits 2 (YMM upper halves) and 6 (ZMM upper halves of registers 0-15): the state legacy SSE
// has to merge with and VZEROUPPER clears. Returns -1 where the CPU cannot report it
// (CPUID.(EAX=0DH,ECX=1):EAX bit 2).
int upper_state_in_use() {
#if !defined(__x86_64__)
  return -1;  // arm64 has no split upper state to leave dirty
#else
  unsigned a, b, c, d;
  if (!__get_cpuid_count(0xd, 1, &a, &b, &c, &d) || !(a & 4)) return -1;
  uint32_t lo, hi;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(1));
  return (lo & ((1u << 2) | (1u << 6))) != 0;
#endif
}

// VZEROUPPER, spelled as bytes so this file needs no -mavx: a clean start for each check.
void clear_upper_state() {
#if defined(__x86_64__)
  __asm__ volatile(".byte 0xc5, 0xf8, 0x77" ::: "memory");
#endif
}

// Every kernel entry point returns with the upper vector state clean (vzeroupper): legacy-SSE
// code run after dirty state (the aesni kernel, libc, V8) pays a merge per instruction; a
// vaes256 that returned dirty halved the aesni kernel's speed for the rest of the process.
void test_upper_state(const std::vector<const ws::Kernel*>& kernels) {
  if (upper_state_in_use() < 0) {
    std::printf("kernel_test: skipping the upper-state check (no XGETBV ECX=1 here)\n");
    return;
  }
  const Bytes key = random_bytes(32), iv = random_bytes(12), pt = random_bytes(3 * 1024);
  Bytes out(pt.size()), back(pt.size()), tag(16), chunks(3 * (1024 + 16));
  const auto clean_after = [](const ws::Kernel& k, const char* what, auto call) {
    clear_upper_state();
    call();
    check(upper_state_in_use() == 0, std::string(k.name) + " " + what + " leaves upper vector state clean");
  };
  for (const ws::Kernel* k : kernels) {
    std::unique_ptr<ws::GcmKey> gk(new ws::GcmKey());
    clean_after(*k, "init", [&] { k->init(gk.get(), key.data(), key.size()); });
    clean_after(*k, "seal", [&] {
      k->seal(gk.get(), iv.data(), iv.size(), nullptr, 0, pt.data(), out.data(), pt.size(), tag.data());
    });
    clean_after(*k, "open", [&] {
      k->open(gk.get(), iv.data(), iv.size(), nullptr, 0, out.data(), back.data(), pt.size(), tag.data());
    });
    clean_after(*k, "ctr", [&] { k->ctr(gk.get(), iv.data(), pt.data(), out.data(), pt.size()); });
    clean_after(*k, "seal_chunks", [&] {
      ws::seal_chunks(*k, gk.get(), iv.data(), 0, pt.data(), pt.size() - 1, 1024, 3, chunks.data());
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool upper_state_only = argc > 1 && std::strcmp(argv[1], "--upper-state") == 0;
  const char* vectors = argc > 1 && !upper_state_only ? argv[1] : "test/vectors/aes_gcm_test.json";
  if (!upper_state_only) test_reference_model();

  std::vector<const ws::Kernel*> kernels;
  for (const ws::Kernel* k : ws::all_kernels()) {
    if (ws::cpu_supports(*k)) {
      kernels.push_back(k);
      std::printf("kernel_test: testing %s\n", k->name);
    } else {
      std::printf("kernel_test: skipping %s (this CPU or OS lacks it)\n", k->name);
    }
  }
  check(!kernels.empty(), "at least one kernel runs here");

  if (upper_state_only) {
    test_upper_state(kernels);
  } else {
    for (const ws::Kernel* k : kernels) test_kats(*k);
    test_wycheproof(kernels, vectors);
    test_ctr(kernels);
    test_counter_wrap(kernels);
    test_chunks(kernels);
    test_cross(kernels);
    test_random(kernels);
  }

  std::printf("kernel_test: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
