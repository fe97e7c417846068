// AES-GCM (NIST SP 800-38D) with VAES and VPCLMULQDQ on 512-bit vectors (AVX-512F/BW/VL).
//
// Four AES blocks per zmm register, 32 blocks (512 bytes) per main-loop group. The AES
// rounds of one group are interleaved with GHASH of 32 ciphertext blocks (the previous group
// when sealing, the current one when opening), so AES and carry-less multiplies overlap.
//
// GHASH works on byte-reflected blocks, never bit-reflected: a GCM field element with its
// bytes reversed is, read as a 128-bit integer, the polynomial x^127 * a(1/x), and carry-less
// multiplication of two such values yields a*b*x^-128 modulo x^128 + x^127 + x^126 + x^121 + 1
// (a Montgomery product). Storing H premultiplied by x cancels the extra factor. Reduction
// folds 64 bits at a time with one clmul by x^63 + x^62 + x^57 (the 0xc2 constant) and a
// qword swap, so no shifts are needed. A group's 32 products are summed unreduced and reduced
// once. Products use Karatsuba (3 clmuls per block, not 4) because on the Zen 5 this targets a
// zmm vpclmulqdq costs a cycle of the same two pipes that run vaesenc: every clmul saved is
// AES time. That sharing also bounds GCM at ~0.75x (AES-128) and ~0.82x (AES-256) of CTR.
// Measured on that Zen 5 (native/bench_kernel.cc and hand-written asm loops): vaesenc zmm
// issues 1/cycle (latency 4), vpclmulqdq 1 per 2 cycles and each takes a vaesenc slot, so
// 112 AES + 26 clmul per AES-256 group is >= 138 cycles against CTR's 112 (0.81x). With the
// ~90 shuffle/XOR/add ops a group also needs, even an ideal asm loop takes ~155 cycles:
// the ~0.74x this loop reaches. Finer clmul interleaving, other GHASH spreads, 16 or 24
// blocks per group (no spills) and -mtune=znver3 all measured the same or slower.
//
// Tails (AAD, IV, data not a multiple of 512 bytes) use AVX-512 byte masks: loads read zeros
// past the end, stores write only len bytes. Nothing branches on or indexes by secret data.

// GCC 12's AVX-512 headers self-initialise "undefined" vectors (__Y = __Y), which -Wall
// reports at every inlined intrinsic (GCC bug 105593, fixed in 13); silence it for the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstring>

#include "gcm.h"

