#!/usr/bin/env bash
# Image inspection, process to process: `netdns-guard inspect --no-cache` on an OCI
# layout whose one gzip layer is ~100 MB compressed (incompressible noise plus the
# lab's Go binaries), against `gzip -dc LAYER | tar -t` on the same layer: the least
# any reader of that layer must do. Reports wall and CPU time per run, peak RSS, and
# the two checks of issue 10: peak RSS under 64 MiB, CPU within 1.5x of the baseline.
#
#   scripts/bench-inspect.sh [--runs N] [--mb N]
#
#   NETDNS_GUARD_BIN  netdns-guard to time (default: target/release/netdns-guard,
#                     built if missing)
# The Go binaries are those the image tests build (target/buildinfo-tests/lookup-*;
# `cargo test --test inspect_image` makes them). The image is built once under
# target/bench/inspect/ and reused while its size is the same.
set -euo pipefail

runs=5
mb=100
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --mb) mb="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
out=target/bench/inspect
mkdir -p "$out"
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)" >&2; exit 2; }
bin=${NETDNS_GUARD_BIN:-target/release/netdns-guard}
if [ -z "${NETDNS_GUARD_BIN:-}" ] && [ ! -x "$bin" ]; then
  cargo build --release --locked --bin netdns-guard >&2
fi
cp "$bin" "$out/netdns-guard"
go_binaries=(target/buildinfo-tests/lookup-go1.*)
[ -f "${go_binaries[0]}" ] || {
  echo "no Go binaries in target/buildinfo-tests (cargo test --test inspect_image)" >&2
  exit 2
}

layout="$out/layout-${mb}mb"
if [ ! -f "$layout/index.json" ]; then
  rm -rf "$layout" "$out/rootfs"
  mkdir -p "$out/rootfs/usr/bin" "$out/rootfs/var/lib" "$layout/blobs/sha256"
  cp "${go_binaries[@]}" "$out/rootfs/usr/bin/"
  head -c "${mb}M" /dev/urandom > "$out/rootfs/var/lib/noise.bin"
  tar -C "$out/rootfs" --owner=0 --group=0 -cf "$out/layer.tar" .
  gzip -1 -c "$out/layer.tar" > "$out/layer.tar.gz"
  rm -rf "$out/rootfs"
  python3 - "$out" "$layout" <<'EOF'
import hashlib, json, os, shutil, sys
out, layout = sys.argv[1], sys.argv[2]
def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{layout}/blobs/sha256/{d}", "wb").write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
layer, diff = digest(f"{out}/layer.tar.gz"), digest(f"{out}/layer.tar")
shutil.move(f"{out}/layer.tar.gz", f"{layout}/blobs/sha256/{layer}")
config = put(json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": ["/usr/bin/lookup-go1.23-cgo"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]},
}).encode())
manifest = put(json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + layer,
                "size": os.path.getsize(f"{layout}/blobs/sha256/{layer}")}],
}).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(manifest,
    mediaType="application/vnd.oci.image.manifest.v1+json")]}, open(f"{layout}/index.json", "w"))
open(f"{layout}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(layer)
EOF
  rm -f "$out/layer.tar"
fi
layer=$(ls -S "$layout/blobs/sha256" | head -1)
layer_mb=$(( $(stat -c %s "$layout/blobs/sha256/$layer") / 1048576 ))

# One timed run: prints "wall_s cpu_s max_rss_kb".
timed() {
  /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" "$@" >/dev/null 2>&1 || {
    echo "failed: $*" >&2
    exit 1
  }
  awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$out/time.txt"
}

declare -A wall=() cpu=() rss=()
for ((i = 0; i < runs; i++)); do
  for side in inspect baseline; do
    if [ "$side" = inspect ]; then
      read -r w c m < <(timed "$out/netdns-guard" inspect --no-cache -o json "oci-dir:$layout")
    else
      read -r w c m < <(timed sh -c "gzip -dc '$layout/blobs/sha256/$layer' | tar -t")
    fi
    wall[$side]+="$w " cpu[$side]+="$c " rss[$side]+="$m "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
printf 'layer: %s MB gzip (%s MB asked), %s runs each, medians\n' "$layer_mb" "$mb" "$runs"
printf '%-10s %10s %10s %10s\n' side 'wall s' 'cpu s' 'rss MiB'
for side in inspect baseline; do
  w=$(echo "${wall[$side]}" | median)
  c=$(echo "${cpu[$side]}" | median)
  m=$(echo "${rss[$side]}" | tr ' ' '\n' | grep -v '^$' | sort -g | tail -1)
  printf '%-10s %10s %10s %10.1f\n' "$side" "$w" "$c" "$(echo "$m / 1024" | bc -l)"
  eval "cpu_$side=$c rss_$side=$m"
done
ratio=$(echo "$cpu_inspect / $cpu_baseline" | bc -l)
printf 'cpu ratio inspect/baseline: %.2f (limit 1.50); inspect peak RSS %.1f MiB (limit 64)\n' \
  "$ratio" "$(echo "$rss_inspect / 1024" | bc -l)"
ok=1
(( $(echo "$ratio <= 1.5" | bc -l) )) || { echo "FAIL: CPU over 1.5x the baseline" >&2; ok=0; }
(( rss_inspect < 64 * 1024 )) || { echo "FAIL: peak RSS over 64 MiB" >&2; ok=0; }
[ "$ok" = 1 ]
