#!/usr/bin/env bash
# Fetch one binary out of a Debian package into the tools cache, without
# installing the package: `apt-get download` and `dpkg-deb -x` (no maintainer
# scripts run, no user or service is created, nothing is started or changed
# outside the cache). install-promtool.sh and install-registry.sh call it.
#
# Usage: scripts/install-deb-binary.sh PACKAGE PATH-IN-PACKAGE VARIABLE
#   e.g. scripts/install-deb-binary.sh prometheus usr/bin/promtool NETDNS_PROMTOOL
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
# Idempotent: a binary already in the cache that runs is kept. Progress goes to
# stderr; stdout is one shell-quoted line, VARIABLE=<path>, for `eval`.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 PACKAGE PATH-IN-PACKAGE VARIABLE" >&2; exit 2; }
package=$1 inner=$2 variable=$3
name=$(basename -- "$inner")

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
tools_dir=${NETDNS_TOOLS_DIR:-$repo_root/target/tools}

log() { printf 'install-%s: %s\n' "$name" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required (a Debian machine)"
done

mkdir -p -- "$tools_dir"
tools_dir=$(cd -- "$tools_dir" && pwd)
binary=$tools_dir/$name

if ! "$binary" --version >/dev/null 2>&1; then
    work=$(mktemp -d "$tools_dir/.$name.XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
    log "downloading Debian's $package package for $name"
    # A fresh machine may have no package index yet.
    if ! (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$package" >&2); then
        apt-get update -q >&2
        (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$package" >&2) \
            || die "apt-get download $package failed"
    fi
    dpkg-deb -x "$work"/"${package}"_*.deb "$work/root"
    "$work/root/$inner" --version >/dev/null 2>&1 \
        || die "the downloaded $name does not run here"
    # Only this binary is kept (the package may hold servers and assets).
    mv -f -- "$work/root/$inner" "$binary"
fi
log "$("$binary" --version 2>&1 | head -n 1)"
printf '%s=%q\n' "$variable" "$binary"