namespace ws {

namespace {

#define WS_INLINE inline __attribute__((always_inline))

constexpr int kVecs = 8;  // zmm vectors per main-loop group
constexpr size_t kGroupBytes = 64 * kVecs;
constexpr size_t kNumPowers = 4 * kVecs;

// GcmKey::htable layout. Powers H'^33..H'^1 (H' = H * x, reflected) run highest first so that
// n trailing blocks multiply by the contiguous H^n..H^1 (H^33: a 32-block tail plus the
// lengths block); three zero blocks follow, so a partial vector of powers reads zeros (times
// zero-masked data, they add nothing). The Karatsuba array holds h_lo ^ h_hi of each power
// in both halves, same order. Offsets put H^32 of both on a 64-byte boundary.
constexpr size_t kTablePowers = kNumPowers + 1;
constexpr size_t kPowOff = 48;
constexpr size_t kKarOff = kPowOff + 640;
// Bulk-loop Karatsuba terms for two power vectors packed per lane: pair i lane l holds
// kar(h[2i] lane l) in its low qword and kar(h[2i+1] lane l) in its high qword.
constexpr size_t kPairOff = kKarOff + 592;
static_assert((kTablePowers + 3) * 16 <= 640 && kPairOff % 64 == 0, "htable layout");
static_assert(kPairOff + kNumPowers * 16 <= sizeof(GcmKey::htable), "htable too small");

// Byte offset of H^i within either array.
constexpr size_t slot(size_t i) { return (kTablePowers - i) * 16; }

// ---- vector helpers -------------------------------------------------------------------------

WS_INLINE __m512i bcast(__m128i x) { return _mm512_broadcast_i32x4(x); }
WS_INLINE __m512i xor3(__m512i a, __m512i b, __m512i c) {
  return _mm512_ternarylogic_epi32(a, b, c, 0x96);
}
WS_INLINE __m512i swap64(__m512i a) { return _mm512_shuffle_epi32(a, _MM_PERM_BADC); }
WS_INLINE __m512i loadu(const uint8_t* p) { return _mm512_loadu_si512(p); }
// Makes a value loaded from caller memory opaque (gcm.h, "read once"): the compiler must keep
// this register, or spill it to our stack, and cannot load again from the caller's memory
// for a second use, as it may for a plain load.
WS_INLINE __m512i opaque(__m512i v) {
  __asm__("" : "+v"(v));
  return v;
}
WS_INLINE void storeu(uint8_t* p, __m512i v) { _mm512_storeu_si512(p, v); }
template <int I>
WS_INLINE __m512i clmul(__m512i a, __m512i b) { return _mm512_clmulepi64_epi128(a, b, I); }

// Mask of the first n bytes of a 64-byte vector (n is a public length, never secret).
WS_INLINE __mmask64 byte_mask(size_t n) {
  return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
}

WS_INLINE __m128i bswap_mask128() {
  return _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
// x^63 + x^62 + x^57 in the high qword (clmul selector 0x10 picks it).
WS_INLINE __m128i gfpoly128() {
  return _mm_set_epi64x(static_cast<long long>(0xc200000000000000ull), 0);
}

// ---- GHASH ----------------------------------------------------------------------------------

// Unreduced sum of products: lo, hi and Karatsuba's middle term before the lo ^ hi correction.
struct Acc {
  __m512i lo, mi, hi;
};

WS_INLINE Acc acc_zero() {
  const __m512i z = _mm512_setzero_si512();
  return {z, z, z};
}

// Accumulates four products x_i * h_i (one per 128-bit lane); hk = h_lo ^ h_hi in both halves.
WS_INLINE void mul4_acc(Acc& a, __m512i x, __m512i h, __m512i hk) {
  a.lo = _mm512_xor_si512(a.lo, clmul<0x00>(x, h));
  a.mi = _mm512_xor_si512(a.mi, clmul<0x00>(_mm512_xor_si512(x, swap64(x)), hk));
  a.hi = _mm512_xor_si512(a.hi, clmul<0x11>(x, h));
}

// Eight products from two vectors, in two halves the main loop interleaves separately. One
// unpack pair yields both vectors' x_lo ^ x_hi, and ternary XORs accumulate two products at
// once: fewer non-clmul ops per block than mul4_acc.
WS_INLINE void mul8_mid_acc(Acc& a, __m512i x0, __m512i x1, __m512i kp) {
  const __m512i t = _mm512_xor_si512(_mm512_unpacklo_epi64(x0, x1), _mm512_unpackhi_epi64(x0, x1));
  a.mi = xor3(a.mi, clmul<0x00>(t, kp), clmul<0x11>(t, kp));
}
WS_INLINE void mul8_lohi_acc(Acc& a, __m512i x0, __m512i x1, __m512i h0, __m512i h1) {
  a.lo = xor3(a.lo, clmul<0x00>(x0, h0), clmul<0x00>(x1, h1));
  a.hi = xor3(a.hi, clmul<0x11>(x0, h0), clmul<0x11>(x1, h1));
}

// Montgomery reduction of each lane, then the XOR of the four lanes, in lane 0 (others zero).
// lo*x^0 + mi*x^64 + hi*x^128: adding lo_lo * G cancels the low 64 bits, leaving
// (mi + swap(lo) + lo_lo*(x^63+x^62+x^57)) * x^64; once more for mi.
WS_INLINE __m512i reduce(const Acc& a, __m512i poly) {
  __m512i mi = xor3(a.mi, a.lo, a.hi);
  mi = xor3(mi, swap64(a.lo), clmul<0x10>(a.lo, poly));
  const __m512i r = xor3(a.hi, swap64(mi), clmul<0x10>(mi, poly));
  const __m256i r2 = _mm256_xor_si256(_mm512_castsi512_si256(r), _mm512_extracti64x4_epi64(r, 1));
  return _mm512_zextsi128_si512(
      _mm_xor_si128(_mm256_castsi256_si128(r2), _mm256_extracti128_si256(r2, 1)));
}

// One-block Montgomery product a*b*x^-128 (schoolbook; used for key powers and the tag).
WS_INLINE __m128i gf_mul(__m128i a, __m128i b) {
  const __m128i poly = gfpoly128();
  const __m128i lo = _mm_clmulepi64_si128(a, b, 0x00);
  const __m128i hi = _mm_clmulepi64_si128(a, b, 0x11);
  __m128i mi = _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10));
  const __m128i fold_lo = _mm_clmulepi64_si128(lo, poly, 0x10);
  mi = _mm_ternarylogic_epi32(mi, _mm_shuffle_epi32(lo, 0x4e), fold_lo, 0x96);
  const __m128i fold_mi = _mm_clmulepi64_si128(mi, poly, 0x10);
  return _mm_ternarylogic_epi32(hi, _mm_shuffle_epi32(mi, 0x4e), fold_mi, 0x96);
}

// The powers used by a bulk loop: h[0] = H^32..H^29, ..., h[7] = H^4..H^1.
struct Powers {
  __m512i h[kVecs], kp[kVecs / 2];
  explicit Powers(const uint8_t* ht) {
    const uint8_t* top = ht + kPowOff + slot(kNumPowers);
    for (int i = 0; i < kVecs; ++i) h[i] = _mm512_load_si512(top + 64 * i);
    for (int i = 0; i < kVecs / 2; ++i) kp[i] = _mm512_load_si512(ht + kPairOff + 64 * i);
  }
};

// Accumulates the products of reflected blocks g[2p], g[2p+1] of a group with their powers.
WS_INLINE void mid_acc(Acc& a, const __m512i g[kVecs], const Powers& hp, int p) {
  mul8_mid_acc(a, g[2 * p], g[2 * p + 1], hp.kp[p]);
}
WS_INLINE void lohi_acc(Acc& a, const __m512i g[kVecs], const Powers& hp, int p) {
  mul8_lohi_acc(a, g[2 * p], g[2 * p + 1], hp.h[2 * p], hp.h[2 * p + 1]);
}
// All 32 blocks of a group (g[0] lane 0 already holding the running GHASH) with H^32..H^1.
WS_INLINE void mul_group_acc(Acc& a, const __m512i g[kVecs], const Powers& hp) {
  for (int p = 0; p < kVecs / 2; ++p) mid_acc(a, g, hp, p), lohi_acc(a, g, hp, p);
}

// Accumulates four reflected blocks times the powers at pw, with their Karatsuba terms at kw
// (unaligned: a tail of nb blocks starts at H^nb).
WS_INLINE void mul_tail_acc(Acc& a, __m512i x, const uint8_t* pw, const uint8_t* kw) {
  mul4_acc(a, x, _mm512_loadu_si512(pw), _mm512_loadu_si512(kw));
}

// GHASH over n bytes (zero-padded to whole blocks), SP 800-38D 6.4. For the AAD and IV.
__m512i ghash_bytes(const uint8_t* ht, __m512i y, const uint8_t* p, size_t n) {
  const __m512i bsw = bcast(bswap_mask128());
  const __m512i poly = bcast(gfpoly128());
  if (n >= kGroupBytes) {
    const Powers hp(ht);
    for (; n >= kGroupBytes; p += kGroupBytes, n -= kGroupBytes) {
      __m512i g[kVecs];
      for (int j = 0; j < kVecs; ++j) g[j] = _mm512_shuffle_epi8(loadu(p + 64 * j), bsw);
      g[0] = _mm512_xor_si512(g[0], y);
      Acc a = acc_zero();
      mul_group_acc(a, g, hp);
      y = reduce(a, poly);
    }
  }
  if (n == 0) return y;
  const size_t first = slot((n + 15) / 16);
  Acc a = acc_zero();
  for (size_t off = 0; off < n; off += 64) {
    __m512i x = _mm512_shuffle_epi8(_mm512_maskz_loadu_epi8(byte_mask(n - off), p + off), bsw);
    if (off == 0) x = _mm512_xor_si512(x, y);
    mul_tail_acc(a, x, ht + kPowOff + first + off, ht + kKarOff + first + off);
  }
  return reduce(a, poly);
}

// ---- AES ------------------------------------------------------------------------------------

// Round keys broadcast to all four lanes once per call.
template <int R>
struct Schedule {
  __m512i k[R + 1];
  explicit Schedule(const GcmKey* key) {
    for (int i = 0; i <= R; ++i) {
      k[i] = bcast(_mm_load_si128(reinterpret_cast<const __m128i*>(key->round_keys) + i));
    }
  }
};

template <int R>
WS_INLINE __m128i aes_block(const GcmKey* key, __m128i b) {
  const __m128i* rk = reinterpret_cast<const __m128i*>(key->round_keys);
  b = _mm_xor_si128(b, _mm_load_si128(rk));
#pragma GCC unroll 14
  for (int i = 1; i < R; ++i) b = _mm_aesenc_si128(b, _mm_load_si128(rk + i));
  return _mm_aesenclast_si128(b, _mm_load_si128(rk + R));
}

// Keystream XOR for one vector of counter blocks: vaesenclast(s, k_last ^ d) = E(s) ^ d.
template <int R>
WS_INLINE __m512i ctr_xor1(const Schedule<R>& ks, __m512i ctr_le, __m512i bsw, __m512i d) {
  __m512i s = _mm512_xor_si512(_mm512_shuffle_epi8(ctr_le, bsw), ks.k[0]);
#pragma GCC unroll 14
  for (int i = 1; i < R; ++i) s = _mm512_aesenc_epi128(s, ks.k[i]);
  return _mm512_aesenclast_epi128(s, _mm512_xor_si512(ks.k[R], d));
}

// Counters are kept byte-reflected ("little-endian"), where inc32 of SP 800-38D 6.2 is a
// 32-bit vpaddd on dword 0 of each lane: it wraps mod 2^32 and never carries into the IV.
WS_INLINE __m512i ctr_lanes(__m128i j0_le) {
  return _mm512_add_epi32(bcast(j0_le),
                          _mm512_set_epi32(0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1));
}
WS_INLINE __m512i ctr_step() { return bcast(_mm_set_epi32(0, 0, 0, 4)); }

// Round 0 for a group's kVecs counter vectors, advancing ctr past them. When the group's
// counters share all but their last byte (7 groups in 8), byte-swapping the first vector and
// adding to byte 15 directly replaces a vpshufb per vector; the branch is on the public
// counter only.
WS_INLINE void group_counters(__m512i& ctr, __m512i k0, __m512i bsw, __m512i s[kVecs]) {
  const uint32_t first = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm512_castsi512_si128(ctr)));
  if ((first & 0xff) <= 256 - 4 * kVecs) {
    const __m512i step_be = bcast(_mm_set_epi32(4 << 24, 0, 0, 0));  // +4 in byte 15
    __m512i be = _mm512_shuffle_epi8(ctr, bsw);
    for (int j = 0; j < kVecs; ++j) {
      s[j] = _mm512_xor_si512(be, k0);
      be = _mm512_add_epi32(be, step_be);
    }
    ctr = _mm512_add_epi32(ctr, bcast(_mm_set_epi32(0, 0, 0, 4 * kVecs)));
  } else {
    for (int j = 0; j < kVecs; ++j) {
      s[j] = _mm512_xor_si512(_mm512_shuffle_epi8(ctr, bsw), k0);
      ctr = _mm512_add_epi32(ctr, ctr_step());
    }
  }
}

