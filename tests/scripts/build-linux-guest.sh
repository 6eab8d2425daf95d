#!/bin/sh
# build-linux-guest.sh: builds the minimal Linux test guest (vmlinux) once and caches it, keyed by config, patch and source version.
#
# Usage: build-linux-guest.sh [--key] [--link DEST] [--extra-config FRAGMENT]
#   Prints the path of the cached vmlinux on stdout (building it first on a cache miss, ~5 min on
#   2 cores). --key prints only the cache key. --link DEST also makes DEST a symlink to it.
#   --extra-config merges FRAGMENT after tiny.config (e.g. tests/linux-guest/acpi.config); it is
#   part of the cache key, so each variant is cached on its own.
# Environment:
#   COCOON_LINUX_GUEST_CACHE  cache root (default /var/cache/cocoon/linux-guest when writable,
#                             else ${XDG_CACHE_HOME:-$HOME/.cache}/cocoon/linux-guest)
#   COCOON_LINUX_GUEST_JOBS   make -j value (default 2)
# The kernel is Debian's linux-source-6.1 + tests/linux-guest/host-quirk.patch, configured as
# `make tinyconfig` merged with tests/linux-guest/tiny.config. Build packages are installed on a
# cache miss only (needs root then), so ordinary builds of cocoon do not pull a kernel tree in.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
guest_dir=$(cd "$here/../linux-guest" && pwd)
config="$guest_dir/tiny.config"
patch="$guest_dir/host-quirk.patch"
src_pkg=linux-source-6.1
build_pkgs="$src_pkg bc bison flex libelf-dev libssl-dev cpio xz-utils make gcc"
# Bump when the recipe below changes in a way that changes the output.
recipe=1

want_key=0
link=""
extra=""
while [ $# -gt 0 ]; do
  case "$1" in
  --key) want_key=1 ;;
  --link) link="$2"; shift ;;
  --extra-config) extra=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
  *) echo "build-linux-guest.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "build-linux-guest: $*" >&2; }

pkg_version() {
  v=$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^install ok installed //p')
  if [ -z "$v" ]; then
    v=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p')
  fi
  if { [ -z "$v" ] || [ "$v" = "(none)" ]; } && [ "$(id -u)" -eq 0 ]; then
    # A fresh machine may not have fetched the package lists yet.
    apt-get update -qq >&2 || true
    v=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p')
  fi
  [ -n "$v" ] && [ "$v" != "(none)" ] || { log "cannot determine the version of $1 (apt-get update?)"; exit 1; }
  echo "$v"
}

cache_root() {
  if [ -n "${COCOON_LINUX_GUEST_CACHE:-}" ]; then
    echo "$COCOON_LINUX_GUEST_CACHE"
  elif mkdir -p /var/cache/cocoon/linux-guest 2>/dev/null && [ -w /var/cache/cocoon/linux-guest ]; then
    echo /var/cache/cocoon/linux-guest
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/cocoon/linux-guest"
  fi
}

src_version=$(pkg_version "$src_pkg")
key=$( {
  echo "recipe $recipe"
  echo "$src_pkg $src_version"
  echo "gcc $(gcc -dumpfullversion 2>/dev/null || echo unknown)"
  cat "$config" "$patch"
  [ -z "$extra" ] || cat "$extra"
} | sha256sum | cut -c1-16)
if [ "$want_key" = 1 ]; then
  echo "$key"
  exit 0
fi

root=$(cache_root)
dir="$root/$key"
out="$dir/vmlinux"
mkdir -p "$root"

install_build_packages() {
  missing=""
  for p in $build_pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "need root to install:$missing"
    exit 1
  fi
  log "installing$missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 || {
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
  }
  now=$(pkg_version "$src_pkg")
  if [ "$now" != "$src_version" ]; then
    log "$src_pkg installed as $now, key was computed for $src_version; rerun"
    exit 1
  fi
}

build_kernel() {
  work=$(mktemp -d "$root/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT INT TERM
  log "cache miss ($key): building vmlinux in $work (about 5 minutes on 2 cores)"
  start=$(date +%s)
  tar -C "$work" -xf "/usr/src/$src_pkg.tar.xz"
  tree="$work/$src_pkg"
  (cd "$tree" && patch -p1 -s <"$patch")
  jobs=${COCOON_LINUX_GUEST_JOBS:-2}
  (
    cd "$tree"
    make -s tinyconfig
    scripts/kconfig/merge_config.sh -m .config "$config" $extra >/dev/null
    make -s olddefconfig
    # Report options of tiny.config that olddefconfig dropped (a typo or a missing dependency
    # would otherwise go unnoticed); some do not exist in every 6.1 point release.
    # (the last fragment setting an option wins, as in merge_config.sh)
    grep -hE '^CONFIG_[A-Z0-9_]+=' "$config" $extra |
      awk -F= '{ if (!($1 in v)) o[n++] = $1; v[$1] = $0 } END { for (i = 0; i < n; i++) print v[o[i]] }' |
      while IFS= read -r line; do
      opt=${line%%=*}
      val=${line#*=}
      if [ "$val" = n ]; then
        ! grep -q "^$opt=" .config || log "warning: $opt should be off but is on"
      else
        grep -qxF "$line" .config || log "warning: $line did not survive olddefconfig"
      fi
    done
    nice -n 10 make -s -j"$jobs" vmlinux
  ) >&2
  mkdir -p "$dir"
  cp "$tree/vmlinux" "$dir/vmlinux.tmp"
  cp "$tree/.config" "$dir/config"
  mv "$dir/vmlinux.tmp" "$out"
  log "built $out in $(($(date +%s) - start)) s"
  rm -rf "$work"
  trap - EXIT INT TERM
}

if [ ! -s "$out" ]; then
  # One builder at a time per cache (ctest fixture and a manual run may race).
  exec 9>"$root/.lock"
  flock 9
  if [ ! -s "$out" ]; then
    install_build_packages
    build_kernel
  fi
  flock -u 9
fi

if [ -n "$link" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn "$out" "$link"
fi
echo "$out"
