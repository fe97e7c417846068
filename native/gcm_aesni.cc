// AES-GCM (NIST SP 800-38D) with AES-NI and PCLMULQDQ on 128-bit vectors.
//
// Bulk data runs 8 blocks per iteration: the CTR rounds of one group are interleaved with
// GHASH of 8 ciphertext blocks (the previous group when sealing, the current one when
// opening), multiplied by H^8..H^1 with Karatsuba and reduced once per group. GHASH works
// byte-reflected, as POLYVAL (RFC 8452 appendix A), so the reduction is two carry-less
// multiplications by x^63 + x^62 + x^57 (the 0xc2 constant) and no bit shifts. Nothing
// branches on or indexes by secret data.
#include "gcm_aesni.h"

#include <immintrin.h>

#include <cstring>

namespace ws {

namespace {

inline __m128i bswap_mask() {
  return _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
inline __m128i load(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
// A load from caller memory (gcm.h, "read once"). The empty asm makes the value opaque, so
// every use is of this one register, or of a spill to our own stack: the compiler cannot
// drop the register and load again from p, as it may for a plain load with two uses.
inline __m128i load_once(const uint8_t* p) {
  __m128i v = load(p);
  __asm__("" : "+x"(v));
  return v;
}
inline void store(uint8_t* p, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
inline __m128i clmul00(__m128i a, __m128i b) { return _mm_clmulepi64_si128(a, b, 0x00); }
inline __m128i clmul11(__m128i a, __m128i b) { return _mm_clmulepi64_si128(a, b, 0x11); }
inline __m128i swap64(__m128i a) { return _mm_shuffle_epi32(a, 0x4e); }

// ---- key schedule (FIPS-197 5.2) -----------------------------------------------------------

// One AES-128 round key from the previous one and AESKEYGENASSIST's output
// (SubWord(RotWord(w3)) ^ Rcon in word 3).
inline __m128i expand_step(__m128i k, __m128i assist) {
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, assist);
}

// ---- AES ------------------------------------------------------------------------------------

template <int R>
inline __m128i aes_block(const __m128i* rk, __m128i b) {
  b = _mm_xor_si128(b, rk[0]);
#pragma GCC unroll 14
  for (int r = 1; r < R; ++r) b = _mm_aesenc_si128(b, rk[r]);
  return _mm_aesenclast_si128(b, rk[R]);
}

inline __m128i aes_any(const GcmKey* key, __m128i b) {
  const __m128i* rk = reinterpret_cast<const __m128i*>(key->round_keys);
  return key->rounds == 10 ? aes_block<10>(rk, b) : aes_block<14>(rk, b);
}

// ---- GHASH ----------------------------------------------------------------------------------

struct HTable {
  __m128i pow[8];  // pow[i] = H'^(8 - i)
  __m128i kar[8];  // low half: pow[i].lo ^ pow[i].hi
};
static_assert(sizeof(HTable) == kAesniHtableBytes, "layout shared with vaes256");

inline const HTable* htab(const GcmKey* key) {
  return reinterpret_cast<const HTable*>(key->htable);
}

// x^63 + x^62 + x^57: the low 128 bits of the POLYVAL modulus x^128 + x^127 + x^126 +
// x^121 + 1, divided by x^64.
inline __m128i gfpoly() { return _mm_set_epi64x(0, static_cast<long long>(0xc200000000000000ull)); }

// Accumulates the unreduced product x * h into (lo, mi, hi); mi is Karatsuba's middle
// product before the lo ^ hi correction, which reduce() applies once per group.
inline void mul_acc(__m128i x, __m128i h, __m128i hk, __m128i& lo, __m128i& mi, __m128i& hi) {
  lo = _mm_xor_si128(lo, clmul00(x, h));
  hi = _mm_xor_si128(hi, clmul11(x, h));
  mi = _mm_xor_si128(mi, clmul00(_mm_xor_si128(x, swap64(x)), hk));
  // Pin the running sums in registers: left alone, GCC reassociates the XOR chains into a
  // tree and spills every partial product.
  __asm__("" : "+x"(lo), "+x"(mi), "+x"(hi));
}

// Montgomery-style reduction: multiples of the modulus clear the low 128 bits 64 at a time,
// which yields product * x^-128, the POLYVAL dot product.
inline __m128i reduce(__m128i lo, __m128i mi, __m128i hi) {
  const __m128i p = gfpoly();
  mi = _mm_xor_si128(mi, _mm_xor_si128(lo, hi));
  mi = _mm_xor_si128(mi, _mm_xor_si128(swap64(lo), clmul00(lo, p)));
  return _mm_xor_si128(hi, _mm_xor_si128(swap64(mi), clmul00(mi, p)));
}

inline __m128i gf_mul(__m128i a, __m128i h, __m128i hk) {
  __m128i lo = _mm_setzero_si128(), mi = lo, hi = lo;
  mul_acc(a, h, hk, lo, mi, hi);
  return reduce(lo, mi, hi);
}

// acc = GHASH over the n (1..8) whole blocks at p, with H'^n..H'^1 and one reduction.
inline __m128i ghash_group(const HTable* t, __m128i acc, const uint8_t* p, size_t n) {
  const __m128i bs = bswap_mask();
  __m128i lo = _mm_setzero_si128(), mi = lo, hi = lo;
  const size_t base = 8 - n;
  for (size_t j = 0; j < n; ++j) {
    __m128i x = _mm_shuffle_epi8(load(p + 16 * j), bs);
    if (j == 0) x = _mm_xor_si128(x, acc);
    mul_acc(x, t->pow[base + j], t->kar[base + j], lo, mi, hi);
  }
  return reduce(lo, mi, hi);
}

// acc = GHASH over data zero-padded to a whole block.
__m128i ghash_update(const HTable* t, __m128i acc, const uint8_t* p, size_t len) {
  for (; len >= 128; p += 128, len -= 128) acc = ghash_group(t, acc, p, 8);
  if (len != 0) {
    alignas(16) uint8_t buf[128] = {};
    memcpy(buf, p, len);
    acc = ghash_group(t, acc, buf, (len + 15) / 16);
    secure_wipe(buf, sizeof buf);
  }
  return acc;
}

// ---- CTR with stitched GHASH ----------------------------------------------------------------

inline __m128i ctr_block(__m128i ctr_le, int i, __m128i bs) {
  return _mm_shuffle_epi8(_mm_add_epi32(ctr_le, _mm_set_epi32(0, 0, 0, i)), bs);
}

// What a CTR group hashes besides encrypting: nothing (plain CTR), the 8 blocks at
// hash_src (sealing: the previous group's ciphertext, kept in our own stack buffer), or its
// own input (opening).
enum class Hash { kNone, kOther, kInput };

// One 8-block CTR group on the keystream for counters ctr_le + 0..7, XORed with in into out,
// the result also written to copy when it is not null. GHASH steps run between the rounds.
// Each input block is loaded once: opening hashes and decrypts that one register, so the
// bytes authenticated are the bytes decrypted even if another thread writes in meanwhile.
// hash_src is read before copy is written, so hash_src == copy works, and in == out.
template <int R, Hash kHash>
__attribute__((always_inline)) inline void ctr_group(const GcmKey* key, __m128i ctr_le,
                                                     const uint8_t* in, uint8_t* out,
                                                     const uint8_t* hash_src, uint8_t* copy,
                                                     __m128i& acc) {
  const __m128i* rk = reinterpret_cast<const __m128i*>(key->round_keys);
  const HTable* t = htab(key);
  const __m128i bs = bswap_mask();
  __m128i b[8];
  // While the counter's low byte cannot carry within the group (31 groups in 32), add to
  // the big-endian block directly: one byte swap per group instead of one per block.
  if ((_mm_cvtsi128_si32(ctr_le) & 0xff) <= 0xf8) {
    const __m128i base = _mm_shuffle_epi8(ctr_le, bs);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      b[j] = _mm_xor_si128(_mm_add_epi32(base, _mm_set_epi32(j << 24, 0, 0, 0)), rk[0]);
  } else {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) b[j] = _mm_xor_si128(ctr_block(ctr_le, j, bs), rk[0]);
  }
  // The last round's AddRoundKey is an XOR, so folding the data into the round key
  // takes the data XOR off the critical path.
  __m128i last[8];
  __m128i lo = _mm_setzero_si128(), mi = lo, hi = lo;
#pragma GCC unroll 14
  for (int r = 1; r < R; ++r) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) b[j] = _mm_aesenc_si128(b[j], rk[r]);
    if (kHash != Hash::kNone && r <= 8) {
      // Block 0, which takes the previous group's GHASH result, goes last so the previous
      // reduction has the whole group to finish.
      const int j = r & 7;
      __m128i d;
      if (kHash == Hash::kInput) {
        d = load_once(in + 16 * j);
        last[j] = _mm_xor_si128(rk[R], d);
      } else {
        d = load(hash_src + 16 * j);
      }
      __m128i x = _mm_shuffle_epi8(d, bs);
      if (j == 0) x = _mm_xor_si128(x, acc);
      mul_acc(x, t->pow[j], t->kar[j], lo, mi, hi);
    }
  }
  if (kHash != Hash::kNone) acc = reduce(lo, mi, hi);
  if (kHash != Hash::kInput) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) last[j] = _mm_xor_si128(rk[R], load_once(in + 16 * j));
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    const __m128i c = _mm_aesenclast_si128(b[j], last[j]);
    store(out + 16 * j, c);
    if (copy) store(copy + 16 * j, c);
  }
}