// One group of CTR alone, no GHASH: in XOR keystream into out, the ciphertext vectors also
// left in c (sealing hashes them during the next group).
template <int R>
WS_INLINE void plain_group(const Schedule<R>& ks, __m512i& ctr, __m512i bsw, const uint8_t* in,
                           uint8_t* out, __m512i c[kVecs]) {
  __m512i s[kVecs];
  group_counters(ctr, ks.k[0], bsw, s);
#pragma GCC unroll 14
  for (int r = 1; r < R; ++r) {
    for (int j = 0; j < kVecs; ++j) s[j] = _mm512_aesenc_epi128(s[j], ks.k[r]);
  }
  for (int j = 0; j < kVecs; ++j) {
    c[j] = _mm512_aesenclast_epi128(s[j], _mm512_xor_si512(ks.k[R], loadu(in + 64 * j)));
    storeu(out + 64 * j, c[j]);
  }
}

// One group of CTR from in to out while GHASHing a group of ciphertext into y; returns the
// new GHASH state. Sealing hashes the previous group's ciphertext, passed in c, and leaves
// this group's in c. Opening hashes the ciphertext it loads here: each input vector is read
// from memory exactly once, so the bytes authenticated are the bytes decrypted even if
// another thread writes the (shared) input meanwhile, and out == in is safe.
template <int R, bool kEnc>
WS_INLINE __m512i stitched_group(const Schedule<R>& ks, const Powers& hp, __m512i& ctr,
                                 __m512i c[kVecs], __m512i y, const uint8_t* in, uint8_t* out) {
  const __m512i bsw = bcast(bswap_mask128());
  const __m512i poly = bcast(gfpoly128());
  __m512i s[kVecs], e[kVecs];
  const __m512i* x = kEnc ? c : e;
  for (int j = 0; j < kVecs; ++j) e[j] = opaque(loadu(in + 64 * j));
  group_counters(ctr, ks.k[0], bsw, s);
  // GHASH is cut into kSteps small steps spread over the first R/2 AES rounds, so the
  // scheduler window holds both AES and clmul work (all GHASH before or after the rounds
  // measured ~20% slower; this spread was the best of those tried on Zen 5). The pair
  // holding y goes last, giving the previous group's reduction the most time to finish.
  __m512i g[kVecs];
  Acc a = acc_zero();
  constexpr int kSteps = 2 + kVecs;
  auto ghash_step = [&](int k) __attribute__((always_inline)) {
    const int p = (k - 1) / 2 + 1;  // pairs 1 .. kVecs/2 - 1, then pair 0
    if (k == 0) {
      for (int j = 2; j < kVecs; ++j) g[j] = _mm512_shuffle_epi8(x[j], bsw);
    } else if (k < kVecs - 1 && k % 2 == 1) {
      mid_acc(a, g, hp, p);
    } else if (k < kVecs - 1) {
      lohi_acc(a, g, hp, p);
    } else if (k == kVecs - 1) {
      g[0] = _mm512_xor_si512(_mm512_shuffle_epi8(x[0], bsw), y);
      g[1] = _mm512_shuffle_epi8(x[1], bsw);
      mid_acc(a, g, hp, 0);
    } else if (k == kVecs) {
      lohi_acc(a, g, hp, 0);
    } else if (k == kVecs + 1) {
      y = reduce(a, poly);
    }
  };
#pragma GCC unroll 14
  for (int r = 1; r < R; ++r) {
    for (int j = 0; j < kVecs; ++j) s[j] = _mm512_aesenc_epi128(s[j], ks.k[r]);
#pragma GCC unroll 16
    for (int k = 0; k < kSteps; ++k) {
      if (1 + k * (R / 2) / kSteps == r) ghash_step(k);
    }
  }
  for (int j = 0; j < kVecs; ++j) {
    c[j] = _mm512_aesenclast_epi128(s[j], _mm512_xor_si512(ks.k[R], e[j]));
    storeu(out + 64 * j, c[j]);
  }
  return y;
}

