#!/usr/bin/env bash
# Build-info reading, process to process: `netdns-guard inspect -o json FILE`
# against Go's own reader, `go version -m FILE`, on the same large Go binaries
# (the in-memory figure is `cargo bench -p netdns-guard-buildinfo --bench read`).
# Reports wall and CPU time per run and peak RSS for each side.
#
#   scripts/bench-buildinfo.sh [--runs N] [FILE...]
#
# FILE defaults to Helm 4 and 3 (scripts/install-helm.sh) and Debian's podman.
#   NETDNS_GUARD_BIN  netdns-guard to time (default: target/release/netdns-guard, built if missing)
#   NETDNS_LAB_GO123  Go 1.23's go command (default: /usr/lib/go-1.23/bin/go)
# The binaries are copied under target/bench/ first, so a concurrent cargo build
# cannot swap them mid-run; the two sides are interleaved run by run.
set -euo pipefail

runs=10
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done

cd "$(dirname "$0")/.."
out=target/bench
mkdir -p "$out/bin"
go=${NETDNS_LAB_GO123:-/usr/lib/go-1.23/bin/go}
[ -x "$go" ] || { echo "Go 1.23 not found at $go (tests/resolver-lab/run.sh installs it)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)" >&2; exit 2; }
bin=${NETDNS_GUARD_BIN:-target/release/netdns-guard}
if [ -z "${NETDNS_GUARD_BIN:-}" ] && [ ! -x "$bin" ]; then
  cargo build --release --locked --bin netdns-guard >&2
fi
cp "$bin" "$out/bin/netdns-guard"
if [ ${#files[@]} -eq 0 ]; then
  for f in target/tools/helm4 target/tools/helm3 /usr/bin/podman; do
    [ -f "$f" ] && files+=("$f")
  done
fi
[ ${#files[@]} -gt 0 ] || { echo "no files: run scripts/install-helm.sh or name some" >&2; exit 2; }

# One timed run: prints "wall_s cpu_s max_rss_kb".
timed() {
  /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" "$@" >/dev/null 2>&1
  awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$out/time.txt"
}

printf '%-14s %6s  %-24s %10s %10s %10s\n' file MB side 'wall ms' 'cpu ms' 'rss MB'
for f in "${files[@]}"; do
  mb=$(( $(stat -c %s "$f") / 1048576 ))
  declare -A wall=() cpu=() rss=()
  for ((i = 0; i < runs; i++)); do
    for side in inspect go; do
      if [ "$side" = inspect ]; then
        read -r w c m < <(timed "$out/bin/netdns-guard" inspect -o json "$f")
      else
        read -r w c m < <(timed "$go" version -m "$f")
      fi
      wall[$side]=$(awk -v a="${wall[$side]:-0}" -v b="$w" 'BEGIN { print a + b }')
      cpu[$side]=$(awk -v a="${cpu[$side]:-0}" -v b="$c" 'BEGIN { print a + b }')
      (( m > ${rss[$side]:-0} )) && rss[$side]=$m
    done
  done
  for side in inspect go; do
    label="netdns-guard inspect"
    [ "$side" = go ] && label="go version -m"
    awk -v f="$(basename "$f")" -v mb="$mb" -v l="$label" -v w="${wall[$side]}" -v c="${cpu[$side]}" \
        -v m="${rss[$side]}" -v n="$runs" \
        'BEGIN { printf "%-14s %6d  %-24s %10.1f %10.1f %10.1f\n", f, mb, l, 1000 * w / n, 1000 * c / n, m / 1024 }'
  done
  unset wall cpu rss
done
