#!/bin/bash
# bench.sh: one command for the benchmarks: installs what they need (the build's packages via
# tools/deps.sh, plus Debian's qemu-system-x86 and gnuplot-nox for the comparison and the chart),
# builds cocoon, the test guests and the harnesses, then runs tools/bench/bench.py, which prints a
# markdown table (cocoon vs QEMU microvm vs the physical floor) and writes a PNG chart.
#
# usage: tools/bench.sh (as root) [ROUNDS] [bench.py options, e.g. --only startup,mem1]
# env:   BUILD (default build-bench), OUT (default $BUILD/bench: results.md, results.dat, chart.png)
# It reports; it never fails on a number. Needs /dev/kvm.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$here/build-bench}
rounds=${1:-7}
shift || true

sh "$here/tools/deps.sh"
missing=""
command -v qemu-system-x86_64 >/dev/null || missing="$missing qemu-system-x86"
command -v gnuplot >/dev/null || missing="$missing gnuplot-nox"
if [ -n "$missing" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "bench.sh: need root to install:$missing" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
fi

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target cocoon cocoon-measure guest_hello guest_idle \
    guest_vsock_echo bench_blk_path bench_net_path bench_vm_create bench_stream bench_kvm_floor
exec python3 "$here/tools/bench/bench.py" --build "$build" --rounds "$rounds" \
    --out "${OUT:-$build/bench}" "$@"
