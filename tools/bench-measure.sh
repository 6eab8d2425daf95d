#!/bin/bash
# bench-measure.sh: times cocoon-measure against the floor of hashing the same bytes once with
# OpenSSL (openssl dgst -sha384 on the firmware, -sha256 on kernel and initrd), side by side,
# alternating, after a warm-up; prints medians and the ratio as a markdown table.
#
# usage: tools/bench-measure.sh [BUILD_DIR] [ROUNDS]
#   BUILD_DIR  where cocoon-measure was built (default: build)
#   ROUNDS     timed rounds per command after one warm-up round (default: 7, at least 5)
# env: SEV_SNP_MEASURE=/path/to/sev-snp-measure adds that tool as a further row (optional).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
rounds=${2:-7}
[ "$rounds" -ge 5 ] || { echo "bench-measure: use at least 5 rounds" >&2; exit 2; }
measure=$build/cocoon-measure
[ -x "$measure" ] || { echo "bench-measure: $measure not built (cmake --build $build --target cocoon-measure)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "bench-measure: openssl missing (tools/deps.sh)" >&2; exit 2; }

work=$(mktemp -d /tmp/cocoon-bench-measure.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A 4 MiB firmware whose last 4 KiB are a real edk2 AmdSevX64 footer (GUID table, ASEV metadata
# with SNP_KERNEL_HASHES, SEV hash table), so SNP measures a kernel exactly as with a real AmdSev
# OVMF; the 4 MiB - 4 KiB before it are random bytes standing in for the code volumes (the SNP
# walk hashes every page whatever it holds). Without ../shared, an equivalent synthetic footer.
suffix=$here/../shared/vectors/snp/fixtures/ovmf_AmdSev_suffix.bin
head -c $((4 * 1024 * 1024 - 4096)) /dev/urandom >"$work/fw.fd"
if [ -f "$suffix" ]; then
    cat "$suffix" >>"$work/fw.fd"
    fw_note="random 4 MiB - 4 KiB + the real edk2-stable202405 AmdSevX64 last 4 KiB"
else
    python3 - "$work/fw.fd" <<'EOF'
import struct, sys, uuid
g = lambda s: uuid.UUID(s).bytes_le
path = sys.argv[1]
tail = bytearray(4096)
struct.pack_into("<4sIII", tail, 0, b"ASEV", 16 + 12 * 4, 1, 4)
for i, s in enumerate([(0x800000, 0x9000, 1), (0x80d000, 0x1000, 2), (0x80e000, 0x1000, 3),
                       (0x810000, 0x1000, 0x10)]):
    struct.pack_into("<III", tail, 16 + 12 * i, *s)
ent = lambda guid, data: data + struct.pack("<H", len(data) + 18) + g(guid)
body = (ent("00f771de-1a7e-4fcb-890e-68c77e2fb44e", struct.pack("<I", 0x80b004)) +
        ent("7255371f-3a3b-4b04-927b-1da6efa8d454", struct.pack("<II", 0x810c00, 0x400)) +
        ent("dc886566-984a-4798-a75e-5585a7bf67cc", struct.pack("<I", 4096)))
foot = 4096 - 50
tail[foot - len(body):foot] = body
tail[foot:foot + 18] = struct.pack("<H", len(body) + 18) + g("96b582de-1fb2-45f7-baea-a366c55a082d")
open(path, "ab").write(tail)
EOF
    fw_note="random 4 MiB - 4 KiB + a synthetic AmdSev-style footer (../shared absent)"
fi
head -c $((16 * 1024 * 1024)) /dev/urandom >"$work/kernel"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$work/initrd"

snp=("$measure" --mode snp --vcpus 4 --vcpu-type EPYC-Milan --guest-features 0x21
     --ovmf "$work/fw.fd" --kernel "$work/kernel" --initrd "$work/initrd"
     --append "console=ttyS0 root=/dev/vda")
floor() {
    openssl dgst -sha384 "$work/fw.fd" >/dev/null
    openssl dgst -sha256 "$work/kernel" "$work/initrd" >/dev/null
}
run_snp() { "${snp[@]}" >/dev/null; }
run_fw_floor() { openssl dgst -sha384 "$work/fw.fd" >/dev/null; }
run_tdx() { "$measure" tdx --firmware "$work/tdx.fd" >/dev/null; }
run_tdx_floor() { openssl dgst -sha384 "$work/tdx.fd" >/dev/null; }
run_ovmf_hash() { "$measure" --mode snp:ovmf-hash --ovmf "$work/fw.fd" >/dev/null; }
run_ssm() {
    "$SEV_SNP_MEASURE" --mode snp --vcpus 4 --vcpu-type EPYC-Milan --guest-features 0x21 \
        --ovmf "$work/fw.fd" --kernel "$work/kernel" --initrd "$work/initrd" \
        --append "console=ttyS0 root=/dev/vda" >/dev/null
}

# Optional TDX row: Debian's OVMF.fd (2 MiB, TDVF metadata) if installed.
have_tdx=0
if [ -f /usr/share/ovmf/OVMF.fd ]; then
    cp /usr/share/ovmf/OVMF.fd "$work/tdx.fd"
    have_tdx=1
fi

now_ns() { date +%s%N; }
declare -A samples
time_one() { # name function
    local t0 t1
    t0=$(now_ns)
    "$2"
    t1=$(now_ns)
    samples[$1]+="$(((t1 - t0) / 1000)) "
}
median_ms() { # name -> median in ms with 1 decimal
    tr ' ' '\n' <<<"${samples[$1]}" | grep -v '^$' | sort -n |
        awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}'
}

pairs=("snp:run_snp" "floor:floor" "ovmf_hash:run_ovmf_hash" "fw_floor:run_fw_floor")
[ "$have_tdx" = 1 ] && pairs+=("tdx:run_tdx" "tdx_floor:run_tdx_floor")
[ -n "${SEV_SNP_MEASURE:-}" ] && pairs+=("ssm:run_ssm")

# Warm-up (page cache, dynamic loader), then alternate the commands round by round.
for p in "${pairs[@]}"; do "${p#*:}"; done
for ((r = 0; r < rounds; r++)); do
    for p in "${pairs[@]}"; do time_one "${p%%:*}" "${p#*:}"; done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
snp_ms=$(median_ms snp); floor_ms=$(median_ms floor)
oh_ms=$(median_ms ovmf_hash); fwf_ms=$(median_ms fw_floor)
echo "cocoon-measure benchmark: $rounds rounds after warm-up, medians; $(nproc) CPUs,"
echo "$(openssl version | cut -d' ' -f1-2); firmware: $fw_note; kernel 16 MiB, initrd 64 MiB (random)."
echo
echo "| what | command | median | vs floor |"
echo "|---|---|---|---|"
echo "| SNP launch digest, 4 vCPUs, kernel+initrd+cmdline | \`cocoon-measure --mode snp ...\` | $snp_ms ms | $(ratio "$snp_ms" "$floor_ms") |"
echo "| floor: the same bytes hashed once | \`openssl dgst -sha384 fw; openssl dgst -sha256 kernel initrd\` | $floor_ms ms | 1.00x |"
echo "| firmware pages only (4 MiB) | \`cocoon-measure --mode snp:ovmf-hash\` | $oh_ms ms | $(ratio "$oh_ms" "$fwf_ms") |"
echo "| floor: firmware hashed once | \`openssl dgst -sha384 fw\` | $fwf_ms ms | 1.00x |"
if [ "$have_tdx" = 1 ]; then
    tdx_ms=$(median_ms tdx); tdxf_ms=$(median_ms tdx_floor)
    echo "| TDX MRTD + CFV, Debian OVMF.fd (2 MiB) | \`cocoon-measure tdx --firmware OVMF.fd\` | $tdx_ms ms | $(ratio "$tdx_ms" "$tdxf_ms") |"
    echo "| floor: OVMF.fd hashed once | \`openssl dgst -sha384 OVMF.fd\` | $tdxf_ms ms | 1.00x |"
fi
if [ -n "${SEV_SNP_MEASURE:-}" ]; then
    ssm_ms=$(median_ms ssm)
    echo "| for scale: sev-snp-measure, same SNP inputs | \`sev-snp-measure --mode snp ...\` | $ssm_ms ms | $(ratio "$ssm_ms" "$floor_ms") |"
fi
