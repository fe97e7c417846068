#!/usr/bin/env bash
# The kernel test driver cross-built for arm64 (cmake/aarch64-linux-gnu.cmake) and run under
# qemu-aarch64: the armv8 kernel against the spec's test cases, Wycheproof, the reference
# model, seal_chunks/open_chunks and the first failing chunk's index. Release build (-O3, as
# shipped): AddressSanitizer does not run under qemu-user.
# Needs g++-aarch64-linux-gnu and qemu-user (Debian); without them it says so and exits 0,
# unless CI=true, where a missing tool is a failure (.ci/run installs them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if ((${#missing[@]})); then
  echo "run-arm64.sh: skipping the armv8 kernel tests: missing ${missing[*]} (apt-get install ${missing[*]})"
  [[ "${CI:-}" == "true" ]] && exit 1
  exit 0
fi
cmake -S . -B build-arm64-test -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DWS_NATIVE_TESTS=ON >/dev/null
cmake --build build-arm64-test --target kernel_test_release -j "$(nproc 2>/dev/null || echo 2)"
qemu-aarch64 -L /usr/aarch64-linux-gnu ./build-arm64-test/kernel_test_release \
  "$root/test/vectors/aes_gcm_test.json"
