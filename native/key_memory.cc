// Why not malloc: a small seal imports a key (a 4.4 KiB GcmKey) and derives one (HKDF output)
// per message, and copies the key once more per thread-pool job. Freed 4 KiB blocks get split
// by other small allocations, so glibc grows the heap top for the next key and trims it again
// afterwards; every regrowth faults fresh pages in, which on the VMs this runs on costs tens
// of microseconds per key (measured: 25-45 us per import, mostly _int_malloc page faults,
// against well under 1 us of key expansion). A handful of blocks kept warm ends that.
#include "key_memory.h"

#include <cstdlib>
#include <mutex>

#include "gcm.h"

namespace ws {
namespace {

constexpr size_t kBlockBytes = sizeof(GcmKey);
// Keys alive at once are few (one per stream or small call, one per job in flight); past the
// cap blocks go back to malloc.
constexpr size_t kCap = 64;

std::mutex mu;
void* blocks[kCap];
size_t count = 0;

}  // namespace

void* key_block_alloc(size_t size) {
  if (size > kBlockBytes) return nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (count > 0) return blocks[--count];
  }
  return std::aligned_alloc(alignof(GcmKey), kBlockBytes);
}

void key_block_free(void* block) {
  if (!block) return;
  secure_wipe(block, kBlockBytes);  // key material never waits in the list
  {
    std::lock_guard<std::mutex> lock(mu);
    if (count < kCap) {
      blocks[count++] = block;
      return;
    }
  }
  std::free(block);
}

}  // namespace ws
