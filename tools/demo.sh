#!/bin/sh
# demo.sh: installs what cocoon needs, builds it, and boots the demo test guest with its console
# on this terminal. Later features (devices, cocoon-measure) add their steps below.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target cocoon guest_hello guest_smp cocoon-measure

echo "== cocoon-measure: SEV-SNP and TDX launch measurements of Debian's OVMF.fd (no KVM needed)"
build/cocoon-measure --mode snp --vcpus 2 --vcpu-type EPYC-Milan --guest-features 0x21 \
  --ovmf /usr/share/ovmf/OVMF.fd
build/cocoon-measure tdx --firmware /usr/share/ovmf/OVMF.fd

if [ ! -w /dev/kvm ]; then
  echo "demo: /dev/kvm is missing or not writable; cannot boot a guest here" >&2
  exit 1
fi

echo "== cocoon: a 2-vCPU guest, console on the terminal (-v logs the VMM's steps)"
status=0
build/cocoon -v --kernel build/tests/guest/guest_hello.elf --cmdline "status=0" \
  --cpus boot=2 --memory size=128M --serial tty || status=$?
echo "== guest powered off, cocoon exit status $status"

echo "== cocoon: 4 vCPUs started through the MP table and INIT-SIPI"
build/cocoon --kernel build/tests/guest/guest_smp.elf --cpus boot=4 --memory size=64M || true