// SP 800-38D 7.1 step 2, returned byte-reflected (counter in dword 0).
__m128i derive_j0(const GcmKey* key, const uint8_t* iv, size_t iv_len) {
  if (iv_len == kNonceBytes) {
    // IV || 0^31 || 1: reflected, the IV fills dwords 1..3 and the counter dword 0 is 1.
    const __m128i v = _mm_shuffle_epi8(_mm_maskz_loadu_epi8(0x0fff, iv), bswap_mask128());
    return _mm_or_si128(v, _mm_cvtsi32_si128(1));
  }
  // GHASH(IV || 0-pad || 0^64 || [len(IV)]_64); the state is already in reflected form.
  const uint8_t* ht = key->htable;
  __m128i y = _mm512_castsi512_si128(ghash_bytes(ht, _mm512_setzero_si512(), iv, iv_len));
  y = _mm_xor_si128(y, _mm_cvtsi64_si128(static_cast<long long>(uint64_t{iv_len} * 8)));
  return gf_mul(y, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ht + kPowOff + slot(1))));
}

// All whole groups of a message (len a nonzero multiple of kGroupBytes); returns GHASH so far.
// Kept out of line so its register pressure and stack frame do not tax short messages.
template <int R, bool kEnc>
__attribute__((noinline)) __m512i bulk(const GcmKey* key, __m512i ctr, __m512i y,
                                       const uint8_t* in, uint8_t* out, size_t len) {
  const Schedule<R> ks(key);
  const Powers hp(key->htable);
  const __m512i bsw = bcast(bswap_mask128());
  __m512i c[kVecs];
  if (kEnc) {
    // Seal: the first group has no ciphertext to hash yet; later groups hash the previous.
    plain_group<R>(ks, ctr, bsw, in, out, c);
    for (size_t pos = kGroupBytes; pos < len; pos += kGroupBytes) {
      y = stitched_group<R, true>(ks, hp, ctr, c, y, in + pos, out + pos);
    }
    for (int j = 0; j < kVecs; ++j) c[j] = _mm512_shuffle_epi8(c[j], bsw);
    c[0] = _mm512_xor_si512(c[0], y);
    Acc a = acc_zero();
    mul_group_acc(a, c, hp);
    y = reduce(a, bcast(gfpoly128()));
  } else {
    for (size_t pos = 0; pos < len; pos += kGroupBytes) {
      y = stitched_group<R, false>(ks, hp, ctr, c, y, in + pos, out + pos);
    }
  }
  return y;
}

