// AES-GCM (NIST SP 800-38D) with VAES and VPCLMULQDQ on 256-bit ymm vectors, AVX2 only (no
// AVX-512 encodings, so it runs where the OS or CPU offers no ZMM state).
//
// Bulk data runs 16 blocks (8 ymm) per iteration, the CTR rounds interleaved with GHASH of
// 16 ciphertext blocks: the previous group when sealing, the current one when opening.
// Each ymm holds two blocks, multiplied by a pair of H powers (H^16..H^1) with Karatsuba;
// the lanes fold together and reduce once per group. The representation and reduction are
// those of gcm_aesni.cc (byte-reflected POLYVAL, RFC 8452 appendix A), whose scalar pieces
// this file reuses for J0 and the final tag. Tails go through a stack buffer.
#include <immintrin.h>

#include <cstring>

#include "gcm_aesni.h"

namespace ws {

namespace {

// Kernel-private layout after the shared aesni prefix of GcmKey::htable.
struct V256Table {
  __m256i rk[15];   // round keys broadcast to both lanes
  __m128i pow[17];  // pow[i] = H'^(16 - i); pow[16] = 0, so n tail blocks read pow[16 - n..]
  __m128i kar[17];  // low half: pow[i].lo ^ pow[i].hi (Karatsuba)
};
static_assert(kAesniHtableBytes % 32 == 0, "");
static_assert(kAesniHtableBytes + sizeof(V256Table) <= sizeof(GcmKey::htable), "");

inline const V256Table* vtab(const GcmKey* key) {
  return reinterpret_cast<const V256Table*>(key->htable + kAesniHtableBytes);
}

inline __m256i bswap_mask() {
  return _mm256_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                         0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void storeu(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
// A load from caller memory (gcm.h, "read once"): the empty asm makes the value opaque, so
// the compiler keeps this register (or spills it to our stack) rather than loading again.
inline __m256i load_once(const void* p) {
  __m256i v = loadu(p);
  __asm__("" : "+x"(v));
  return v;
}
inline __m256i xor256(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
inline __m128i xor128(__m128i a, __m128i b) { return _mm_xor_si128(a, b); }

// ---- GHASH ----------------------------------------------------------------------------------

// Adds the unreduced products of the two blocks in d with the H powers at pow/kar (one per
// lane) to (lo, mi, hi); mi lacks Karatsuba's lo ^ hi correction until fold_reduce().
inline void mul_acc(__m256i d, const __m128i* pow, const __m128i* kar, __m256i& lo, __m256i& mi,
                    __m256i& hi) {
  const __m256i h = loadu(pow);
  lo = xor256(lo, _mm256_clmulepi64_epi128(d, h, 0x00));
  hi = xor256(hi, _mm256_clmulepi64_epi128(d, h, 0x11));
  mi = xor256(mi, _mm256_clmulepi64_epi128(xor256(d, _mm256_shuffle_epi32(d, 0x4e)), loadu(kar),
                                           0x00));
  // Keep the running sums in registers rather than letting GCC reassociate and spill them.
  __asm__("" : "+x"(lo), "+x"(mi), "+x"(hi));
}

inline __m128i fold(__m256i v) {
  return xor128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

// Sums the two lanes, then the reduction of gcm_aesni.cc: the modulus folded in 64 bits at a
// time by x^63 + x^62 + x^57, giving product * x^-128.
inline __m128i fold_reduce(__m256i lo256, __m256i mi256, __m256i hi256) {
  const __m128i lo = fold(lo256), hi = fold(hi256);
  const __m128i p = _mm_set_epi64x(0, static_cast<long long>(0xc200000000000000ull));
  __m128i mi = xor128(fold(mi256), xor128(lo, hi));
  mi = xor128(mi, xor128(_mm_shuffle_epi32(lo, 0x4e), _mm_clmulepi64_si128(lo, p, 0x00)));
  return xor128(hi, xor128(_mm_shuffle_epi32(mi, 0x4e), _mm_clmulepi64_si128(mi, p, 0x00)));
}

// acc = GHASH over the n (1..16) whole blocks at p, with H^n..H^1 and one reduction. An odd
// n pairs the last block with pow[16] = 0 and reads 16 bytes past the data: p must have
// room for ceil(n / 2) vectors.
inline __m128i ghash_blocks(const V256Table* t, __m128i acc, const uint8_t* p, size_t n) {
  const __m256i bs = bswap_mask();
  __m256i lo = _mm256_setzero_si256(), mi = lo, hi = lo;
  const size_t base = 16 - n;
  for (size_t v = 0; v < (n + 1) / 2; ++v) {
    __m256i d = _mm256_shuffle_epi8(loadu(p + 32 * v), bs);
    if (v == 0) d = xor256(d, _mm256_zextsi128_si256(acc));
    mul_acc(d, t->pow + base + 2 * v, t->kar + base + 2 * v, lo, mi, hi);
  }
  return fold_reduce(lo, mi, hi);
}

__m128i ghash_update(const V256Table* t, __m128i acc, const uint8_t* p, size_t len) {
  for (; len >= 256; p += 256, len -= 256) acc = ghash_blocks(t, acc, p, 16);
  if (len != 0) {
    alignas(32) uint8_t buf[256] = {};
    memcpy(buf, p, len);
    acc = ghash_blocks(t, acc, buf, (len + 15) / 16);
    secure_wipe(buf, sizeof buf);
  }
  return acc;
}

// ---- CTR with stitched GHASH ----------------------------------------------------------------

// The counters of a group: lane 0 of vector v counts ctr + 2v, lane 1 ctr + 2v + 1. They sit
// in the low 32-bit lane of byte-reversed blocks, so additions wrap mod 2^32 as inc32 must.
inline __m256i ctr_vec(__m256i ctr2, int v, __m256i bs) {
  const __m256i step = _mm256_set_epi32(0, 0, 0, 2 * v, 0, 0, 0, 2 * v);
  return _mm256_shuffle_epi8(_mm256_add_epi32(ctr2, step), bs);
}

template <int R>
inline __m256i aes_vec(const V256Table* t, __m256i b) {
  b = xor256(b, t->rk[0]);
#pragma GCC unroll 14
  for (int r = 1; r < R; ++r) b = _mm256_aesenc_epi128(b, t->rk[r]);
  return _mm256_aesenclast_epi128(b, t->rk[R]);
}

// What a CTR group hashes besides encrypting: nothing (plain CTR), the 16 blocks at
// hash_src (sealing: the previous group's ciphertext, kept in our own stack buffer), or its
// own input (opening).
enum class Hash { kNone, kOther, kInput };

// One 16-block group: keystream for the counters in ctr2 XORed with in into out, the result
// also written to copy when it is not null; GHASH steps run between the rounds. Each input
// vector is loaded once: opening hashes and decrypts that one register, so the bytes
// authenticated are the bytes decrypted even if another thread writes in meanwhile.
// hash_src is read before copy is written, so hash_src == copy works, and in == out.
template <int R, Hash kHash>
__attribute__((always_inline)) inline void ctr_group(const V256Table* t, __m256i ctr2,
                                                     const uint8_t* in, uint8_t* out,
                                                     const uint8_t* hash_src, uint8_t* copy,
                                                     __m128i& acc) {
  const __m256i bs = bswap_mask();
  __m256i b[8];
  // While the counter's low byte cannot carry within the group (15 groups in 16), add to
  // the big-endian blocks directly: one byte swap per group instead of one per vector.
  if ((_mm256_cvtsi256_si32(ctr2) & 0xff) <= 0xf0) {
    const __m256i base = _mm256_shuffle_epi8(ctr2, bs);
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) {
      const __m256i step = _mm256_set_epi32(2 * v << 24, 0, 0, 0, 2 * v << 24, 0, 0, 0);
      b[v] = xor256(_mm256_add_epi32(base, step), t->rk[0]);
    }
  } else {
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) b[v] = xor256(ctr_vec(ctr2, v, bs), t->rk[0]);
  }
  // AddRoundKey of the last round is an XOR, so the data joins the round key there.
  __m256i last[8];
  __m256i lo = _mm256_setzero_si256(), mi = lo, hi = lo;
  // GHASH steps per AES round: two fit AES-128's shorter schedule best, one AES-256's
  // (measured on Zen 5). Vector 0 takes the previous group's GHASH result, so it goes last.
  constexpr int kPerRound = R == 10 ? 2 : 1;
#pragma GCC unroll 14
  for (int r = 1; r < R; ++r) {
    const __m256i k = t->rk[r];
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) b[v] = _mm256_aesenc_epi128(b[v], k);
    if (kHash != Hash::kNone && r <= 8 / kPerRound) {
#pragma GCC unroll 2
      for (int q = 0; q < kPerRound; ++q) {
        const int v = ((r - 1) * kPerRound + q + 1) & 7;
        __m256i x;
        if (kHash == Hash::kInput) {
          x = load_once(in + 32 * v);
          last[v] = xor256(t->rk[R], x);
        } else {
          x = loadu(hash_src + 32 * v);
        }
        __m256i d = _mm256_shuffle_epi8(x, bs);
        if (v == 0) d = xor256(d, _mm256_zextsi128_si256(acc));
        mul_acc(d, t->pow + 2 * v, t->kar + 2 * v, lo, mi, hi);
      }
    }
  }
  if (kHash != Hash::kNone) acc = fold_reduce(lo, mi, hi);
  if (kHash != Hash::kInput) {
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) last[v] = xor256(t->rk[R], load_once(in + 32 * v));
  }
#pragma GCC unroll 8
  for (int v = 0; v < 8; ++v) {
    const __m256i c = _mm256_aesenclast_epi128(b[v], last[v]);
    storeu(out + 32 * v, c);
    if (copy) storeu(copy + 32 * v, c);
  }
}

// The final 1..255 bytes through a stack buffer, with GHASH of their zero-padded ciphertext.
template <int R, bool kEnc, bool kHash>
__m128i crypt_tail(const V256Table* t, __m256i ctr2, __m128i acc, const uint8_t* in,
                   uint8_t* out, size_t len) {
  if (len == 0 || len >= 256) __builtin_unreachable();  // bounds for -Wstringop-overflow
  const __m256i bs = bswap_mask();
  const size_t n = (len + 15) / 16;
  alignas(32) uint8_t buf[256] = {};
  memcpy(buf, in, len);
  if (kHash && !kEnc) acc = ghash_blocks(t, acc, buf, n);
  for (size_t v = 0; v < (n + 1) / 2; ++v) {
    const __m256i ks = aes_vec<R>(t, ctr_vec(ctr2, static_cast<int>(v), bs));
    storeu(buf + 32 * v, xor256(loadu(buf + 32 * v), ks));
  }
  memcpy(out, buf, len);
  if (kHash && kEnc) {
    memset(buf + len, 0, sizeof buf - len);
    acc = ghash_blocks(t, acc, buf, n);
  }
  secure_wipe(buf, sizeof buf);
  return acc;
}

template <int R, bool kEnc>
__m128i crypt(const V256Table* t, __m256i ctr2, __m128i acc, const uint8_t* in, uint8_t* out,
              size_t len) {
  const __m256i sixteen = _mm256_set_epi32(0, 0, 0, 16, 0, 0, 0, 16);
  size_t pos = 0;
  if (kEnc) {
    // Sealing hashes ciphertext, so each group's GHASH runs during the next group's rounds.
    // It hashes the copy in ct, never out: another thread may have changed out since.
    if (len >= 256) {
      alignas(32) uint8_t ct[256];
      ctr_group<R, Hash::kNone>(t, ctr2, in, out, nullptr, ct, acc);
      ctr2 = _mm256_add_epi32(ctr2, sixteen);
      for (pos = 256; len - pos >= 256; pos += 256) {
        ctr_group<R, Hash::kOther>(t, ctr2, in + pos, out + pos, ct, ct, acc);
        ctr2 = _mm256_add_epi32(ctr2, sixteen);
      }
      acc = ghash_blocks(t, acc, ct, 16);
    }
  } else {
    for (; len - pos >= 256; pos += 256) {
      ctr_group<R, Hash::kInput>(t, ctr2, in + pos, out + pos, nullptr, nullptr, acc);
      ctr2 = _mm256_add_epi32(ctr2, sixteen);
    }
  }
  if (pos < len) acc = crypt_tail<R, kEnc, true>(t, ctr2, acc, in + pos, out + pos, len - pos);
  return acc;
}

// Byte-reversed counter block for block 0 in lane 0 and block 1 in lane 1.
inline __m256i ctr_pair(const uint8_t block[16]) {
  const __m128i le = _mm_shuffle_epi8(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(block)),
      _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  return _mm256_add_epi32(_mm256_broadcastsi128_si256(le),
                          _mm256_set_epi32(0, 0, 0, 1, 0, 0, 0, 0));
}

template <bool kEnc>
void seal_or_open(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
                  size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  alignas(16) uint8_t j0[16];
  aesni_j0(key, iv, iv_len, j0);
  const V256Table* t = vtab(key);
  __m128i acc = ghash_update(t, _mm_setzero_si128(), aad, aad_len);
  // SP 800-38D 7.1 step 3: data starts at inc32(J0).
  const __m256i ctr2 = _mm256_add_epi32(ctr_pair(j0), _mm256_set_epi32(0, 0, 0, 1, 0, 0, 0, 1));
  if (key->rounds == 10)
    acc = crypt<10, kEnc>(t, ctr2, acc, in, out, len);
  else
    acc = crypt<14, kEnc>(t, ctr2, acc, in, out, len);
  // crypt takes a __m256i argument, so GCC leaves its upper halves dirty on return (it assumes
  // the caller owns that state). Legacy-SSE code run with dirty upper state (aesni_finish_tag
  // here, the aesni kernel, libc, V8) pays a merge on every instruction: measured, the aesni
  // kernel ran at half speed after any vaes256 call. Clean it before leaving AVX code.
  _mm256_zeroupper();
  alignas(16) uint8_t state[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(state), acc);
  aesni_finish_tag(key, state, j0, aad_len, len, tag);
}

void init(GcmKey* key, const uint8_t* raw_key, size_t key_len) {
  aesni_expand_key(key, raw_key, key_len);
  aesni_init_htable(key);
  V256Table* t = reinterpret_cast<V256Table*>(key->htable + kAesniHtableBytes);
  const __m128i* rk = reinterpret_cast<const __m128i*>(key->round_keys);
  for (uint32_t r = 0; r <= key->rounds; ++r) t->rk[r] = _mm256_broadcastsi128_si256(rk[r]);
  // H'^8..H'^1 come from the shared prefix (entry i is H'^(8 - i)); H'^16..H'^9 are H'^8
  // times those.
  const __m128i* pow8 = reinterpret_cast<const __m128i*>(key->htable);
  const __m128i* kar8 = pow8 + 8;
  for (int i = 0; i < 8; ++i) t->pow[8 + i] = pow8[i];
  for (int i = 0; i < 8; ++i) {
    const __m128i a = pow8[0], b = pow8[i];
    __m128i lo = _mm_clmulepi64_si128(a, b, 0x00), hi = _mm_clmulepi64_si128(a, b, 0x11);
    __m128i mi = _mm_clmulepi64_si128(kar8[0], xor128(b, _mm_shuffle_epi32(b, 0x4e)), 0x00);
    t->pow[i] = fold_reduce(_mm256_zextsi128_si256(lo), _mm256_zextsi128_si256(mi),
                            _mm256_zextsi128_si256(hi));
  }
  t->pow[16] = _mm_setzero_si128();
  for (int i = 0; i < 17; ++i) t->kar[i] = xor128(t->pow[i], _mm_shuffle_epi32(t->pow[i], 0x4e));
}

void seal(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
          size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  seal_or_open<true>(key, iv, iv_len, aad, aad_len, in, out, len, tag);
}

void open(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
          size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  seal_or_open<false>(key, iv, iv_len, aad, aad_len, in, out, len, tag);
}

template <int R>
void ctr_only(const V256Table* t, const uint8_t iv[12], const uint8_t* in, uint8_t* out,
              size_t len) {
  alignas(16) uint8_t j[16] = {};
  memcpy(j, iv, 12);
  j[15] = 2;
  __m256i ctr2 = ctr_pair(j);
  __m128i unused = _mm_setzero_si128();
  size_t pos = 0;
  for (; len - pos >= 256; pos += 256) {
    ctr_group<R, Hash::kNone>(t, ctr2, in + pos, out + pos, nullptr, nullptr, unused);
    ctr2 = _mm256_add_epi32(ctr2, _mm256_set_epi32(0, 0, 0, 16, 0, 0, 0, 16));
  }
  if (pos < len) crypt_tail<R, true, false>(t, ctr2, unused, in + pos, out + pos, len - pos);
}

void ctr(const GcmKey* key, const uint8_t iv[12], const uint8_t* in, uint8_t* out, size_t len) {
  if (key->rounds == 10)
    ctr_only<10>(vtab(key), iv, in, out, len);
  else
    ctr_only<14>(vtab(key), iv, in, out, len);
  _mm256_zeroupper();  // as in seal_or_open: leave no dirty upper state to SSE code
}

}  // namespace

extern const Kernel kKernelVaes256 = {"vaes256", init, seal, open, ctr};

}  // namespace ws
