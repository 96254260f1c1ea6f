#!/usr/bin/env bash
# Endurance run of the webhook (ARCHITECTURE.md, "The webhook server", "Endurance"):
# two `netdns-guard serve` replicas on loopback under a steady load of real reviews
# at 70% of their measured capacity, for MINUTES (default 10), while the serving
# certificate (every 30 s), the policy (every 45 s, once invalid) and the replicas
# (a rolling restart every 2 minutes) change; shorter runs scale the intervals down.
# The load generator and every check are examples/soak/ (Rust); this script only
# builds it and runs it. It prints one summary table and exits 1 naming the checks
# that failed (2 when the run could not be set up).
#
#   scripts/soak.sh                  # 10 minutes, release builds
#   scripts/soak.sh 1                # the short form (what scripts/test.sh runs)
#   NETDNS_GUARD_BIN=target/debug/netdns-guard SOAK_PROFILE=dev scripts/soak.sh 1
#   SOAK_BREAK=kill scripts/soak.sh 0.3         # must fail: SIGKILL drops requests
#   SOAK_BREAK=expectation scripts/soak.sh 0.3  # must fail: a wrong expected patch
#
# Traffic stays on loopback; the run is bounded by MINUTES plus five minutes.
# The shared fixtures' AdmissionReviews (../shared/fixtures, or SHARED_FIXTURES)
# join the bundled examples when that folder exists.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
profile=${SOAK_PROFILE:-release}

cargo_flags=(--locked)
[[ $profile == release ]] && cargo_flags+=(--release)
bin=${NETDNS_GUARD_BIN:-}
if [[ -z $bin ]]; then
  cargo build "${cargo_flags[@]}" --bin netdns-guard >&2
  bin=target/$profile/netdns-guard
  [[ $profile == dev ]] && bin=target/debug/netdns-guard
fi
cargo build "${cargo_flags[@]}" --example soak >&2
soak=target/$profile/examples/soak
[[ $profile == dev ]] && soak=target/debug/examples/soak

args=(--binary "$bin" --minutes "$minutes")
fixtures=${SHARED_FIXTURES:-../shared/fixtures}/admissionreviews
[[ -d $fixtures ]] && args+=(--fixtures "$fixtures")
[[ -n ${SOAK_BREAK:-} ]] && args+=(--break "$SOAK_BREAK")

limit=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 + 300 }')
exec timeout --kill-after=10 "$limit" "$soak" "${args[@]}"
