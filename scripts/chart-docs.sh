#!/usr/bin/env bash
# The chart's documentation from one source: the `## @param` comments of
# charts/netdns-guard/values.yaml (their format is described at its top).
#
#   scripts/chart-docs.sh           rewrite the README's Parameters tables and the
#                                   descriptions in values.schema.json from values.yaml
#   scripts/chart-docs.sh --check   change nothing; exit 1, naming each key that
#                                   drifted and showing a diff, when they differ
#
# The tables are rendered by @bitnami/readme-generator-for-helm, installed from the
# npm registry with the versions pinned in scripts/chart-docs/package-lock.json
# (`npm ci`, no install scripts) into a cache under target/tools. Only descriptions
# are written into the schema: its types and constraints are hand-written
# (scripts/chart-docs/sync.js explains why).
#
# Usage: scripts/chart-docs.sh [--check]
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
#   NETDNS_CHART_DIR   chart to document (default: <repo>/charts/netdns-guard)
# Exit status: 0 in step (or rewritten), 1 drift or bad documentation, 2 setup error.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
tools_dir=${NETDNS_TOOLS_DIR:-$repo_root/target/tools}
chart=${NETDNS_CHART_DIR:-$repo_root/charts/netdns-guard}
pins=$script_dir/chart-docs

log() { printf 'chart-docs.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

mode=()
case ${1:-} in
    '') ;;
    --check) mode=(--check) ;;
    *) die "usage: scripts/chart-docs.sh [--check]" ;;
esac
(($# <= 1)) || die "usage: scripts/chart-docs.sh [--check]"

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not on PATH (Debian: apt-get install nodejs npm)"
done

# --- readme-generator, pinned by the lock file -----------------------------------
# The cache directory is named after the generator's version; it is reused only
# while it holds the very lock file this checkout pins.
version=$(node -p 'require(process.argv[1]).packages["node_modules/@bitnami/readme-generator-for-helm"].version' \
    "$pins/package-lock.json") || die "cannot read the pinned version from $pins/package-lock.json"
mkdir -p -- "$tools_dir"
tools_dir=$(cd -- "$tools_dir" && pwd)
install_dir=$tools_dir/readme-generator-$version

installed() {
    [[ -f $install_dir/node_modules/@bitnami/readme-generator-for-helm/bin/index.js ]] \
        && cmp -s -- "$pins/package-lock.json" "$install_dir/package-lock.json"
}

if ! installed; then
    log "installing @bitnami/readme-generator-for-helm $version into $install_dir"
    # Install beside the cache and rename into place, so a concurrent run sees
    # either no generator or a complete one.
    work=$(mktemp -d "$tools_dir/.readme-generator.XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
    cp -- "$pins/package.json" "$pins/package-lock.json" "$work/"
    (cd "$work" && npm ci --silent --ignore-scripts --no-audit --no-fund >&2) \
        || die "npm ci of @bitnami/readme-generator-for-helm $version failed"
    # A concurrent run may have finished first: then its copy stays and ours goes.
    installed || rm -rf -- "$install_dir"
    mv -T -- "$work" "$install_dir" 2>/dev/null || installed \
        || die "cannot move the generator into $install_dir"
fi

node "$pins/sync.js" --tool "$install_dir" --chart "$chart" "${mode[@]}"
