#!/usr/bin/env bash
# The resolver lab (issue 6; ARCHITECTURE.md, "Why Go takes the cgo resolver", "Real parts the tests run"): netdns-guard's fix proved on
# real Go 1.19 and Go 1.23 runtimes. See lab.py for what is checked.
#
# Installs what it needs when missing, then runs lab.py, which re-executes itself
# in a private mount namespace (unshare -m) and bind-mounts its own resolv.conf,
# nsswitch.conf and hosts there; the machine's files are checked unchanged at the
# end. Needs root (apt-get, unshare, mount), as CI and the developers' machines are.
#
#   - Go: Debian's golang-1.19-go (bookworm) and golang-1.23-go (bookworm-backports),
#     installed by scripts/install-go.sh. Builds are cached in
#     target/resolver-lab/gocache; nothing is downloaded by the go command
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

NETDNS_LAB_GO119=$go119 NETDNS_LAB_GO123=$go123 scripts/install-go.sh || die "could not install the Go toolchains and gcc"

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