// Encrypts or decrypts the final 1..127 bytes through a stack buffer and hashes their
// ciphertext, zero-padded.
template <int R, bool kEnc>
__m128i crypt_tail(const GcmKey* key, __m128i ctr_le, __m128i acc, const uint8_t* in,
                   uint8_t* out, size_t len) {
  const __m128i* rk = reinterpret_cast<const __m128i*>(key->round_keys);
  const __m128i bs = bswap_mask();
  if (len == 0 || len >= 128) __builtin_unreachable();  // bounds for -Wstringop-overflow
  const size_t n = (len + 15) / 16;
  alignas(16) uint8_t buf[128] = {};
  memcpy(buf, in, len);
  if (!kEnc) acc = ghash_group(htab(key), acc, buf, n);
  for (size_t j = 0; j < n; ++j) {
    const __m128i ks = aes_block<R>(rk, ctr_block(ctr_le, static_cast<int>(j), bs));
    store(buf + 16 * j, _mm_xor_si128(load(buf + 16 * j), ks));
  }
  memcpy(out, buf, len);
  if (kEnc) {
    memset(buf + len, 0, 16 * n - len);
    acc = ghash_group(htab(key), acc, buf, n);
  }
  secure_wipe(buf, sizeof buf);
  return acc;
}

template <int R, bool kEnc>
__m128i crypt(const GcmKey* key, __m128i ctr_le, __m128i acc, const uint8_t* in, uint8_t* out,
              size_t len) {
  const __m128i eight = _mm_set_epi32(0, 0, 0, 8);
  size_t pos = 0;
  if (kEnc) {
    // Sealing hashes ciphertext, so each group's GHASH runs during the next group's rounds.
    // It hashes the copy in ct, never out: another thread may have changed out since.
    if (len >= 128) {
      alignas(16) uint8_t ct[128];
      ctr_group<R, Hash::kNone>(key, ctr_le, in, out, nullptr, ct, acc);
      ctr_le = _mm_add_epi32(ctr_le, eight);
      for (pos = 128; len - pos >= 128; pos += 128) {
        ctr_group<R, Hash::kOther>(key, ctr_le, in + pos, out + pos, ct, ct, acc);
        ctr_le = _mm_add_epi32(ctr_le, eight);
      }
      acc = ghash_group(htab(key), acc, ct, 8);
    }
  } else {
    for (; len - pos >= 128; pos += 128) {
      ctr_group<R, Hash::kInput>(key, ctr_le, in + pos, out + pos, nullptr, nullptr, acc);
      ctr_le = _mm_add_epi32(ctr_le, eight);
    }
  }
  if (pos < len) acc = crypt_tail<R, kEnc>(key, ctr_le, acc, in + pos, out + pos, len - pos);
  return acc;
}

