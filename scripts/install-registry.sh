#!/usr/bin/env bash
# Fetch the CNCF distribution registry for the registry client's tests
# (tests/registry.rs; tests/support/registry.rs starts it on loopback ports).
#
# It ships in Debian's `docker-registry` package. Installing that package would
# also create a system user and a service, so only the binary is taken, into
# the tools cache (scripts/install-deb-binary.sh).
#
# Usage: scripts/install-registry.sh
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
# stdout is one shell-quoted line, NETDNS_REGISTRY=<path>, for
# `eval "$(scripts/install-registry.sh)"` (plus export), the variable the tests read.
set -euo pipefail

exec "$(dirname -- "${BASH_SOURCE[0]}")/install-deb-binary.sh" docker-registry usr/bin/docker-registry NETDNS_REGISTRY
