// What every kernel shares: constant-time tag checks, wiping, and the chunk-run loop of
// c2sp.org/chunked-encryption ("AEAD usage": nonce = base nonce XOR chunk counter).
#include <cstring>

#include "gcm.h"

namespace ws {

bool tags_equal(const uint8_t a[16], const uint8_t b[16]) {
  uint8_t diff = 0;
  for (size_t i = 0; i < kTagBytes; i++) diff |= a[i] ^ b[i];
  // Launder through a volatile so the OR-reduction is not turned into an early-exit memcmp.
  volatile uint8_t d = diff;
  return d == 0;
}

void secure_wipe(void* p, size_t n) {
  std::memset(p, 0, n);
  // The empty asm with a memory clobber makes the stores observable, so they are kept.
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

bool gcm_open(const Kernel& k, const GcmKey* key, const uint8_t* iv, size_t iv_len,
              const uint8_t* aad, size_t aad_len, const uint8_t* in, uint8_t* out, size_t len,
              const uint8_t tag[16]) {
  // Copy the expected tag first: with out == in the caller's tag may sit right after out.
  uint8_t want[16], got[16];
  std::memcpy(want, tag, sizeof want);
  k.open(key, iv, iv_len, aad, aad_len, in, out, len, got);
  bool ok = tags_equal(want, got);
  if (!ok) secure_wipe(out, len);
  return ok;
}

namespace {

// The chunk counter is at most 2^38, so XOR-ing it big-endian into the last 8 bytes of the
// 12-byte nonce is the spec's "as wide as the base nonce" XOR.
void chunk_nonce(const uint8_t base[12], uint64_t index, uint8_t out[12]) {
  std::memcpy(out, base, 12);
  for (int i = 0; i < 8; i++) out[11 - i] ^= static_cast<uint8_t>(index >> (8 * i));
}

size_t chunk_len(size_t pt_len, size_t chunk, uint64_t i) {
  size_t start = static_cast<size_t>(i) * chunk;
  size_t rest = pt_len - start;  // callers guarantee start <= pt_len
  return rest < chunk ? rest : chunk;
}

}  // namespace

void seal_chunks(const Kernel& k, const GcmKey* key, const uint8_t base_nonce[12],
                 uint64_t first_index, const uint8_t* in, size_t pt_len, size_t chunk,
                 uint64_t n_chunks, uint8_t* out) {
  // Read once (gcm.h): every chunk's nonce comes from one copy of the caller's base nonce.
  uint8_t base[12], nonce[12];
  std::memcpy(base, base_nonce, sizeof base);
  for (uint64_t i = 0; i < n_chunks; i++) {
    size_t n = chunk_len(pt_len, chunk, i);
    uint8_t* dst = out + i * (chunk + kTagBytes);
    chunk_nonce(base, first_index + i, nonce);
    k.seal(key, nonce, sizeof nonce, nullptr, 0, in + i * chunk, dst, n, dst + n);
  }
}

int64_t open_chunks(const Kernel& k, const GcmKey* key, const uint8_t base_nonce[12],
                    uint64_t first_index, const uint8_t* in, size_t pt_len, size_t chunk,
                    uint64_t n_chunks, uint8_t* out) {
  uint8_t base[12], nonce[12];
  std::memcpy(base, base_nonce, sizeof base);
  for (uint64_t i = 0; i < n_chunks; i++) {
    size_t n = chunk_len(pt_len, chunk, i);
    const uint8_t* src = in + i * (chunk + kTagBytes);
    chunk_nonce(base, first_index + i, nonce);
    if (!gcm_open(k, key, nonce, sizeof nonce, nullptr, 0, src, out + i * chunk, n, src + n)) {
      return static_cast<int64_t>(i);
    }
  }
  return -1;
}

}  // namespace ws
