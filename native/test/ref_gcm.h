// A slow, independent AES-GCM that the kernel test driver and the fuzz harness check kernels
// against: FIPS-197 AES byte by byte, SP 800-38D GHASH bit by bit (6.3 algorithm 1). Nothing here shares code with
// the kernels, so a bug common to all three (e.g. in aesni_expand_key) still shows up.
// Not constant time; test use only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace wsref {

using Bytes = std::vector<uint8_t>;

inline uint8_t xtime(uint8_t x) { return static_cast<uint8_t>((x << 1) ^ (x & 0x80 ? 0x1b : 0)); }

// FIPS-197 5.1.1: multiplicative inverse in GF(2^8), then the affine map.
inline const uint8_t* sbox() {
  static const struct Table {
    uint8_t s[256];
    Table() {
      uint8_t p = 1, q = 1;
      auto rotl = [](uint8_t x, int k) { return static_cast<uint8_t>((x << k) | (x >> (8 - k))); };
      do {
        p = static_cast<uint8_t>(p ^ (p << 1) ^ (p & 0x80 ? 0x1b : 0));
        q ^= static_cast<uint8_t>(q << 1);
        q ^= static_cast<uint8_t>(q << 2);
        q ^= static_cast<uint8_t>(q << 4);
        if (q & 0x80) q ^= 0x09;
        s[p] = static_cast<uint8_t>(q ^ rotl(q, 1) ^ rotl(q, 2) ^ rotl(q, 3) ^ rotl(q, 4) ^ 0x63);
      } while (p != 1);
      s[0] = 0x63;
    }
  } table;
  return table.s;
}

struct Aes {
  uint8_t rk[15][16];
  int rounds;

  // FIPS-197 5.2; key_len is 16 or 32.
  Aes(const uint8_t* key, size_t key_len) {
    const uint8_t* s = sbox();
    const int nk = static_cast<int>(key_len / 4);
    rounds = nk + 6;
    uint8_t w[60][4];
    std::memcpy(w, key, key_len);
    uint8_t rcon = 1;
    for (int i = nk; i < 4 * (rounds + 1); ++i) {
      uint8_t t[4];
      std::memcpy(t, w[i - 1], 4);
      if (i % nk == 0) {
        const uint8_t t0 = t[0];
        t[0] = static_cast<uint8_t>(s[t[1]] ^ rcon);
        t[1] = s[t[2]];
        t[2] = s[t[3]];
        t[3] = s[t0];
        rcon = xtime(rcon);
      } else if (nk > 6 && i % nk == 4) {
        for (auto& x : t) x = s[x];
      }
      for (int j = 0; j < 4; ++j) w[i][j] = w[i - nk][j] ^ t[j];
    }
    std::memcpy(rk, w, 16 * (rounds + 1));
  }

  // FIPS-197 5.1: SubBytes and ShiftRows together, then MixColumns, then AddRoundKey.
  void encrypt(const uint8_t in[16], uint8_t out[16]) const {
    const uint8_t* sb = sbox();
    uint8_t s[16];
    for (int i = 0; i < 16; ++i) s[i] = in[i] ^ rk[0][i];
    for (int r = 1; r <= rounds; ++r) {
      uint8_t t[16];
      for (int c = 0; c < 4; ++c)
        for (int row = 0; row < 4; ++row) t[row + 4 * c] = sb[s[row + 4 * ((c + row) % 4)]];
      if (r != rounds) {
        for (int c = 0; c < 4; ++c) {
          uint8_t* col = t + 4 * c;
          const uint8_t all = col[0] ^ col[1] ^ col[2] ^ col[3], c0 = col[0];
          for (int row = 0; row < 4; ++row)
            col[row] ^= static_cast<uint8_t>(all ^ xtime(col[row] ^ (row == 3 ? c0 : col[row + 1])));
        }
      }
      for (int i = 0; i < 16; ++i) s[i] = t[i] ^ rk[r][i];
    }
    std::memcpy(out, s, 16);
  }
};

struct Block {
  uint64_t hi, lo;  // big-endian halves: hi holds bytes 0..7
};

inline Block load(const uint8_t* p) {
  Block b{0, 0};
  for (int i = 0; i < 8; ++i) b.hi = (b.hi << 8) | p[i];
  for (int i = 8; i < 16; ++i) b.lo = (b.lo << 8) | p[i];
  return b;
}

inline void store(Block b, uint8_t* p) {
  for (int i = 7; i >= 0; --i, b.hi >>= 8) p[i] = static_cast<uint8_t>(b.hi);
  for (int i = 15; i >= 8; --i, b.lo >>= 8) p[i] = static_cast<uint8_t>(b.lo);
}

