#!/bin/sh
# test.sh: installs what the tests need, then runs the test stages in order; any failure fails it.
#   plain  build/       RelWithDebInfo build, the whole ctest suite
#   asan   build-asan/  ASan + UBSan build (-DCOCOON_SANITIZE=ON), the whole ctest suite again
#   valgrind build-vg/  every cmocka unit binary under valgrind memcheck (any error fails)
#   tsan   build-tsan/  ThreadSanitizer build: the unit tests and the KVM integration tests
#                       (seccomp off in this build only: TSan's runtime makes calls it refuses)
#   fuzz   build-fuzz/  libFuzzer targets (clang): every target replays its corpus and fuzzes
#                       FUZZ_SMOKE_SECONDS (default 15) seconds (tools/fuzz.sh smoke)
# Arguments go to both ctest runs (e.g. tools/test.sh -R vsock); TEST_STAGES="plain asan fuzz"
# picks stages (default: plain valgrind asan tsan fuzz).
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
jobs=$(nproc)

build() { # build BUILD_DIR [cmake options...]: configure and build everything
  dir=$1
  shift
  echo "== test.sh: $dir"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

suite() { # suite BUILD_DIR [cmake options...]: build, then the whole ctest suite
  build "$@"
  (cd "$1" && ctest --output-on-failure -j"$jobs" $ctest_args)
}

ctest_args="$*"
for stage in ${TEST_STAGES:-plain valgrind asan tsan fuzz}; do
  case $stage in
  plain) suite build ;;
  valgrind)
    build build-vg -DCOCOON_VALGRIND=ON
    (cd build-vg && ctest --output-on-failure -j"$jobs" -L unit $ctest_args)
    ;;
  tsan)
    # Races are fatal; the seccomp tests are left out (this build runs with the filters off).
    (
      export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(pwd)/tests/tsan.supp
      build build-tsan -DCOCOON_TSAN=ON
      # Linux and firmware boots spend their time in the guest: left to the plain and asan stages.
      # stop_signal_during_setup maps 1 TiB of guest RAM, which TSan must shadow as well (it
      # tests KVM slot registration, not threads): plain and asan stages.
      cd build-tsan && ctest --output-on-failure -j"$jobs" -L "unit|kvm" \
        -E "seccomp|linux_guest|firmware_seabios|acpi_linux|acpi_acpica|stop_signal_during_setup" \
        $ctest_args
    )
    ;;
  asan)
    # Sanitizer reports are fatal; leak checking stays on for every process the tests start.
    (
      export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
      build build-asan -DCOCOON_SANITIZE=ON
      # The table checker (acpi_acpica) and the slow bzImage-through-SeaBIOS boot run in the plain
      # stage only: under ASan they exercise nothing of cocoon's that other tests do not.
      cd build-asan && ctest --output-on-failure -j"$jobs" -E "acpi_acpica|firmware_seabios_bzimage" $ctest_args
    )
    ;;
  fuzz)
    echo "== test.sh: fuzz smoke"
    FUZZ_BUILD="$(pwd)/build-fuzz" FUZZ_JOBS="$jobs" FUZZ_NICE=0 \
      sh tools/fuzz.sh smoke "${FUZZ_SMOKE_SECONDS:-15}"
    ;;
  *)
    echo "test.sh: unknown stage '$stage' (plain, valgrind, asan, tsan, fuzz)" >&2
    exit 2
    ;;
  esac
done
echo "== test.sh: all stages passed"