template <int R, bool kEnc>
void crypt(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
           size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  const uint8_t* ht = key->htable;
  const __m128i bsw128 = bswap_mask128();
  const __m128i j0 = derive_j0(key, iv, iv_len);
  // E_K(J0) masks the tag (7.1 step 6); it depends on nothing else, so it overlaps the bulk.
  const __m128i ej0 = aes_block<R>(key, _mm_shuffle_epi8(j0, bsw128));
  __m512i y = _mm512_setzero_si512();
  if (aad_len) y = ghash_bytes(ht, y, aad, aad_len);

  const size_t whole = len - len % kGroupBytes;
  if (whole) y = bulk<R, kEnc>(key, ctr_lanes(j0), y, in, out, whole);
  in += whole, out += whole;
  const size_t n = len - whole;
  // Counters for the tail: inc32 by the whole blocks done (wrapping, as in the bulk loop).
  const int whole_blocks = static_cast<int>(static_cast<uint32_t>(whole / 16));
  __m512i ctr = _mm512_add_epi32(ctr_lanes(j0), bcast(_mm_cvtsi32_si128(whole_blocks)));
  // SP 800-38D 7.1 steps 5-6: the lengths block [len(A)]_64 || [len(C)]_64, reflected
  // (C in the low qword, A in the high one).
  const __m128i lens = _mm_set_epi64x(static_cast<long long>(uint64_t{aad_len} * 8),
                                      static_cast<long long>(uint64_t{len} * 8));
  const uint8_t* h1 = ht + kPowOff + slot(1);
  __m128i s;
  if (n) {
    const Schedule<R> ks(key);
    const __m512i bsw = bcast(bsw128);
    // Up to 32 blocks, one vector at a time, each times its own power (H^(nb+1)..H^2), and
    // the lengths block times H^1, all under one reduction.
    const size_t first = slot((n + 15) / 16 + 1);
    Acc a = acc_zero();
    mul_tail_acc(a, _mm512_zextsi128_si512(lens), h1, h1 + (kKarOff - kPowOff));
    for (size_t off = 0; off < n; off += 64) {
      const __mmask64 m = byte_mask(n - off);
      const __m512i d = opaque(_mm512_maskz_loadu_epi8(m, in + off));
      __m512i ct = ctr_xor1<R>(ks, ctr, bsw, d);
      ctr = _mm512_add_epi32(ctr, ctr_step());
      _mm512_mask_storeu_epi8(out + off, m, ct);
      // GHASH the ciphertext, zero past the end: sealing masks the output, opening hashes
      // the (already zero-masked) input it loaded before storing.
      ct = kEnc ? _mm512_maskz_mov_epi8(m, ct) : d;
      __m512i x = _mm512_shuffle_epi8(ct, bsw);
      if (off == 0) x = _mm512_xor_si512(x, y);
      mul_tail_acc(a, x, ht + kPowOff + first + off, ht + kKarOff + first + off);
    }
    s = _mm512_castsi512_si128(reduce(a, bcast(gfpoly128())));
  } else {
    s = gf_mul(_mm_xor_si128(_mm512_castsi512_si128(y), lens),
               _mm_loadu_si128(reinterpret_cast<const __m128i*>(h1)));
  }
  s = _mm_xor_si128(_mm_shuffle_epi8(s, bsw128), ej0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(tag), s);
}

