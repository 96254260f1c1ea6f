#!/usr/bin/env bash
# Static security checks (checkov) over the rendered Helm chart, for every
# certificate mode and the optional objects.
#
# Installs a pinned checkov from PyPI into a virtualenv under target/tools (the
# only network access is pip to PyPI), renders charts/netdns-guard with Helm 3
# (scripts/install-helm.sh fetches it when missing) and runs checkov on each
# rendering with charts/netdns-guard/.checkov.yaml, whose skipped checks are
# justified there and in charts/netdns-guard/README.md.
#
# Usage: scripts/checkov.sh
#   NETDNS_TOOLS_DIR     cache directory (default: <repo>/target/tools)
#   NETDNS_CHECKOV_VERSION  checkov version (default pinned below)
#   NETDNS_HELM3         helm 3 binary (default: $NETDNS_TOOLS_DIR/helm3)
#   PYTHON               interpreter for the virtualenv (default: python3)
# Exit status: 0 when every rendering passes, 1 on any failed check, 2 on a
# setup error.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
tools_dir=${NETDNS_TOOLS_DIR:-$repo_root/target/tools}
checkov_version=${NETDNS_CHECKOV_VERSION:-3.3.30}
python=${PYTHON:-python3}
chart=$repo_root/charts/netdns-guard
config=$chart/.checkov.yaml
venv=$tools_dir/checkov-venv

log() { printf 'checkov.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

mkdir -p -- "$tools_dir"

# --- checkov, pinned, in its own virtualenv -----------------------------------
installed_version() {
    [[ -x $venv/bin/checkov ]] && "$venv/bin/checkov" --version 2>/dev/null | tail -n 1
}
if [[ $(installed_version || true) != "$checkov_version" ]]; then
    log "installing checkov $checkov_version into $venv"
    command -v "$python" >/dev/null 2>&1 || die "$python not found"
    rm -rf -- "$venv"
    "$python" -m venv "$venv" \
        || die "cannot create a virtualenv (Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
        "checkov==$checkov_version" || die "pip install checkov==$checkov_version failed"
fi
log "checkov $(installed_version)"

# --- helm ---------------------------------------------------------------------
helm=${NETDNS_HELM3:-$tools_dir/helm3}
if [[ ! -x $helm ]]; then
    eval "$("$script_dir/install-helm.sh")"
    helm=$NETDNS_HELM3
fi

# --- render -------------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
export HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data \
    HELM_CACHE_HOME=$work/helm/cache KUBECONFIG=$work/no-kubeconfig

# name|helm arguments (one rendering per line)
renderings=(
    "self|--kube-version 1.30.0"
    "self-k8s-1.27|--kube-version 1.27.0"
    "cert-manager|--kube-version 1.30.0 --set certs.mode=cert-manager"
    "cert-manager-issuer|--kube-version 1.30.0 --set certs.mode=cert-manager --set certs.certManager.issuerRef.name=corp-ca --set certs.certManager.issuerRef.kind=ClusterIssuer"
    "provided|--kube-version 1.30.0 --set certs.mode=provided --set certs.existingSecret=netdns-guard-tls --set certs.caBundle=LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
    "all-options|--kube-version 1.30.0 --set networkPolicy.enabled=true --set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true --set metrics.grafanaDashboard.enabled=true --set tests.mutationNamespace=netdns-guard-e2e"
    "autoscaling|--kube-version 1.30.0 --set autoscaling.enabled=true"
    "remediate|--kube-version 1.30.0 --set remediate.onInstall=true --set remediate.cronJob.enabled=true --set remediate.allowDelete=true"
)

status=0
for entry in "${renderings[@]}"; do
    name=${entry%%|*}
    read -r -a args <<<"${entry#*|}"
    out=$work/$name.yaml
    "$helm" template netdns-guard "$chart" --namespace netdns-guard "${args[@]}" >"$out" \
        || die "helm template failed for $name"
    log "== $name: checkov over $(grep -c '^kind:' "$out") objects"
    if ! "$venv/bin/checkov" --config-file "$config" --file "$out"; then
        log "FAILED: $name"
        status=1
    fi
done

if ((status == 0)); then
    log "all renderings passed (skipped checks: see $config)"
else
    log "some renderings have failed checks"
fi
exit "$status"
