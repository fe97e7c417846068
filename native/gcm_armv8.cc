// AES-GCM with the ARMv8 Cryptography Extensions (AESE/AESMC for AES, PMULL for GHASH).
// Compiled with -march=armv8-a+crypto (this file only); cpu.cc enables it where the kernel
// reports HWCAP_AES and HWCAP_PMULL.
//
// GHASH works on byte-reversed blocks: reversing all 16 bytes turns GCM's bit-reflected
// field element into a 128-bit integer whose top bit is the x^0 coefficient. A carry-less
// product of two such integers is the reversed 255-bit product; instead of shifting it left
// by one, H is stored pre-multiplied by z ("twisted", z*R(H) mod the reversed polynomial),
// and the 256-bit product is folded down with two PMULLs by 0xc200000000000000, a
// Montgomery-style reduction from the low end (the reversed polynomial is
// 1 + z^121 + z^126 + z^127 + z^128).
//
// Bulk: 8 blocks per iteration. Each group's GHASH uses H^8..H^1 with Karatsuba (three PMULLs
// per block, the (h0 ^ h1) halves precomputed), summed unreduced and reduced once. Open hashes
// the group it decrypts; seal hashes the previous group's ciphertext while this group's AES
// rounds run, so PMULL and AESE issue side by side.
//
// Invariant (issue 13): each input byte is read from caller memory exactly once per call.
// A loaded block stays in a register (laundered through an empty asm so the compiler cannot
// re-load it) and feeds both GHASH and the XOR; seal hashes the ciphertext it holds in
// registers, never what it stored to the output. Tails and partial blocks go through a
// private stack copy, which is wiped afterwards.
#include <arm_neon.h>

#include <cstring>

#include "gcm.h"