// SP 800-38D 6.3 algorithm 1.
inline Block gf_mul(Block x, Block y) {
  Block z{0, 0}, v = y;
  for (int i = 0; i < 128; ++i) {
    const uint64_t bit = i < 64 ? (x.hi >> (63 - i)) & 1 : (x.lo >> (127 - i)) & 1;
    if (bit) {
      z.hi ^= v.hi;
      z.lo ^= v.lo;
    }
    const bool lsb = v.lo & 1;
    v.lo = (v.lo >> 1) | (v.hi << 63);
    v.hi >>= 1;
    if (lsb) v.hi ^= 0xe100000000000000ull;
  }
  return z;
}

// a^(2^128 - 2), the inverse of a nonzero field element.
inline Block gf_inv(Block a) {
  Block r{0x8000000000000000ull, 0};  // the field's 1
  for (int i = 0; i < 127; ++i) {
    a = gf_mul(a, a);
    r = gf_mul(r, a);
  }
  return r;
}

struct Ghash {
  Block h, y{0, 0};
  void update(const uint8_t* p, size_t n) {
    for (size_t off = 0; off < n; off += 16) {
      uint8_t blk[16] = {};
      std::memcpy(blk, p + off, n - off < 16 ? n - off : 16);
      const Block x = load(blk);
      y = gf_mul({y.hi ^ x.hi, y.lo ^ x.lo}, h);
    }
  }
  void lengths(uint64_t a_bytes, uint64_t c_bytes) {
    y = gf_mul({y.hi ^ (a_bytes * 8), y.lo ^ (c_bytes * 8)}, h);
  }
};

inline Block hash_key(const Aes& a) {
  uint8_t zero[16] = {}, h[16];
  a.encrypt(zero, h);
  return load(h);
}

inline void inc32(uint8_t b[16]) {
  uint32_t c = (uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) | b[15];
  ++c;
  b[12] = static_cast<uint8_t>(c >> 24);
  b[13] = static_cast<uint8_t>(c >> 16);
  b[14] = static_cast<uint8_t>(c >> 8);
  b[15] = static_cast<uint8_t>(c);
}

// SP 800-38D 7.1 step 2.
inline void j0(const Aes& a, const uint8_t* iv, size_t iv_len, uint8_t out[16]) {
  if (iv_len == 12) {
    std::memset(out, 0, 16);
    std::memcpy(out, iv, 12);
    out[15] = 1;
    return;
  }
  Ghash g{hash_key(a)};
  g.update(iv, iv_len);
  g.lengths(0, iv_len);
  store(g.y, out);
}

// Keystream XOR from counter block `first` on (inc32 between blocks).
inline void ctr(const Aes& a, const uint8_t first[16], const uint8_t* in, uint8_t* out, size_t n) {
  uint8_t c[16], ks[16];
  std::memcpy(c, first, 16);
  for (size_t off = 0; off < n; off += 16) {
    a.encrypt(c, ks);
    for (size_t i = off; i < n && i < off + 16; ++i) out[i] = in[i] ^ ks[i - off];
    inc32(c);
  }
}

// SP 800-38D 7.1: returns ciphertext || tag.
inline Bytes seal(const uint8_t* key, size_t key_len, const uint8_t* iv, size_t iv_len,
                  const uint8_t* aad, size_t aad_len, const uint8_t* pt, size_t len) {
  const Aes a(key, key_len);
  uint8_t j[16], c[16];
  j0(a, iv, iv_len, j);
  std::memcpy(c, j, 16);
  inc32(c);
  Bytes out(len + 16);
  ctr(a, c, pt, out.data(), len);
  Ghash g{hash_key(a)};
  g.update(aad, aad_len);
  g.update(out.data(), len);
  g.lengths(aad_len, len);
  uint8_t s[16], ek[16];
  store(g.y, s);
  a.encrypt(j, ek);
  for (int i = 0; i < 16; ++i) out[len + i] = s[i] ^ ek[i];
  return out;
}

// A 16-byte IV whose J0 is the given block: J0 = (IV.H ^ L).H with L = [128]_64, so
// IV = (J0.H^-1 ^ L).H^-1. Lets a fuzz input put the 32-bit counter anywhere, e.g. just
// below its wrap (SP 800-38D 6.2: inc32 wraps mod 2^32).
inline void iv_for_j0(const uint8_t* key, size_t key_len, const uint8_t want[16], uint8_t iv[16]) {
  const Aes a(key, key_len);
  const Block hinv = gf_inv(hash_key(a));
  Block t = gf_mul(load(want), hinv);
  t.lo ^= 128;
  store(gf_mul(t, hinv), iv);
}

}  // namespace wsref