template <bool kEnc>
void seal_or_open(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
                  size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  alignas(16) uint8_t j0[16];
  aesni_j0(key, iv, iv_len, j0);
  const HTable* t = htab(key);
  __m128i acc = ghash_update(t, _mm_setzero_si128(), aad, aad_len);
  // SP 800-38D 7.1 step 3: the first data block uses inc32(J0); the counter lives in the
  // low 32-bit lane of the byte-reversed block, so lane additions wrap mod 2^32 as inc32 must.
  const __m128i ctr_le = _mm_add_epi32(_mm_shuffle_epi8(load(j0), bswap_mask()),
                                       _mm_set_epi32(0, 0, 0, 1));
  if (key->rounds == 10)
    acc = crypt<10, kEnc>(key, ctr_le, acc, in, out, len);
  else
    acc = crypt<14, kEnc>(key, ctr_le, acc, in, out, len);
  alignas(16) uint8_t state[16];
  store(state, acc);
  aesni_finish_tag(key, state, j0, aad_len, len, tag);
}

void init(GcmKey* key, const uint8_t* raw_key, size_t key_len) {
  aesni_expand_key(key, raw_key, key_len);
  aesni_init_htable(key);
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
void ctr_only(const GcmKey* key, const uint8_t iv[12], const uint8_t* in, uint8_t* out,
              size_t len) {
  alignas(16) uint8_t j[16] = {};
  memcpy(j, iv, 12);
  j[15] = 2;
  __m128i ctr_le = _mm_shuffle_epi8(load(j), bswap_mask());
  __m128i unused = _mm_setzero_si128();
  size_t pos = 0;
  for (; len - pos >= 128; pos += 128) {
    ctr_group<R, Hash::kNone>(key, ctr_le, in + pos, out + pos, nullptr, nullptr, unused);
    ctr_le = _mm_add_epi32(ctr_le, _mm_set_epi32(0, 0, 0, 8));
  }
  if (pos < len) {
    const __m128i* rk = reinterpret_cast<const __m128i*>(key->round_keys);
    const size_t rem = len - pos;
    alignas(16) uint8_t buf[128] = {};
    memcpy(buf, in + pos, rem);
    for (size_t b = 0; b < (rem + 15) / 16; ++b) {
      const __m128i ks = aes_block<R>(rk, ctr_block(ctr_le, static_cast<int>(b), bswap_mask()));
      store(buf + 16 * b, _mm_xor_si128(load(buf + 16 * b), ks));
    }
    memcpy(out + pos, buf, rem);
    secure_wipe(buf, sizeof buf);
  }
}

void ctr(const GcmKey* key, const uint8_t iv[12], const uint8_t* in, uint8_t* out, size_t len) {
  if (key->rounds == 10)
    ctr_only<10>(key, iv, in, out, len);
  else
    ctr_only<14>(key, iv, in, out, len);
}

}  // namespace