namespace ws {
namespace {

constexpr size_t kGroup = 8;
constexpr uint64_t kPoly = 0xc200000000000000ull;  // z^57 + z^62 + z^63

// Precomputed GHASH key, kept in GcmKey::htable: pow[i] = twisted H^(i+1), fold[i] = its two
// 64-bit halves XORed (the Karatsuba middle operand).
struct Htable {
  uint64x2_t pow[kGroup];
  uint64x2_t fold[kGroup];  // both lanes hold the same value
};
static_assert(sizeof(Htable) <= sizeof(GcmKey::htable), "htable too small");

const Htable& table(const GcmKey* key) { return *reinterpret_cast<const Htable*>(key->htable); }

// Makes v opaque to the optimizer: a value loaded from caller memory is then kept, never
// re-read from the caller's address.
inline uint8x16_t launder(uint8x16_t v) {
  __asm__("" : "+w"(v));
  return v;
}

inline uint8x16_t load_once(const uint8_t* p) { return launder(vld1q_u8(p)); }

// Block bytes <-> the 128-bit integer GHASH works on (full byte reversal).
inline uint64x2_t to_field(uint8x16_t b) {
  uint8x16_t r = vrev64q_u8(b);
  return vreinterpretq_u64_u8(vextq_u8(r, r, 8));
}
inline uint8x16_t from_field(uint64x2_t x) {
  uint8x16_t r = vrev64q_u8(vreinterpretq_u8_u64(x));
  return vextq_u8(r, r, 8);
}

inline uint64x2_t pmull_lo(uint64x2_t a, uint64x2_t b) {
  return vreinterpretq_u64_p128(vmull_p64(vgetq_lane_p64(vreinterpretq_p64_u64(a), 0),
                                          vgetq_lane_p64(vreinterpretq_p64_u64(b), 0)));
}
inline uint64x2_t pmull_hi(uint64x2_t a, uint64x2_t b) {
  return vreinterpretq_u64_p128(vmull_high_p64(vreinterpretq_p64_u64(a),
                                               vreinterpretq_p64_u64(b)));
}

// An unreduced 256-bit sum of products: hi * z^128 + mid * z^64 + lo, where mid still holds
// the Karatsuba (a0^a1)(b0^b1) terms until finish().
struct Acc {
  uint64x2_t lo, mid, hi;
};

inline Acc acc_zero() {
  uint64x2_t z = vdupq_n_u64(0);
  return {z, z, z};
}

// acc += a * (h, hfold): three PMULLs.
inline void mul_add(Acc& acc, uint64x2_t a, uint64x2_t h, uint64x2_t hfold) {
  uint64x2_t afold = veorq_u64(a, vextq_u64(a, a, 1));  // lane 0: a0 ^ a1
  acc.lo = veorq_u64(acc.lo, pmull_lo(a, h));
  acc.hi = veorq_u64(acc.hi, pmull_hi(a, h));
  acc.mid = veorq_u64(acc.mid, pmull_lo(afold, hfold));
}

// The Montgomery-style fold of the 256-bit value [q3 q2 q1 q0] (64-bit words) by z^-128 mod
// the reversed polynomial: T0 = q0, T1 = q1 ^ lo(T0*K), result = [q3 q2] ^ [T1 T0] ^
// hi(T0*K) ^ T1*K, with K = kPoly.
inline uint64x2_t reduce(const Acc& acc) {
  // Karatsuba: the true middle term is mid ^ lo ^ hi.
  uint64x2_t mid = veorq_u64(acc.mid, veorq_u64(acc.lo, acc.hi));
  uint64_t q0 = vgetq_lane_u64(acc.lo, 0);
  uint64_t q1 = vgetq_lane_u64(acc.lo, 1) ^ vgetq_lane_u64(mid, 0);
  uint64x2_t q23 = veorq_u64(acc.hi, vcombine_u64(vget_high_u64(mid), vcreate_u64(0)));
  uint64x2_t k = vdupq_n_u64(kPoly);
  uint64x2_t m0 = pmull_lo(vdupq_n_u64(q0), k);
  uint64_t t1 = q1 ^ vgetq_lane_u64(m0, 0);
  uint64x2_t m1 = pmull_lo(vdupq_n_u64(t1), k);
  // [T1 T0] ^ [0 hi(m0)]
  uint64x2_t t = vcombine_u64(vcreate_u64(q0 ^ vgetq_lane_u64(m0, 1)), vcreate_u64(t1));
  return veorq_u64(q23, veorq_u64(t, m1));
}

// x * H for one block (x already XORed with the data).
inline uint64x2_t mul_h(uint64x2_t x, const Htable& t) {
  Acc acc = acc_zero();
  mul_add(acc, x, t.pow[0], t.fold[0]);
  return reduce(acc);
}

// GHASH of 8 blocks held in registers: x = (x ^ c0) * H^8 + c1 * H^7 + ... + c7 * H.
inline uint64x2_t ghash8(uint64x2_t x, const uint8x16_t c[kGroup], const Htable& t) {
  Acc acc = acc_zero();
  for (size_t i = 0; i < kGroup; i++) {
    uint64x2_t a = to_field(c[i]);
    if (i == 0) a = veorq_u64(a, x);
    mul_add(acc, a, t.pow[kGroup - 1 - i], t.fold[kGroup - 1 - i]);
  }
  return reduce(acc);
}

// --- AES ----------------------------------------------------------------------------------

struct RoundKeys {
  uint8x16_t k[15];
  uint32_t rounds;
};

inline RoundKeys load_keys(const GcmKey* key) {
  RoundKeys r;
  r.rounds = key->rounds;
  for (uint32_t i = 0; i <= key->rounds; i++) r.k[i] = vld1q_u8(key->round_keys + 16 * i);
  return r;
}

inline uint8x16_t aes_block(const RoundKeys& rk, uint8x16_t s) {
  for (uint32_t i = 0; i + 1 < rk.rounds; i++) s = vaesmcq_u8(vaeseq_u8(s, rk.k[i]));
  s = vaeseq_u8(s, rk.k[rk.rounds - 1]);
  return veorq_u8(s, rk.k[rk.rounds]);
}

// Eight blocks through AES, round by round so the eight AESE/AESMC chains overlap.
inline void aes8(const RoundKeys& rk, uint8x16_t s[kGroup]) {
  for (uint32_t r = 0; r + 1 < rk.rounds; r++) {
    for (size_t i = 0; i < kGroup; i++) s[i] = vaesmcq_u8(vaeseq_u8(s[i], rk.k[r]));
  }
  for (size_t i = 0; i < kGroup; i++) {
    s[i] = veorq_u8(vaeseq_u8(s[i], rk.k[rk.rounds - 1]), rk.k[rk.rounds]);
  }
}

// Eight blocks through AES with the GHASH of eight other blocks interleaved: block i's three
// PMULLs are issued in round i, the reduction after the last round.
inline uint64x2_t aes8_ghash8(const RoundKeys& rk, uint8x16_t s[kGroup], uint64x2_t x,
                              const uint8x16_t c[kGroup], const Htable& t) {
  Acc acc = acc_zero();
  for (uint32_t r = 0; r + 1 < rk.rounds; r++) {
    for (size_t i = 0; i < kGroup; i++) s[i] = vaesmcq_u8(vaeseq_u8(s[i], rk.k[r]));
    if (r < kGroup) {
      uint64x2_t a = to_field(c[r]);
      if (r == 0) a = veorq_u64(a, x);
      mul_add(acc, a, t.pow[kGroup - 1 - r], t.fold[kGroup - 1 - r]);
    }
  }
  for (size_t i = 0; i < kGroup; i++) {
    s[i] = veorq_u8(vaeseq_u8(s[i], rk.k[rk.rounds - 1]), rk.k[rk.rounds]);
  }
  return reduce(acc);
}

// The counter block J0 with its low 32 bits replaced by the big-endian value c.
inline uint8x16_t counter_block(uint8x16_t j0, uint32_t c) {
  return vreinterpretq_u8_u32(
      vsetq_lane_u32(__builtin_bswap32(c), vreinterpretq_u32_u8(j0), 3));
}

inline uint32_t counter_of(uint8x16_t j0) {
  return __builtin_bswap32(vgetq_lane_u32(vreinterpretq_u32_u8(j0), 3));
}

// SubWord over one 32-bit word: the word in all four columns, so AESE's ShiftRows is a no-op
// and with a zero round key only SubBytes remains. Constant time, no tables.
uint32_t sub_word(uint32_t w) {
  uint8x16_t s = vaeseq_u8(vreinterpretq_u8_u32(vdupq_n_u32(w)), vdupq_n_u8(0));
  return vgetq_lane_u32(vreinterpretq_u32_u8(s), 0);
}

// FIPS-197 5.2 key expansion, words little-endian (byte 0 of a word in the low bits).
void expand_key(GcmKey* key, const uint8_t* raw, size_t key_len) {
  const uint32_t nk = static_cast<uint32_t>(key_len / 4);
  key->rounds = nk + 6;
  const uint32_t total = 4 * (key->rounds + 1);
  uint32_t w[60];
  std::memcpy(w, raw, key_len);
  uint8_t rcon = 1;
  for (uint32_t i = nk; i < total; i++) {
    uint32_t t = w[i - 1];
    if (i % nk == 0) {
      t = sub_word((t >> 8) | (t << 24)) ^ rcon;
      rcon = static_cast<uint8_t>((rcon << 1) ^ ((rcon >> 7) * 0x1b));
    } else if (nk == 8 && i % nk == 4) {
      t = sub_word(t);
    }
    w[i] = w[i - nk] ^ t;
  }
  std::memcpy(key->round_keys, w, 4 * total);
  secure_wipe(w, sizeof w);
}

// z * x mod the reversed polynomial: shift left one bit, fold the carry back in.
uint64x2_t twist(uint64x2_t x) {
  uint64_t lo = vgetq_lane_u64(x, 0), hi = vgetq_lane_u64(x, 1);
  uint64_t carry = hi >> 63;
  uint64_t mask = 0 - carry;
  hi = (hi << 1) | (lo >> 63);
  lo <<= 1;
  return vcombine_u64(vcreate_u64(lo ^ (mask & 1)), vcreate_u64(hi ^ (mask & kPoly)));
}

void init(GcmKey* key, const uint8_t* raw, size_t key_len) {
  expand_key(key, raw, key_len);
  RoundKeys rk = load_keys(key);
  Htable* t = reinterpret_cast<Htable*>(key->htable);
  uint64x2_t h = twist(to_field(aes_block(rk, vdupq_n_u8(0))));
  // Twisted powers: reduce(a * b) = z^-128 * a * b, so the product of two twisted values
  // is the twisted product.
  uint64x2_t p = h;
  for (size_t i = 0; i < kGroup; i++) {
    t->pow[i] = p;
    t->fold[i] = vdupq_n_u64(vgetq_lane_u64(p, 0) ^ vgetq_lane_u64(p, 1));
    Acc acc = acc_zero();
    mul_add(acc, p, h, vdupq_n_u64(vgetq_lane_u64(h, 0) ^ vgetq_lane_u64(h, 1)));
    p = reduce(acc);
  }
}

// GHASH over caller bytes (AAD or IV), each read once; a partial last block via a copy.
uint64x2_t ghash_bytes(uint64x2_t x, const uint8_t* p, size_t n, const Htable& t) {
  for (; n >= 16; p += 16, n -= 16) x = mul_h(veorq_u64(x, to_field(load_once(p))), t);
  if (n) {
    uint8_t last[16] = {};
    std::memcpy(last, p, n);
    x = mul_h(veorq_u64(x, to_field(vld1q_u8(last))), t);
  }
  return x;
}

uint64x2_t length_block(size_t aad_len, size_t len) {
  return vcombine_u64(vcreate_u64(uint64_t{len} * 8), vcreate_u64(uint64_t{aad_len} * 8));
}

// J0 per SP 800-38D 7.1 step 2.
uint8x16_t make_j0(const uint8_t* iv, size_t iv_len, const Htable& t) {
  if (iv_len == 12) {
    uint8_t b[16] = {};
    std::memcpy(b, iv, 12);
    b[15] = 1;
    return vld1q_u8(b);
  }
  uint64x2_t x = ghash_bytes(vdupq_n_u64(0), iv, iv_len, t);
  x = mul_h(veorq_u64(x, length_block(0, iv_len)), t);
  return from_field(x);
}

// The last len % 128 bytes (fewer than 8 blocks plus a partial one), through a private copy:
// in is read once into it, encrypted or decrypted there, hashed as ciphertext, copied out.
uint64x2_t tail(const RoundKeys& rk, const Htable& t, uint8x16_t j0, uint32_t ctr,
                uint64x2_t x, const uint8_t* in, uint8_t* out, size_t n, bool seal) {
  alignas(16) uint8_t buf[kGroup * 16];
  std::memcpy(buf, in, n);
  std::memset(buf + n, 0, sizeof buf - n);
  for (size_t off = 0; off < n; off += 16) {
    uint8x16_t data = vld1q_u8(buf + off);
    uint8x16_t ks = aes_block(rk, counter_block(j0, ctr++));
    uint8x16_t res = veorq_u8(data, ks);
    size_t m = n - off < 16 ? n - off : 16;
    vst1q_u8(buf + off, res);
    // The hashed block is the ciphertext, zero past the message end.
    std::memset(buf + off + m, 0, 16 - m);
    uint8x16_t c = seal ? vld1q_u8(buf + off) : data;
    x = mul_h(veorq_u64(x, to_field(c)), t);
  }
  std::memcpy(out, buf, n);
  secure_wipe(buf, sizeof buf);
  return x;
}

void finish(const RoundKeys& rk, const Htable& t, uint8x16_t j0, uint64x2_t x, size_t aad_len,
            size_t len, uint8_t tag[16]) {
  x = mul_h(veorq_u64(x, length_block(aad_len, len)), t);
  vst1q_u8(tag, veorq_u8(from_field(x), aes_block(rk, j0)));
}

void seal(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
          size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  const Htable& t = table(key);
  const RoundKeys rk = load_keys(key);
  const uint8x16_t j0 = make_j0(iv, iv_len, t);
  uint32_t ctr = counter_of(j0) + 1;
  uint64x2_t x = ghash_bytes(vdupq_n_u64(0), aad, aad_len, t);
  size_t done = 0;
  uint8x16_t prev[kGroup];  // the previous group's ciphertext, hashed during this group
  bool have_prev = false;
  for (; len - done >= kGroup * 16; done += kGroup * 16) {
    uint8x16_t s[kGroup];
    for (size_t i = 0; i < kGroup; i++) s[i] = counter_block(j0, ctr + static_cast<uint32_t>(i));
    ctr += kGroup;
    if (have_prev) {
      x = aes8_ghash8(rk, s, x, prev, t);
    } else {
      aes8(rk, s);
    }
    for (size_t i = 0; i < kGroup; i++) {
      prev[i] = veorq_u8(load_once(in + done + 16 * i), s[i]);
      vst1q_u8(out + done + 16 * i, prev[i]);
    }
    have_prev = true;
  }
  if (have_prev) x = ghash8(x, prev, t);
  if (len > done) x = tail(rk, t, j0, ctr, x, in + done, out + done, len - done, true);
  finish(rk, t, j0, x, aad_len, len, tag);
}

void open(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
          size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]) {
  const Htable& t = table(key);
  const RoundKeys rk = load_keys(key);
  const uint8x16_t j0 = make_j0(iv, iv_len, t);
  uint32_t ctr = counter_of(j0) + 1;
  uint64x2_t x = ghash_bytes(vdupq_n_u64(0), aad, aad_len, t);
  size_t done = 0;
  for (; len - done >= kGroup * 16; done += kGroup * 16) {
    uint8x16_t c[kGroup], s[kGroup];
    for (size_t i = 0; i < kGroup; i++) {
      c[i] = load_once(in + done + 16 * i);
      s[i] = counter_block(j0, ctr + static_cast<uint32_t>(i));
    }
    ctr += kGroup;
    x = aes8_ghash8(rk, s, x, c, t);
    for (size_t i = 0; i < kGroup; i++) vst1q_u8(out + done + 16 * i, veorq_u8(c[i], s[i]));
  }
  if (len > done) x = tail(rk, t, j0, ctr, x, in + done, out + done, len - done, false);
  finish(rk, t, j0, x, aad_len, len, tag);
}

void ctr(const GcmKey* key, const uint8_t iv[12], const uint8_t* in, uint8_t* out, size_t len) {
  const RoundKeys rk = load_keys(key);
  uint8_t b[16] = {};
  std::memcpy(b, iv, 12);
  const uint8x16_t j0 = vld1q_u8(b);
  uint32_t c = 2;
  size_t done = 0;
  for (; len - done >= kGroup * 16; done += kGroup * 16) {
    uint8x16_t s[kGroup];
    for (size_t i = 0; i < kGroup; i++) s[i] = counter_block(j0, c + static_cast<uint32_t>(i));
    c += kGroup;
    aes8(rk, s);
    for (size_t i = 0; i < kGroup; i++) {
      vst1q_u8(out + done + 16 * i, veorq_u8(load_once(in + done + 16 * i), s[i]));
    }
  }
  if (len > done) {
    alignas(16) uint8_t buf[kGroup * 16];
    size_t n = len - done;
    std::memcpy(buf, in + done, n);
    std::memset(buf + n, 0, sizeof buf - n);
    for (size_t off = 0; off < n; off += 16) {
      uint8x16_t ks = aes_block(rk, counter_block(j0, c++));
      vst1q_u8(buf + off, veorq_u8(vld1q_u8(buf + off), ks));
    }
    std::memcpy(out + done, buf, n);
    secure_wipe(buf, sizeof buf);
  }
}

}  // namespace

const Kernel kKernelArmv8 = {"armv8", init, seal, open, ctr};

}  // namespace ws
