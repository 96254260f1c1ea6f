#!/usr/bin/env bash
# Installs, when missing, what the tests that run real Go need (Debian, apt, as root):
#
#   - Go 1.19 and Go 1.23: Debian's golang-1.19-go (bookworm) and golang-1.23-go
#     (bookworm-backports; the suite is added to apt's sources when no source names
#     it), and gcc with libc6-dev for cgo. The resolver lab builds with them; the
#     build-info tests compare against their `go version -m`.
#   - with --go-programs: Debian's podman and runc, Go programs nobody here built
#     (Go 1.19, cgo, tags, stripped), read by the build-info tests.
#
# Usage: scripts/install-go.sh [--go-programs]
#   NETDNS_LAB_GO119, NETDNS_LAB_GO123   the go commands (default /usr/lib/go-1.{19,23}/bin/go)
# Exit status: 0 when everything is there, 2 when it could not be installed.
set -euo pipefail

log() { printf 'install-go: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

go_programs=0
case "${1:-}" in
    --go-programs) go_programs=1 ;;
    "") ;;
    *) die "unknown argument: $1" ;;
esac

go119=${NETDNS_LAB_GO119:-/usr/lib/go-1.19/bin/go}
go123=${NETDNS_LAB_GO123:-/usr/lib/go-1.23/bin/go}

# apt reads *.list and *.sources only.
has_backports() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] && grep -Eq '^[^#]*bookworm-backports' "$f" && return 0
    done
    return 1
}

packages=()
[[ -x $go119 ]] || packages+=(golang-1.19-go)
command -v gcc >/dev/null 2>&1 || packages+=(gcc libc6-dev)
if ((go_programs)); then
    [[ -x /usr/bin/podman ]] || packages+=(podman)
    [[ -x /usr/sbin/runc ]] || packages+=(runc)
fi
if ((${#packages[@]})) || [[ ! -x $go123 ]]; then
    [[ $(id -u) == 0 ]] || die "needs root to install ${packages[*]} ${go123}"
    if [[ ! -x $go123 ]] && ! has_backports; then
        # shellcheck disable=SC1091
        codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
        [[ $codename == bookworm ]] || die "golang-1.23-go comes from bookworm-backports; this is '${codename:-unknown}', install Go 1.23 at $go123 by hand"
        log "adding the bookworm-backports suite to apt's sources"
        cat >/etc/apt/sources.list.d/netdns-guard-bookworm-backports.sources <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    fi
    want123=
    [[ -x $go123 ]] || want123=golang-1.23-go
    log "installing with apt: ${packages[*]} ${want123}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    if ((${#packages[@]})); then
        apt-get install -y -q --no-install-recommends "${packages[@]}" >&2
    fi
    if [[ -n $want123 ]]; then
        apt-get install -y -q --no-install-recommends -t bookworm-backports golang-1.23-go >&2
    fi
fi
[[ -x $go119 && -x $go123 ]] || die "Go toolchains missing after install: $go119 $go123"
command -v gcc >/dev/null 2>&1 || die "gcc missing after install"
if ((go_programs)); then
    [[ -x /usr/bin/podman && -x /usr/sbin/runc ]] || die "podman or runc missing after install"
fi