void aesni_expand_key(GcmKey* key, const uint8_t* raw_key, size_t key_len) {
  __m128i* rk = reinterpret_cast<__m128i*>(key->round_keys);
  // AESKEYGENASSIST's immediate must be a constant, hence the unrolled macros.
#define WS_ROUND128(i, rcon)                                                              \
  a = expand_step(a, _mm_shuffle_epi32(_mm_aeskeygenassist_si128(a, rcon), 0xff)); \
  _mm_store_si128(rk + (i), a);
  if (key_len == 16) {
    __m128i a = load(raw_key);
    _mm_store_si128(rk, a);
    WS_ROUND128(1, 0x01) WS_ROUND128(2, 0x02) WS_ROUND128(3, 0x04) WS_ROUND128(4, 0x08)
    WS_ROUND128(5, 0x10) WS_ROUND128(6, 0x20) WS_ROUND128(7, 0x40) WS_ROUND128(8, 0x80)
    WS_ROUND128(9, 0x1b) WS_ROUND128(10, 0x36)
    key->rounds = 10;
    return;
  }
#undef WS_ROUND128
  // AES-256: even round keys take SubWord(RotWord(w)) ^ Rcon of the previous odd key (word 3
  // of the assist output); odd ones take SubWord(w) alone (word 2).
#define WS_ROUND256(i, rcon)                                                               \
  a = expand_step(a, _mm_shuffle_epi32(_mm_aeskeygenassist_si128(b, rcon), 0xff));  \
  _mm_store_si128(rk + (i), a);                                                     \
  if ((i) + 1 < 15) {                                                               \
    b = expand_step(b, _mm_shuffle_epi32(_mm_aeskeygenassist_si128(a, 0), 0xaa));   \
    _mm_store_si128(rk + (i) + 1, b);                                               \
  }
  __m128i a = load(raw_key);
  __m128i b = load(raw_key + 16);
  _mm_store_si128(rk, a);
  _mm_store_si128(rk + 1, b);
  WS_ROUND256(2, 0x01) WS_ROUND256(4, 0x02) WS_ROUND256(6, 0x04) WS_ROUND256(8, 0x08)
  WS_ROUND256(10, 0x10) WS_ROUND256(12, 0x20) WS_ROUND256(14, 0x40)
#undef WS_ROUND256
  key->rounds = 14;
}

