#!/usr/bin/env bash
# Builds, offline from Debian packages, the runtime base the Dockerfile's final
# stage can stand on instead of gcr.io/distroless/cc-debian12:nonroot.
#
# No container registry is reachable from the test machines, so the distroless
# image cannot be pulled. This assembles the same parts distroless "cc" is made of
# from the files of Debian 12 packages (apt-get download + dpkg-deb -x, no
# maintainer scripts run): libc6, libgcc-s1 (what the dynamically linked binary
# needs), ca-certificates, base-files, netbase and tzdata, plus what distroless adds
# by hand: /etc/passwd and /etc/group with root, nobody and nonroot (65532), an
# nsswitch.conf, the CA bundle and a /var/lib/dpkg/status.d entry per package (so
# image scanners see the package versions). Left out on purpose: manuals and
# changelogs (copyright files stay) and glibc's gconv modules, which only iconv(3)
# loads and a Rust binary never calls.
#
# Usage: scripts/runtime-base.sh [IMAGE]
#   IMAGE              tag to build (default: localhost/netdns-guard-runtime-base:debian12)
#   NETDNS_TOOLS_DIR   cache directory (default: <repo>/target/tools)
#   PODMAN             podman command (default: "podman --runtime runc")
# Needs root (apt-get), podman and dpkg-deb. Prints the image tag on stdout.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
tools_dir=${NETDNS_TOOLS_DIR:-$repo_root/target/tools}
image=${1:-localhost/netdns-guard-runtime-base:debian12}
read -r -a podman <<<"${PODMAN:-podman --runtime runc}"
packages=(libc6 libgcc-s1 ca-certificates base-files netbase tzdata)

log() { printf 'runtime-base: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

for tool in apt-get dpkg-deb "${podman[0]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not on PATH"
done

debs=$tools_dir/runtime-base/debs
mkdir -p -- "$debs"

# One .deb per package, the candidate version of apt's index; a cached file of
# that exact version is reused, so a second run downloads nothing. (One
# apt-cache call for all: it takes seconds on a loaded machine.)
declare -A candidate=()
read_candidates() {
    local pkg='' line
    while IFS= read -r line; do
        if [[ $line =~ ^([a-z0-9.+-]+):$ ]]; then
            pkg=${BASH_REMATCH[1]}
        elif [[ $line =~ Candidate:\ (.+)$ && -n $pkg ]]; then
            candidate[$pkg]=${BASH_REMATCH[1]}
        fi
    done < <(apt-cache policy "${packages[@]}")
}
deb_for() {
    local version=${candidate[$1]:-}
    [[ -n $version && $version != "(none)" ]] || return 1
    compgen -G "$debs/${1}_${version//:/%3a}_*.deb" | head -n 1
}
read_candidates
if ((${#candidate[@]} < ${#packages[@]})); then
    # A fresh machine may have no index yet.
    apt-get update -q >&2
    read_candidates
fi
missing=()
for pkg in "${packages[@]}"; do
    deb_for "$pkg" >/dev/null || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "downloading ${missing[*]}"
    (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "${missing[@]}" >&2) \
        || die "apt-get download ${missing[*]} failed"
fi

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
rootfs=$work/rootfs
mkdir -p -- "$rootfs/var/lib/dpkg/status.d"

for pkg in "${packages[@]}"; do
    deb=$(deb_for "$pkg") || die "no .deb for $pkg in $debs"
    dpkg-deb -x "$deb" "$rootfs"
    { dpkg-deb -f "$deb"; echo "Status: install ok installed"; } \
        >"$rootfs/var/lib/dpkg/status.d/$pkg"
    log "$(basename "$deb")"
done

# Trim what a container never reads; keep every copyright file.
find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
rm -rf -- "$rootfs/usr/share/man" "$rootfs/usr/share/lintian" \
    "$rootfs/usr/lib/x86_64-linux-gnu/gconv"

# The CA bundle update-ca-certificates (a maintainer script) would have made.
mkdir -p -- "$rootfs/etc/ssl/certs"
cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
EOF
printf 'hosts: files dns\nnetworks: files\npasswd: files\ngroup: files\n' \
    >"$rootfs/etc/nsswitch.conf"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
mkdir -m 0700 "$work/home-nonroot"

cat >"$work/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 home-nonroot/ /home/nonroot/
LABEL org.opencontainers.image.title="netdns-guard runtime base" \\
      org.opencontainers.image.description="distroless-cc-like base from Debian 12 packages: ${packages[*]}"
USER 65532:65532
EOF

log "building $image"
"${podman[@]}" build --quiet --network none --file "$work/Containerfile" --tag "$image" "$work" >&2
printf '%s\n' "$image"
