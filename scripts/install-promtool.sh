#!/usr/bin/env bash
# Fetch promtool for the chart's alert and dashboard tests (tests/chart_day_two.rs,
# tests/monitoring_queries.rs): `promtool check rules` and `promtool test rules`.
#
# promtool ships in Debian's `prometheus` package. Installing that package would
# also set up a Prometheus server and its service, so this takes only the files:
# `apt-get download prometheus` and `dpkg-deb -x` into the cache directory (no
# maintainer scripts run, nothing is started or changed outside the cache).
#
# Usage: scripts/install-promtool.sh
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
# Idempotent: a promtool already in the cache is kept. Progress goes to stderr;
# stdout is one shell-quoted line, NETDNS_PROMTOOL=<path>, for
# `eval "$(scripts/install-promtool.sh)"` (plus export), the variable the tests read.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
tools_dir=${NETDNS_TOOLS_DIR:-$repo_root/target/tools}

log() { printf 'install-promtool: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required (a Debian machine)"
done

mkdir -p -- "$tools_dir"
tools_dir=$(cd -- "$tools_dir" && pwd)
promtool=$tools_dir/promtool

if ! "$promtool" --version >/dev/null 2>&1; then
    work=$(mktemp -d "$tools_dir/.promtool.XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
    log "downloading Debian's prometheus package for promtool"
    # A fresh machine may have no package index yet.
    if ! (cd "$work" && apt-get download -q -o APT::Sandbox::User=root prometheus >&2); then
        apt-get update -q >&2
        (cd "$work" && apt-get download -q -o APT::Sandbox::User=root prometheus >&2) \
            || die "apt-get download prometheus failed"
    fi
    dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
    "$work/root/usr/bin/promtool" --version >/dev/null 2>&1 \
        || die "the downloaded promtool does not run here"
    # Only promtool is kept (the package also holds the server and its assets).
    mv -f -- "$work/root/usr/bin/promtool" "$promtool"
fi
log "$("$promtool" --version 2>&1 | head -n 1)"
printf 'NETDNS_PROMTOOL=%q\n' "$promtool"