void aesni_init_htable(GcmKey* key) {
  // RFC 8452 appendix A: H' = mulX_POLYVAL(ByteReverse(H)), H = AES_K(0^128).
  __m128i h = _mm_shuffle_epi8(aes_any(key, _mm_setzero_si128()), bswap_mask());
  const __m128i carry = _mm_srai_epi32(_mm_shuffle_epi32(h, 0xff), 31);  // all ones if bit 127
  h = _mm_or_si128(_mm_slli_epi64(h, 1), _mm_slli_si128(_mm_srli_epi64(h, 63), 8));
  h = _mm_xor_si128(h, _mm_and_si128(carry, _mm_set_epi64x(
                                                static_cast<long long>(0xc200000000000000ull), 1)));
  HTable* t = reinterpret_cast<HTable*>(key->htable);
  __m128i p = h;
  // The first pass stores H' and its Karatsuba half in entry 7, which later passes use.
  for (int i = 7; i >= 0; --i) {
    t->pow[i] = p;
    t->kar[i] = _mm_xor_si128(p, swap64(p));
    p = gf_mul(p, h, t->kar[7]);
  }
}

void aesni_j0(const GcmKey* key, const uint8_t* iv, size_t iv_len, uint8_t j0[16]) {
  if (iv_len == 12) {
    memcpy(j0, iv, 12);
    j0[12] = j0[13] = j0[14] = 0;
    j0[15] = 1;
    return;
  }
  // J0 = GHASH(IV || 0^(s+64) || [len(IV)]_64).
  const HTable* t = htab(key);
  __m128i acc = ghash_update(t, _mm_setzero_si128(), iv, iv_len);
  const __m128i lens = _mm_set_epi64x(0, static_cast<long long>(iv_len * 8));
  acc = gf_mul(_mm_xor_si128(acc, lens), t->pow[7], t->kar[7]);
  store(j0, _mm_shuffle_epi8(acc, bswap_mask()));
}

void aesni_finish_tag(const GcmKey* key, const uint8_t state[16], const uint8_t j0[16],
                      uint64_t aad_len, uint64_t len, uint8_t tag[16]) {
  const HTable* t = htab(key);
  // The length block [len(A)]_64 || [len(C)]_64, byte-reversed.
  const __m128i lens = _mm_set_epi64x(static_cast<long long>(aad_len * 8),
                                      static_cast<long long>(len * 8));
  const __m128i s = gf_mul(_mm_xor_si128(load(state), lens), t->pow[7], t->kar[7]);
  const __m128i ek = aes_any(key, load(j0));
  store(tag, _mm_xor_si128(_mm_shuffle_epi8(s, bswap_mask()), ek));
}

extern const Kernel kKernelAesni = {"aesni", init, seal, open, ctr};

}  // namespace ws
