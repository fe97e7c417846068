// The kernel interface: plain C++ over raw pointers, no Node-API here (STYLE habit 1).
//
// A kernel is one instruction set's AES-GCM (NIST SP 800-38D). gcm.cc holds what every
// kernel shares: tag comparison, zeroing on failure, the chunk-run loop of
// c2sp.org/chunked-encryption, and key wiping.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ws {

constexpr size_t kTagBytes = 16;
constexpr size_t kNonceBytes = 12;
// SP 800-38D 5.2.1.1: at most 2^39 - 256 bits of plaintext per message (2^32 - 2 blocks).
constexpr uint64_t kMaxMessageBytes = (uint64_t{1} << 36) - 32;

// Expanded key material. Aligned so vector kernels can load it with aligned moves.
struct alignas(64) GcmKey {
  uint8_t round_keys[15 * 16];  // AES encryption schedule, FIPS-197 byte order
  uint32_t rounds;              // 10 for AES-128, 14 for AES-256
  // Kernel-private: powers of H (and any Karatsuba precomputation) in whatever layout the
  // kernel's GHASH wants. Only the kernel that ran init() may read it.
  alignas(64) uint8_t htable[4096];
};

// Read once (every kernel, now and later, e.g. armv8): the caller's memory may be a
// SharedArrayBuffer that another thread writes during the call, so within one call
//   - each byte of in, aad, iv, tag (and a chunk run's base nonce) is loaded from caller
//     memory exactly once;
//   - open hashes and decrypts the same loaded value (one register, or a copy in the
//     kernel's own stack), never a second load of the same input bytes;
//   - seal hashes the ciphertext it holds (register or own stack copy), never bytes read
//     back from out, which is only ever written;
//   - partial blocks are copied once into a private buffer (or loaded once with a mask)
//     and used from there.
// A value loaded from caller memory and used twice goes through an empty asm (see
// load_once in the x86 kernels), so the compiler cannot re-load it instead of spilling it.
// native/test/race_test.cc checks this with a second thread writing during calls.
struct Kernel {
  const char* name;
  // key_len is 16 or 32 (checked by the caller).
  void (*init)(GcmKey* key, const uint8_t* raw_key, size_t key_len);
  // Encrypts len bytes of in to out and writes the 16-byte tag. iv_len >= 1 (96 bits is the
  // fast path; other lengths go through GHASH per SP 800-38D 7.1 step 2). out == in is allowed;
  // any other overlap is not (the binding rejects it).
  void (*seal)(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
               size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]);
  // Decrypts len bytes of ciphertext in to out and writes the tag that ciphertext should carry.
  // It does not compare: gcm_open() does, in constant time, and wipes out on mismatch.
  void (*open)(const GcmKey* key, const uint8_t* iv, size_t iv_len, const uint8_t* aad,
               size_t aad_len, const uint8_t* in, uint8_t* out, size_t len, uint8_t tag[16]);
  // CTR keystream XOR only, counter blocks iv || 2, iv || 3, ... (no GHASH). This is the
  // ceiling GCM can approach; the kernel benchmark reports it.
  void (*ctr)(const GcmKey* key, const uint8_t iv[12], const uint8_t* in, uint8_t* out,
              size_t len);
};

extern const Kernel kKernelAesni;
extern const Kernel kKernelVaes256;
extern const Kernel kKernelVaes512;
extern const Kernel kKernelArmv8;  // arm64 builds only (gcm_armv8.cc)

// AES key expansion with AES-NI, shared by every kernel (any CPU with VAES has AES-NI).
void aesni_expand_key(GcmKey* key, const uint8_t* raw_key, size_t key_len);

// --- gcm.cc -------------------------------------------------------------------------------

// Constant-time comparison of two 16-byte tags.
bool tags_equal(const uint8_t a[16], const uint8_t b[16]);

// Opens one message; on a tag mismatch, out is zero-filled and false returned.
bool gcm_open(const Kernel& k, const GcmKey* key, const uint8_t* iv, size_t iv_len,
              const uint8_t* aad, size_t aad_len, const uint8_t* in, uint8_t* out, size_t len,
              const uint8_t tag[16]);

// A run of chunks of c2sp.org/chunked-encryption: chunk i (0 <= i < n_chunks) holds
// plaintext bytes [i*chunk, min((i+1)*chunk, pt_len)) and is sealed with nonce
// base_nonce XOR (first_index + i), big-endian in the low bytes, no AAD. Sealed chunks are
// laid out chunk || tag. (n_chunks - 1) * chunk <= pt_len <= n_chunks * chunk must hold, so a
// run may end in a short or empty final chunk. in and out must not overlap.
void seal_chunks(const Kernel& k, const GcmKey* key, const uint8_t base_nonce[12],
                 uint64_t first_index, const uint8_t* in, size_t pt_len, size_t chunk,
                 uint64_t n_chunks, uint8_t* out);

// Opens a run laid out as seal_chunks writes it (pt_len is the plaintext length the run
// decrypts to). Verifies every tag in order; on the first failure it zero-fills that chunk's
// output, stops, and returns its index within the run. Returns -1 when all verify.
int64_t open_chunks(const Kernel& k, const GcmKey* key, const uint8_t base_nonce[12],
                    uint64_t first_index, const uint8_t* in, size_t pt_len, size_t chunk,
                    uint64_t n_chunks, uint8_t* out);

// Zeroes memory in a way the compiler may not elide (key schedules, H powers).
void secure_wipe(void* p, size_t n);

}  // namespace ws
