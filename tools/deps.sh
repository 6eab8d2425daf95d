#!/bin/sh
# deps.sh: installs the Debian packages cocoon's build, demo and tests need (idempotent).
set -eu
PKGS="build-essential cmake pkg-config clang clang-format lld libclang-rt-14-dev
acpica-tools libuv1-dev liburing-dev libssl-dev libfdt-dev libcmocka-dev libjansson-dev libhttp-parser-dev
libseccomp-dev python3 iproute2 lz4 cpio xz-utils ovmf openssl valgrind seabios qemu-system-data"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
as_root=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "deps.sh: need root (or sudo) to install:$missing" >&2
    exit 1
  fi
  as_root="sudo"
fi
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
