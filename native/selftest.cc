#include "selftest.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu.h"
#include "gcm.h"

namespace ws {
namespace {

// AES-GCM, key bytes 0..31 (AES-128: 0..15), IV a0..ab, AAD f0^i (20 bytes), plaintext
// (7i mod 256) for 300 bytes: two 8-block groups and a partial tail. Expected values from
// OpenSSL (node:crypto). Only the first and last ciphertext blocks are kept; the tag covers
// the rest.
struct Answer {
  size_t key_len;
  const char* name;
  uint8_t first[16], last[16], tag[16];
};

const Answer kAnswers[] = {
    {16, "AES-128",
     {0xaa, 0x81, 0x36, 0xae, 0x62, 0xaa, 0x19, 0x3b, 0xb2, 0x47, 0xf3, 0x4d, 0x12, 0x49, 0xd2, 0x09},
     {0xc5, 0x3f, 0xcc, 0x8c, 0x0a, 0x8e, 0x8e, 0xe1, 0x25, 0xaa, 0xe4, 0x3e, 0x60, 0xbd, 0x38, 0x6d},
     {0x37, 0x16, 0x11, 0x50, 0xc9, 0xd6, 0x35, 0xff, 0xd1, 0x7e, 0x56, 0xcc, 0x90, 0xa2, 0xaa, 0x5b}},
    {32, "AES-256",
     {0xe6, 0x1f, 0x72, 0x38, 0x59, 0xe8, 0x28, 0x8e, 0x5a, 0x5a, 0xc1, 0x9e, 0x53, 0x21, 0xa2, 0xb7},
     {0x26, 0x7b, 0x56, 0xf4, 0x7b, 0xaf, 0xa8, 0x57, 0xdc, 0x01, 0x77, 0xdc, 0xfd, 0x72, 0x68, 0x01},
     {0xd3, 0xb0, 0xe1, 0x64, 0xcd, 0x4e, 0x57, 0xa8, 0x52, 0x50, 0x80, 0xb6, 0x48, 0xeb, 0x82, 0xf7}},
};

constexpr size_t kLen = 300;

const char* check(const Kernel& k, const Answer& a, GcmKey* key) {
  uint8_t raw[32], iv[12], aad[20], pt[kLen], ct[kLen], back[kLen], tag[16];
  for (size_t i = 0; i < sizeof raw; i++) raw[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < sizeof iv; i++) iv[i] = static_cast<uint8_t>(0xa0 + i);
  for (size_t i = 0; i < sizeof aad; i++) aad[i] = static_cast<uint8_t>(0xf0 ^ i);
  for (size_t i = 0; i < kLen; i++) pt[i] = static_cast<uint8_t>(i * 7);
  k.init(key, raw, a.key_len);
  k.seal(key, iv, sizeof iv, aad, sizeof aad, pt, ct, kLen, tag);
  if (std::memcmp(ct, a.first, 16) != 0 || std::memcmp(ct + kLen - 16, a.last, 16) != 0) {
    return "ciphertext";
  }
  if (std::memcmp(tag, a.tag, 16) != 0) return "tag";
  if (!gcm_open(k, key, iv, sizeof iv, aad, sizeof aad, ct, back, kLen, tag) ||
      std::memcmp(back, pt, kLen) != 0) {
    return "open";
  }
  ct[kLen / 2] ^= 1;
  if (gcm_open(k, key, iv, sizeof iv, aad, sizeof aad, ct, back, kLen, tag)) {
    return "result: accepted a forged message";
  }
  return nullptr;
}

}  // namespace

bool self_test(char* why, size_t why_len) {
  GcmKey* key = static_cast<GcmKey*>(std::aligned_alloc(alignof(GcmKey), sizeof(GcmKey)));
  if (!key) {
    std::snprintf(why, why_len, "out of memory");
    return false;
  }
  bool ok = true;
  for (const Kernel* k : all_kernels()) {
    if (!cpu_supports(*k)) continue;
    for (const Answer& a : kAnswers) {
      const char* bad = ok ? check(*k, a, key) : nullptr;
      if (bad) {
        std::snprintf(why, why_len, "%s %s: wrong %s", k->name, a.name, bad);
        ok = false;
      }
    }
  }
  secure_wipe(key, sizeof(GcmKey));
  std::free(key);
  return ok;
}

}  // namespace ws
