#!/usr/bin/env bash
# User-space instructions per admission of the release webhook, under callgrind
# (ARCHITECTURE.md, "The webhook server", "Speed"). Unlike bench-webhook.sh's
# CPU-time ratios, the count does not move with the machine's load, so it compares
# two builds on a busy machine. Kernel time (TCP, wake-ups) is not in it.
#
# Runs the server (pinned to CPU 0) under callgrind twice, answering N1 and then N2
# requests of the shared review body (h2load --h1 -c CONC, on CPU 1), and prints
# (Ir(N2) - Ir(N1)) / (N2 - N1): start-up and handshakes cancel out. Loopback only.
#
#   scripts/instructions-per-request.sh                  # target/release/netdns-guard
#   BIN=/tmp/old-netdns-guard CONC=64 scripts/instructions-per-request.sh
#
# Needs valgrind and h2load (Debian valgrind, nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH_DIR:-../shared/bench}
bin=${BIN:-target/release/netdns-guard}
conc=${CONC:-16} n1=${N1:-500} n2=${N2:-2500} port=${PORT:-18643}
format=${LOG_FORMAT:-text}
for tool in valgrind h2load taskset; do
  command -v "$tool" >/dev/null || { echo "instructions-per-request: needs $tool" >&2; exit 2; }
done
[[ -x $bin ]] || { echo "instructions-per-request: no $bin (cargo build --release)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" certs --service netdns-guard --namespace netdns-guard --out-dir "$work" >/dev/null

# Instructions the server executed, start to exit, answering $1 requests.
instructions_for() {
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$work/cg.$1" \
    "$bin" serve --listen "127.0.0.1:$port" --metrics-listen off --log-format "$format" \
    --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" 2>"$work/log.$1" &
  local pid=$!
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  taskset -c 1 h2load --h1 -c "$conc" -m 1 -n "$1" -d "$bench/review-pod.json" \
    -H 'content-type: application/json' "https://127.0.0.1:$port/mutate?timeout=10s" \
    | grep -E '^(requests|status codes):' >&2
  kill -TERM "$pid"
  wait "$pid" || true
  sed -n 's/^totals: //p' "$work/cg.$1"
}
a=$(instructions_for "$n1")
b=$(instructions_for "$n2")
echo "instructions_per_request=$(((b - a) / (n2 - n1))) conc=$conc log_format=$format bin=$bin"
