// A known-answer self-test of every kernel this CPU runs, inside the binary being judged: the
// install script and the loader (src/backend/addon.ts) run it before trusting an addon, above
// all a prebuilt one built elsewhere.
#pragma once

#include <cstddef>

namespace ws {

// True when every kernel this CPU supports passes; otherwise false with what failed written
// to why (e.g. "armv8 AES-256: wrong tag").
bool self_test(char* why, size_t why_len);

}  // namespace ws
