#!/usr/bin/env bash
# Fetch promtool for the chart's alert and dashboard tests (tests/chart/day_two.rs,
# tests/chart/monitoring_queries.rs): `promtool check rules` and `promtool test rules`.
#
# promtool ships in Debian's `prometheus` package. Installing that package would
# also set up a Prometheus server and its service, so this takes only the files:
# `apt-get download prometheus` and `dpkg-deb -x` into the cache directory (no
# maintainer scripts run, nothing is started or changed outside the cache).
#
# Usage: scripts/install-promtool.sh
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
# Idempotent: a promtool already in the cache is kept. Progress goes to stderr;
# stdout is one shell-quoted line, NETDNS_PROMTOOL=<path>, for
# `eval "$(scripts/install-promtool.sh)"` (plus export), the variable the tests read.
set -euo pipefail

exec "$(dirname -- "${BASH_SOURCE[0]}")/install-deb-binary.sh" prometheus usr/bin/promtool NETDNS_PROMTOOL
