#!/usr/bin/env bash
# Fetch the CNCF distribution registry for the registry client's tests
# (tests/registry.rs, tests/support/registry.rs start it on loopback ports).
#
# It ships in Debian's `docker-registry` package. Installing that package would
# also create a system user and a service, so this takes only the binary, as
# install-promtool.sh does: `apt-get download docker-registry` and `dpkg-deb -x`
# into the cache directory (no maintainer scripts run, nothing is started).
#
# Usage: scripts/install-registry.sh
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
# Idempotent: a registry already in the cache is kept. Progress goes to stderr;
# stdout is one shell-quoted line, NETDNS_REGISTRY=<path>, for
# `eval "$(scripts/install-registry.sh)"` (plus export), the variable the tests read.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
tools_dir=${NETDNS_TOOLS_DIR:-$repo_root/target/tools}

log() { printf 'install-registry: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required (a Debian machine)"
done

mkdir -p -- "$tools_dir"
tools_dir=$(cd -- "$tools_dir" && pwd)
registry=$tools_dir/docker-registry

if ! "$registry" --version >/dev/null 2>&1; then
    work=$(mktemp -d "$tools_dir/.registry.XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
    log "downloading Debian's docker-registry package"
    # A fresh machine may have no package index yet.
    if ! (cd "$work" && apt-get download -q -o APT::Sandbox::User=root docker-registry >&2); then
        apt-get update -q >&2
        (cd "$work" && apt-get download -q -o APT::Sandbox::User=root docker-registry >&2) \
            || die "apt-get download docker-registry failed"
    fi
    dpkg-deb -x "$work"/docker-registry_*.deb "$work/root"
    "$work/root/usr/bin/docker-registry" --version >/dev/null 2>&1 \
        || die "the downloaded docker-registry does not run here"
    mv -f -- "$work/root/usr/bin/docker-registry" "$registry"
fi
log "$("$registry" --version 2>&1 | head -n 1)"
printf 'NETDNS_REGISTRY=%q\n' "$registry"