template <int R>
void ctr_only(const GcmKey* key, const uint8_t iv[12], const uint8_t* in, uint8_t* out,
              size_t len) {
  const Schedule<R> ks(key);
  const __m512i bsw = bcast(bswap_mask128());
  const __m512i inc = ctr_step();
  __m512i ctr = ctr_lanes(derive_j0(key, iv, kNonceBytes));
  __m512i c[kVecs];
  for (; len >= kGroupBytes; in += kGroupBytes, out += kGroupBytes, len -= kGroupBytes) {
    plain_group<R>(ks, ctr, bsw, in, out, c);
  }
  for (size_t off = 0; off < len; off += 64) {
    const __mmask64 m = byte_mask(len - off);
    const __m512i d = _mm512_maskz_loadu_epi8(m, in + off);
    _mm512_mask_storeu_epi8(out + off, m, ctr_xor1<R>(ks, ctr, bsw, d));
    ctr = _mm512_add_epi32(ctr, inc);
  }
}

// ---- Kernel entry points --------------------------------------------------------------------

void init(GcmKey* key, const uint8_t* raw_key, size_t key_len) {
  aesni_expand_key(key, raw_key, key_len);
  const __m128i zero = _mm_setzero_si128();
  const __m128i h = _mm_shuffle_epi8(
      key->rounds == 14 ? aes_block<14>(key, zero) : aes_block<10>(key, zero), bswap_mask128());
  // H' = H * x mod x^128 + x^127 + x^126 + x^121 + 1: a 128-bit left shift by one (each qword
  // doubled, the carry between them added back), XOR the polynomial if bit 127 fell out.
  // Dwords of carries: all-ones where bit 127 (dwords 0, 3) or bit 63 (dword 2) was set.
  const __m128i carries = _mm_srai_epi32(_mm_shuffle_epi32(h, 0xd3), 31);
  const __m128i fold = _mm_set_epi64x(static_cast<long long>(0xc200000000000001ull), 1);
  __m128i p = _mm_xor_si128(_mm_add_epi64(h, h), _mm_and_si128(carries, fold));
  const __m128i h1 = p;
  uint8_t* ht = key->htable;
  memset(ht, 0, kPairOff);  // includes the zero blocks after each array
  for (size_t i = 1; i <= kTablePowers; ++i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(ht + kPowOff + slot(i)), p);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(ht + kKarOff + slot(i)),
                     _mm_xor_si128(p, _mm_shuffle_epi32(p, 0x4e)));
    p = gf_mul(p, h1);
  }
  for (int i = 0; i < kVecs / 2; ++i) {
    const __m512i k0 = _mm512_load_si512(ht + kKarOff + slot(kNumPowers) + 128 * i);
    const __m512i k1 = _mm512_load_si512(ht + kKarOff + slot(kNumPowers) + 128 * i + 64);
    _mm512_store_si512(ht + kPairOff + 64 * i, _mm512_unpacklo_epi64(k0, k1));
  }
}

void seal(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
          size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  if (key->rounds == 14) {
    crypt<14, true>(key, iv, iv_len, aad, aad_len, in, out, len, tag);
  } else {
    crypt<10, true>(key, iv, iv_len, aad, aad_len, in, out, len, tag);
  }
}

void open(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
          size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  if (key->rounds == 14) {
    crypt<14, false>(key, iv, iv_len, aad, aad_len, in, out, len, tag);
  } else {
    crypt<10, false>(key, iv, iv_len, aad, aad_len, in, out, len, tag);
  }
}

void ctr(const GcmKey* key, const uint8_t iv[12], const uint8_t* in, uint8_t* out, size_t len) {
  if (key->rounds == 14) {
    ctr_only<14>(key, iv, in, out, len);
  } else {
    ctr_only<10>(key, iv, in, out, len);
  }
}

}  // namespace

extern const Kernel kKernelVaes512 = {"vaes512", init, seal, open, ctr};

}  // namespace ws
