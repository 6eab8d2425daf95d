#!/bin/sh
# test.sh: installs what the tests need, then runs the test stages in order; any failure fails it.
#   plain  build/       RelWithDebInfo build, the whole ctest suite
#   asan   build-asan/  ASan + UBSan build (-DCOCOON_SANITIZE=ON), the whole ctest suite again
#   fuzz   build-fuzz/  libFuzzer targets (clang): every target replays its corpus and fuzzes
#                       FUZZ_SMOKE_SECONDS (default 15) seconds (tools/fuzz.sh smoke)
# Arguments go to both ctest runs (e.g. tools/test.sh -R vsock); TEST_STAGES="plain asan fuzz"
# picks stages.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
jobs=$(nproc)

suite() { # suite BUILD_DIR [cmake options...]: configure, build everything, run ctest
  dir=$1
  shift
  echo "== test.sh: $dir"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" $ctest_args)
}

ctest_args="$*"
for stage in ${TEST_STAGES:-plain asan fuzz}; do
  case $stage in
  plain) suite build ;;
  asan)
    # Sanitizer reports are fatal; leak checking stays on for every process the tests start.
    (
      export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
      suite build-asan -DCOCOON_SANITIZE=ON
    )
    ;;
  fuzz)
    echo "== test.sh: fuzz smoke"
    FUZZ_BUILD="$(pwd)/build-fuzz" FUZZ_JOBS="$jobs" FUZZ_NICE=0 \
      sh tools/fuzz.sh smoke "${FUZZ_SMOKE_SECONDS:-15}"
    ;;
  *)
    echo "test.sh: unknown stage '$stage' (plain, asan, fuzz)" >&2
    exit 2
    ;;
  esac
done
echo "== test.sh: all stages passed"
