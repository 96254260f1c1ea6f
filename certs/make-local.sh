#!/usr/bin/env bash
# Make TLS material for running `netdns-guard serve` on this machine, with the
# same names the Helm chart uses (Service netdns-guard in namespace netdns-guard).
#
# Usage: certs/make-local.sh [--service NAME] [--namespace NS] [--days N]
#   NETDNS_GUARD_BIN  use this netdns-guard binary instead of `cargo run --release`
#
# Writes certs/local/{ca.crt,ca.key,tls.crt,tls.key} (git-ignored) and prints the
# commands to serve with them and to send a review with curl.
set -euo pipefail

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=certs/local
service=netdns-guard
namespace=netdns-guard
days=30

while (($#)); do
    case $1 in
        --service) service=$2; shift 2 ;;
        --namespace) namespace=$2; shift 2 ;;
        --days) days=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "make-local.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

cd "$repo_root"
args=(certs --service "$service" --namespace "$namespace" --out-dir "$out_dir" --days "$days")
if [[ -n ${NETDNS_GUARD_BIN:-} ]]; then
    "$NETDNS_GUARD_BIN" "${args[@]}"
else
    cargo run --quiet --release -- "${args[@]}"
fi
# The CA key signs anything the local CA is trusted for: keep it private.
chmod 0600 "$out_dir/ca.key" "$out_dir/tls.key"

cat <<EOT

Serve with them (HTTPS on 8443, probes and metrics on 8080):

  cargo run --release -- serve --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:8080 \\
    --tls-cert $out_dir/tls.crt --tls-key $out_dir/tls.key --config examples/policy.yaml

Send a review (the certificate is for $service.$namespace.svc, so pin that name to
127.0.0.1 for curl):

  curl --cacert $out_dir/ca.crt --resolve $service.$namespace.svc:8443:127.0.0.1 \\
    -H 'Content-Type: application/json' --data @tests/data/review-promtail.json \\
    'https://$service.$namespace.svc:8443/mutate?timeout=10s'

The caBundle a MutatingWebhookConfiguration would need:

  base64 -w0 $out_dir/ca.crt
EOT
