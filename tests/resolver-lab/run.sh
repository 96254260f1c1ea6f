#!/usr/bin/env bash
# The resolver lab (issue 6; ARCHITECTURE.md, "Why Go takes the cgo resolver", "Real parts the tests run"): netdns-guard's fix proved on
# real Go 1.19 and Go 1.23 runtimes. See lab.py for what is checked.
#
# Installs what it needs when missing, then runs lab.py, which re-executes itself
# in a private mount namespace (unshare -m) and bind-mounts its own resolv.conf,
# nsswitch.conf and hosts there; the machine's files are checked unchanged at the
# end. Needs root (apt-get, unshare, mount), as CI and the developers' machines are.
#
#   - Go: Debian's golang-1.19-go (bookworm) and golang-1.23-go (bookworm-backports;
#     the suite is added to apt's sources when no source names it). Builds are cached
#     in target/resolver-lab/gocache; nothing is downloaded by the go command
#     (GOPROXY=off, GOTOOLCHAIN=local, standard library only).
#   - gcc (cgo and the LD_PRELOAD object), PyYAML (reads the original manifests;
#     on the machine image, else installed from PyPI into target/resolver-lab/pydeps).
#
# Usage: tests/resolver-lab/run.sh [lab.py options]
#   NETDNS_GUARD_BIN   netdns-guard binary to test (default: cargo build's target/debug/netdns-guard)
# Exit status: 0 when every check passed, 1 when any failed, 2 when the lab could not run.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf 'resolver-lab: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[[ $(id -u) == 0 ]] || die "needs root (apt-get, unshare -m, mount --bind)"
for tool in unshare mount python3 sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not on PATH"
done

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
want123=
[[ -x $go119 ]] || packages+=(golang-1.19-go)
command -v gcc >/dev/null 2>&1 || packages+=(gcc libc6-dev)
if ((${#packages[@]})) || [[ ! -x $go123 ]]; then
    if [[ ! -x $go123 ]] && ! has_backports; then
        # shellcheck disable=SC1091
        codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
        [[ $codename == bookworm ]] || die "golang-1.23-go comes from bookworm-backports; this is '${codename:-unknown}', install Go 1.23 at $go123 by hand"
        log "adding the bookworm-backports suite to apt's sources"
        cat >/etc/apt/sources.list.d/netdns-guard-bookworm-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    fi
    [[ -x $go123 ]] || want123=golang-1.23-go
    log "installing with apt: ${packages[*]} ${want123:-}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    if ((${#packages[@]})); then
        apt-get install -y -q --no-install-recommends "${packages[@]}" >&2
    fi
    if [[ ! -x $go123 ]]; then
        apt-get install -y -q --no-install-recommends -t bookworm-backports golang-1.23-go >&2
    fi
fi
[[ -x $go119 && -x $go123 ]] || die "Go toolchains missing after install: $go119 $go123"
command -v gcc >/dev/null 2>&1 || die "gcc missing after install"

if ! python3 -c 'import yaml' 2>/dev/null; then
    pydeps=target/resolver-lab/pydeps
    if ! PYTHONPATH=$pydeps python3 -c 'import yaml' 2>/dev/null; then
        log "installing PyYAML into $pydeps (PyPI)"
        python3 -m pip install --quiet --target "$pydeps" pyyaml >&2
    fi
fi

bin=${NETDNS_GUARD_BIN:-}
if [[ -z $bin ]]; then
    cargo build --locked --quiet --bin netdns-guard
    bin=target/debug/netdns-guard
fi

files=(/etc/resolv.conf /etc/nsswitch.conf /etc/hosts)
before=$(sha256sum "${files[@]}")
status=0
NETDNS_LAB_GO119=$go119 NETDNS_LAB_GO123=$go123 python3 tests/resolver-lab/lab.py --bin "$bin" "$@" || status=$?
after=$(sha256sum "${files[@]}")
if [[ $before != "$after" ]]; then
    log "error: the machine's ${files[*]} changed during the lab"
    exit 1
fi
exit "$status"
