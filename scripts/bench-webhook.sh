#!/usr/bin/env bash
# Webhook speed against the ceiling (ARCHITECTURE.md, "The webhook server", "Speed"): runs
# ../shared/bench/compare.sh for HTTP/1.1 at 1, 16 and 64 connections with the
# shared review body, and prints each run's ratio and RSS lines.
#
# Needs the shared bench folder (../shared/bench, or BENCH_DIR) and h2load
# (Debian nghttp2-client, installed here when missing). Run it on a quiet
# machine: the figures are CPU-time ratios on one pinned core.
#
# The shared body's pod (fluent-bit, not a Go program) comes out unchanged; the
# patched path (decision, JSON Patch, base64 in the answer) is measured with
# BODY=benches/bodies/review-pod-promtail.json, the same review with a promtail
# container.
#
#   scripts/bench-webhook.sh             # all three concurrency levels
#   CONCS="16" ROUNDS=5 scripts/bench-webhook.sh
#   BODY=benches/bodies/review-pod-promtail.json scripts/bench-webhook.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH_DIR:-../shared/bench}
[[ -x $bench/compare.sh ]] || { echo "bench-webhook: no $bench/compare.sh" >&2; exit 2; }
command -v h2load >/dev/null || apt-get install -y nghttp2-client >&2

cargo build --release --locked >&2
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
target/release/netdns-guard certs --service netdns-guard --namespace netdns-guard --out-dir "$certs" >&2

port=${PORT:-18443}
for conc in ${CONCS:-1 16 64}; do
  echo "== HTTP/1.1, $conc connection(s)"
  PROTO=h1 CONC=$conc ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10} \
    "$bench/compare.sh" "https://127.0.0.1:$port/mutate?timeout=10s" -- \
    target/release/netdns-guard serve --listen "127.0.0.1:$port" --metrics-listen off \
      --tls-cert "$certs/tls.crt" --tls-key "$certs/tls.key" \
    | grep -E '^(rss_kb|ratio|median)'
done
