#!/usr/bin/env bash
# Builds and runs the native kernel tests (AddressSanitizer + UBSan), then the shared-memory
# race test (-O3, WS_RACE_SECONDS per case, default 0.5), no npm needed.
# Usage: native/test/run.sh  (from anywhere; paths are relative to the repository root)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cmake -S . -B build-native-test -DWS_NATIVE_TESTS=ON >/dev/null
cmake --build build-native-test --target kernel_test kernel_test_release race_test output_cache_test -j "$(nproc 2>/dev/null || echo 2)"
./build-native-test/kernel_test_release --upper-state
# Another thread writes the kernels' input or output during calls: zero wrong results.
./build-native-test/race_test "${WS_RACE_SECONDS:-0.5}"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ./build-native-test/kernel_test "$root/test/vectors/aes_gcm_test.json"
ASAN_OPTIONS=detect_leaks=1 ./build-native-test/output_cache_test
bash "$root/native/test/run-arm64.sh"
