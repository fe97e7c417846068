#!/usr/bin/env bash
# Builds the libFuzzer harness (clang, ASan + UBSan) and fuzzes the GCM kernels for a bounded
# time on a scratch copy of native/fuzz/corpus; exits non-zero on any finding.
#
#   native/fuzz/run.sh              fuzz for FUZZ_SECONDS (default 60) in total
#   native/fuzz/run.sh FILE...      rerun saved inputs (a crash artifact, a corpus file)
#
# Env: FUZZ_SECONDS (default 60), FUZZ_JOBS (parallel fuzzing processes, default 1),
#      FUZZ_CXX (clang++ to use), CI=true (a missing clang/libFuzzer is then an error, not a skip).
# New inputs go to build-fuzz/corpus (scratch), findings to build-fuzz/artifacts/. To keep new
# coverage, merge by hand:  build-fuzz/gcm_fuzz -merge=1 native/fuzz/corpus build-fuzz/corpus
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

find_cxx() {
  local c
  for c in ${FUZZ_CXX:-} clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    command -v "$c" >/dev/null 2>&1 || continue
    # clang alone is not enough: libFuzzer's runtime ships separately (Debian libclang-rt-N-dev).
    if echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
      "$c" -x c++ - -fsanitize=fuzzer,address,undefined -o /dev/null >/dev/null 2>&1; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if ! cxx="$(find_cxx)"; then
  msg="clang/libFuzzer not installed (Debian: apt-get install clang libclang-rt-dev)"
  if [[ "${CI:-}" == "true" ]]; then
    echo "native/fuzz: error: $msg" >&2
    exit 1
  fi
  echo "native/fuzz: skipped: $msg"
  exit 0
fi

build=build-fuzz
# Configure output only on failure: the top-level CMakeLists asks node for node-addon-api,
# which this target does not need (and a fresh clone may not have installed yet).
if ! log="$(cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DWS_FUZZ=ON 2>&1)"; then
  echo "$log" >&2
  exit 1
fi
cmake --build "$build" --target gcm_fuzz -j "$(nproc 2>/dev/null || echo 2)"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if (($#)); then
  exec "./$build/gcm_fuzz" "$@"
fi

seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
rm -rf "$build/corpus" "$build/artifacts"
mkdir -p "$build/corpus" "$build/artifacts"
cp native/fuzz/corpus/* "$build/corpus/"

args=(-max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -max_len=1024
  -print_final_stats=1 -artifact_prefix="$build/artifacts/")
if ((jobs > 1)); then args+=(-fork="$jobs"); fi
echo "native/fuzz: $cxx, ${seconds}s, $jobs job(s), seeds: $(ls native/fuzz/corpus | wc -l)"
set +e
"./$build/gcm_fuzz" "${args[@]}" "$build/corpus"
rc=$?
set -e
found="$(ls "$build/artifacts" 2>/dev/null)"
if ((rc != 0)) || [[ -n "$found" ]]; then
  echo "native/fuzz: FAILED (exit $rc). Findings in $build/artifacts/:" >&2
  for f in $found; do echo "  reproduce: native/fuzz/run.sh $build/artifacts/$f" >&2; done
  exit $((rc ? rc : 1))
fi
echo "native/fuzz: no findings in ${seconds}s"
