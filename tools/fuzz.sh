#!/bin/sh
# fuzz.sh: builds the libFuzzer targets (clang, ASan+UBSan) and runs them for a bounded time.
#   tools/fuzz.sh list                 the targets (tests/fuzz/<target>.c)
#   tools/fuzz.sh TARGET SECONDS       fuzz one target (new inputs kept in $BUILD/corpus/TARGET)
#   tools/fuzz.sh all SECONDS          every target in turn, SECONDS each
#   tools/fuzz.sh smoke [SECONDS]      CI: every target replays its seed corpus, then fuzzes
#                                      SECONDS (default 15) from it; any finding fails the script
# Each run appends "target execs cov ft seconds" to $BUILD/fuzz-stats.txt; a crash, leak or
# sanitizer report leaves the input in $BUILD/artifacts/ and exits non-zero. Environment:
# FUZZ_BUILD (build dir, default build-fuzz), FUZZ_NICE (default 15), FUZZ_JOBS (make -j, 2),
# FUZZ_RUNS (stop after this many executions even if SECONDS are not up), FUZZ_NO_BUILD=1 (use the
# targets already built, e.g. while the tree is being edited).
set -eu
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${FUZZ_BUILD:-$SRC/build-fuzz}
NICE=${FUZZ_NICE:-15}

targets() {
  for f in "$SRC"/tests/fuzz/*.c; do basename "$f" .c; done
}

build() {
  [ -n "${FUZZ_NO_BUILD:-}" ] && return 0
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    CC=clang cmake -S "$SRC" -B "$BUILD" -DCOCOON_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  nice -n "$NICE" cmake --build "$BUILD" -j"${FUZZ_JOBS:-2}" --target fuzz >/dev/null
}

# run TARGET SECONDS [extra libFuzzer flags]: fuzzes, records final stats, fails on any finding.
run() {
  t=$1 secs=$2
  shift 2
  bin="$BUILD/tests/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz.sh: no target '$t' (try: tools/fuzz.sh list)" >&2; exit 2; }
  mkdir -p "$BUILD/corpus/$t" "$BUILD/artifacts"
  log="$BUILD/artifacts/$t.log"
  echo "fuzz.sh: $t for ${secs}s"
  rc=0
  [ -n "${FUZZ_RUNS:-}" ] && set -- -runs="$FUZZ_RUNS" "$@"
  nice -n "$NICE" "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 \
    -print_final_stats=1 -close_fd_mask=1 -artifact_prefix="$BUILD/artifacts/$t-" "$@" \
    "$BUILD/corpus/$t" "$SRC/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  line=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1 || true)
  cov=$(echo "$line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  echo "$t execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} seconds=$secs rc=$rc $(date -u +%FT%TZ)" |
    tee -a "$BUILD/fuzz-stats.txt"
  if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
    echo "fuzz.sh: $t FOUND A PROBLEM (input in $BUILD/artifacts/$t-*):" >&2
    grep -E -A25 'ERROR:|runtime error:' "$log" | head -60 >&2
    return 1
  fi
}

case "${1:-}" in
list) targets ;;
all)
  [ $# -eq 2 ] || { echo "usage: tools/fuzz.sh all SECONDS" >&2; exit 2; }
  build
  fail=0
  for t in $(targets); do run "$t" "$2" || fail=1; done
  exit $fail
  ;;
smoke)
  build
  fail=0
  for t in $(targets); do
    # Replay every seed and regression input first (-runs=0 fuzzes nothing), then a short run.
    nice -n "$NICE" "$BUILD/tests/fuzz_$t" -runs=0 -close_fd_mask=1 "$SRC/tests/fuzz/corpus/$t" \
      >"$BUILD/artifacts-replay-$t.log" 2>&1 || { echo "fuzz.sh: $t: corpus replay failed" >&2; \
      tail -40 "$BUILD/artifacts-replay-$t.log" >&2; fail=1; continue; }
    run "$t" "${2:-15}" || fail=1
  done
  exit $fail
  ;;
"" | -h | --help)
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  ;;
*)
  [ $# -eq 2 ] || { echo "usage: tools/fuzz.sh TARGET SECONDS" >&2; exit 2; }
  build
  run "$1" "$2"
  ;;
esac
