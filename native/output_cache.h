// A bounded cache of output memory, so repeated calls write into pages that are already
// mapped. On some VMs the first touch of fresh memory runs at a small fraction of memcpy speed
// (host-level page faults), so a fresh 1 GiB output can cost far more than sealing it.
// No Node-API here (STYLE habit 1): native/outputs.cc hands blocks to JavaScript as external
// buffers and gives them back from the buffer's finalizer. One cache per process, behind a
// mutex, so every worker thread's copy of the addon shares it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ws {

// Blocks are a whole number of kOutputGrain bytes; smaller outputs are not worth caching.
constexpr size_t kOutputGrain = 64 * 1024;

struct OutputCacheStats {
  uint64_t hits = 0;          // takes served from the cache
  uint64_t misses = 0;        // takes that mapped fresh memory
  uint64_t cached_bytes = 0;  // idle blocks held now
  uint64_t cached_blocks = 0;
  uint64_t limit_bytes = 0;   // the most idle bytes held (0: caching off)
  uint64_t live_bytes = 0;    // blocks handed out and not given back
};

// A block of at least `bytes` (64-byte aligned, contents unspecified: a previous output's
// bytes, or zero pages), its size in *capacity. Null when memory cannot be had.
void* output_take(size_t bytes, size_t* capacity);
// Gives a block back: kept while idle blocks stay within the limit (oldest dropped first),
// else freed. Any thread.
void output_give(void* block, size_t capacity);
// Idle bytes kept at most; 0 frees every idle block and caches nothing from now on.
void output_set_limit(size_t bytes);
// Frees idle blocks given back more than `idle_ms` ago; returns the idle bytes left.
size_t output_trim(uint64_t idle_ms);
OutputCacheStats output_stats();

}  // namespace ws
