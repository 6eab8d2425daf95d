#!/bin/sh
# fetch-debian-kernel.sh: test set-up: fetches Debian's cloud kernel with apt and extracts its vmlinux.
#
# Usage: fetch-debian-kernel.sh OUTDIR
# Downloads the linux-image-*-cloud-amd64 package that linux-image-cloud-amd64 depends on
# (`apt-get download`, `dpkg-deb -x`, nothing is installed) into a cache outside the build tree,
# keyed by package name and version:
#   ${COCOON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cocoon}/debian-kernel/<pkg>_<version>/
# and extracts the uncompressed vmlinux (the bzImage's LZ4 payload). Then points
# OUTDIR/bzImage, OUTDIR/vmlinux and OUTDIR/VERSION at the cached files. Idempotent; without
# network it reuses the newest cached kernel. Exit 77 (test skipped) when no kernel can be had.
set -eu

outdir=${1:?usage: fetch-debian-kernel.sh OUTDIR}
cache=${COCOON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cocoon}/debian-kernel
meta=linux-image-cloud-amd64
mkdir -p "$cache" "$outdir"

skip() {
    echo "fetch-debian-kernel: SKIP: $*" >&2
    exit 77
}

# Checks that $1 is an x86 bzImage and writes its LZ4 payload (without the appended size) to $2.
extract_payload() {
    python3 - "$1" "$2" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
    sys.exit("not a bzImage: %s" % sys.argv[1])
setup_sects = data[0x1F1] or 4
off, length = struct.unpack_from("<II", data, 0x248)
start = (setup_sects + 1) * 512 + off
payload = data[start:start + length]
if len(payload) != length or length < 8:
    sys.exit("payload_offset/payload_length point outside %s" % sys.argv[1])
# Legacy LZ4 frame (lz4 -l): magic 0x184C2102. The kernel build appends the 4-byte
# uncompressed size, which lz4 would read as a bogus block header.
if payload[:4] != b"\x02\x21\x4c\x18":
    sys.exit("payload is not LZ4 (magic %s)" % payload[:4].hex())
open(sys.argv[2], "wb").write(payload[:-4])
PY
}

# Checks that $1 is an ELF file with a Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 18).
check_pvh_elf() {
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
if d[:4] != b"\x7fELF" or d[4] != 2:
    sys.exit("not an ELF64 file")
phoff, = struct.unpack_from("<Q", d, 0x20)
phentsize, phnum = struct.unpack_from("<HH", d, 0x36)
for i in range(phnum):
    p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", d, phoff + i * phentsize)
    if p_type != 4:
        continue
    pos, end = p_offset, p_offset + p_filesz
    while pos + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", d, pos)
        name = d[pos + 12:pos + 12 + namesz]
        if ntype == 18 and name.rstrip(b"\0") == b"Xen":
            sys.exit(0)
        pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
sys.exit("no XEN_ELFNOTE_PHYS32_ENTRY note")
PY
}

# Fills directory $1 (a cache entry for package file $2) with bzImage and vmlinux.
unpack() {
    tmp="$1.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    dpkg-deb -x "$2" "$tmp/root"
    vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-* 2>/dev/null | head -n 1)
    [ -n "$vmlinuz" ] || { echo "fetch-debian-kernel: no /boot/vmlinuz-* in $2" >&2; exit 1; }
    cp "$vmlinuz" "$tmp/bzImage"
    extract_payload "$tmp/bzImage" "$tmp/vmlinux.lz4"
    lz4 -d -q -f "$tmp/vmlinux.lz4" "$tmp/vmlinux"
    check_pvh_elf "$tmp/vmlinux"
    basename "$vmlinuz" | sed 's/^vmlinuz-//' >"$tmp/RELEASE"
    rm -rf "$tmp/root" "$tmp/vmlinux.lz4"
    rm -rf "$1"
    mv "$tmp" "$1"
}

for tool in apt-cache apt-get dpkg-deb lz4 python3; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (run tools/deps.sh)"
done

# The real versioned package behind the meta-package, and its candidate version.
real_package() {
    apt-cache depends "$meta" 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1 || true
}
pkg=$(real_package)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
    # A fresh machine may never have fetched the package lists.
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(real_package)
fi
ver=""
[ -n "$pkg" ] && ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n 1)

entry=""
if [ -n "$pkg" ] && [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
    key="${pkg}_$(echo "$ver" | tr ':/' '__')"
    entry="$cache/$key"
    if [ ! -s "$entry/vmlinux" ]; then
        dl="$cache/download"
        rm -rf "$dl"
        mkdir -p "$dl"
        chmod 0777 "$dl" # apt-get download drops to the _apt user when run as root
        if (cd "$dl" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$dl/log"); then
            unpack "$entry" "$(ls "$dl"/*.deb | head -n 1)"
            rm -rf "$dl"
        else
            echo "fetch-debian-kernel: apt-get download $pkg=$ver failed: $(tail -n 1 "$dl/log")" >&2
            entry=""
        fi
    fi
else
    echo "fetch-debian-kernel: apt does not know $meta (no network or apt-get update needed)" >&2
fi

if [ -z "$entry" ]; then
    # Offline: fall back to the newest complete cache entry.
    entry=$(ls -d "$cache"/linux-image-*/ 2>/dev/null | sed 's:/$::' | sort -V | tail -n 1 || true)
    [ -n "$entry" ] && [ -s "$entry/vmlinux" ] || skip "no Debian kernel cached and none downloadable"
    echo "fetch-debian-kernel: using cached $(basename "$entry")" >&2
fi

ln -sfn "$entry/bzImage" "$outdir/bzImage"
ln -sfn "$entry/vmlinux" "$outdir/vmlinux"
basename "$entry" >"$outdir/VERSION"
echo "fetch-debian-kernel: $(basename "$entry") ($(cat "$entry/RELEASE")) -> $outdir"
