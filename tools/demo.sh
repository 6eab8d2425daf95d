#!/bin/sh
# demo.sh: the README's first command: installs what cocoon needs, builds it, computes Debian
# OVMF's SEV-SNP and TDX launch measurements, and boots the demo guest with a disk, a NIC (in a
# private network namespace) and vsock, talking to each device from the host side.
# DEMO_BUILD_DIR=DIR uses the build in DIR as it is (no apt, no build), as the demo_script test does.
# DEMO_NET=off runs the guest without a NIC (as happens anyway without root or /dev/net/tun).
# Exits non-zero, naming the step, if any step fails.
set -eu
cd "$(dirname "$0")/.."
step="start"
tmp=""
ns=""

cleanup() {
  [ -z "$ns" ] || ip netns del "$ns" 2>/dev/null || true
  [ -z "$tmp" ] || rm -rf "$tmp"
}
finish() {
  rc=$?
  cleanup
  if [ "$rc" -ne 0 ]; then
    echo "demo: FAILED at step \"$step\" (exit status $rc)" >&2
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

heading() {
  step="$1"
  echo
  echo "== $1"
}

if [ -n "${DEMO_BUILD_DIR:-}" ]; then
  build="$DEMO_BUILD_DIR"
else
  heading "dependencies (tools/deps.sh) and build (cocoon, cocoon-measure, the demo guest)"
  sh tools/deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target cocoon cocoon-measure guest_demo >/dev/null
  build=build
  echo "built $build/cocoon, $build/cocoon-measure, $build/tests/guest/guest_demo.elf"
fi
start=$(date +%s)
ovmf=/usr/share/ovmf/OVMF.fd

heading "cocoon-measure: SEV-SNP launch digest of Debian's $ovmf, 2 vCPUs EPYC-Milan (no KVM needed)"
"$build/cocoon-measure" --mode snp --vcpus 2 --vcpu-type EPYC-Milan --guest-features 0x21 \
  --ovmf "$ovmf"

heading "cocoon-measure: TDX MRTD of the same firmware"
"$build/cocoon-measure" tdx --firmware "$ovmf"

step="check /dev/kvm"
if [ ! -w /dev/kvm ]; then
  echo "demo: /dev/kvm is missing or not writable; cannot boot a guest here" >&2
  exit 1
fi

heading "a 1 MiB disk image whose sector 0 holds a known message"
tmp=$(mktemp -d /tmp/cocoon-demo.XXXXXX)
disk="$tmp/disk.img"
printf 'Hello from the host: this is sector 0 of the demo disk.\n' >"$disk"
truncate -s 1M "$disk"
echo "$disk: $(head -n 1 "$disk")"

tap=""
run_in=""
if [ "${DEMO_NET:-on}" != off ] && [ "$(id -u)" -eq 0 ] && [ -c /dev/net/tun ]; then
  ns="cocoon-demo-$$"
  tap="cdemo$$"
  heading "a network namespace $ns with tap $tap (host side 10.0.2.1/24); no traffic leaves it"
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip tuntap add dev "$tap" mode tap
  ip netns exec "$ns" ip addr add 10.0.2.1/24 dev "$tap"
  ip netns exec "$ns" ip link set "$tap" up
  run_in="ip netns exec $ns"
else
  heading "network: skipped (DEMO_NET=off, or no root or /dev/net/tun); the guest runs without a NIC"
fi

heading "cocoon: boot the demo guest with --disk, ${tap:+--net tap=$tap, }--vsock cid=3"
$run_in python3 tools/demo_host.py "$build/cocoon" "$build/tests/guest/guest_demo.elf" "$disk" \
  "$tmp/vsock.sock" $tap

heading "the host reads sector 1 of $disk, which the guest wrote"
written=$(dd if="$disk" bs=512 skip=1 count=1 2>/dev/null | tr -d '\000')
printf '%s\n' "$written"
case "$written" in
  *"Written by the cocoon demo guest"*) ;;
  *) echo "demo: sector 1 does not hold the guest's line" >&2; exit 1 ;;
esac

step="done"
echo
echo "== demo passed: every step worked, in $(($(date +%s) - start)) s after the build"
