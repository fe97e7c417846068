// Memory for expanded keys (GcmKey) and derived key bytes, reused through a small free list.
#pragma once

#include <cstddef>

namespace ws {

// A block of at least `size` bytes (size <= sizeof(GcmKey)), 64-byte aligned, or nullptr.
void* key_block_alloc(size_t size);
// Wipes the whole block and keeps it for the next key (or frees it past the cap).
void key_block_free(void* block);

}  // namespace ws
