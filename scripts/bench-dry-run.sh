#!/usr/bin/env bash
# Dry-run stream benchmark (issue 2, "Speed"): `netdns-guard dry-run` over a
# 10,000-workload multi-document YAML stream, against a bare parse-and-serialize of
# the same stream with the same YAML crate (examples/yaml_roundtrip.rs).
# Target: dry-run within 1.5x of the bare round trip. Peak memory is reported.
#
#   scripts/bench-dry-run.sh [--runs N] [--workloads N] [--seed S] [--breakdown]
#
# --breakdown also runs the baseline parse-only and keeping every parsed value (as
# the dry-run does), to show where the time and the memory go.
# Everything goes under target/bench/. The binaries are copied there before timing,
# so a concurrent `cargo build` cannot swap them mid-run. Sides are interleaved run by
# run, so background load drifts evenly over both. Wall time is the headline; CPU
# time (user+sys) is printed too because it is steadier on a shared machine.
set -euo pipefail

runs=5
workloads=10000
seed=20240611
breakdown=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --breakdown) breakdown=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
root=$PWD
out="$root/target/bench"
mkdir -p "$out/bin"

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time (for peak RSS)..." >&2
  if command -v apt-get >/dev/null; then
    (apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; })
  fi
  [ -x /usr/bin/time ] || { echo "/usr/bin/time (GNU time) is required" >&2; exit 2; }
fi

echo "== building (release)" >&2
cargo build --release --quiet --bin netdns-guard --example yaml_roundtrip
cp target/release/netdns-guard target/release/examples/yaml_roundtrip "$out/bin/"
dry="$out/bin/netdns-guard"
rt="$out/bin/yaml_roundtrip"

stream="$out/stream-${workloads}-${seed}.yaml"
if [ ! -s "$stream" ] || [ "$root/scripts/gen-stream.py" -nt "$stream" ]; then
  echo "== generating $stream" >&2
  python3 scripts/gen-stream.py --workloads "$workloads" --seed "$seed" -o "$stream.tmp"
  mv "$stream.tmp" "$stream"
fi

# Sanity: both sides succeed and see the same documents; count what the dry-run changes.
"$dry" dry-run -f "$stream" -o report-json >"$out/report.json" 2>/dev/null
"$rt" "$stream" >/dev/null 2>"$out/roundtrip.err"
python3 - "$stream" "$out/report.json" "$out/roundtrip.err" <<'EOF'
import json, os, re, sys
stream, report, rt = sys.argv[1:]
text = open(stream, encoding="utf-8").read()
kinds = {}
for k in re.findall(r"^kind: (\w+)", text, re.M):
    kinds[k] = kinds.get(k, 0) + 1
workloads = json.load(open(report))
changed = sum(1 for w in workloads if w["changed"])
docs = int(open(rt).read().split()[0])
print(f"stream: {os.path.getsize(stream) / 1e6:.1f} MB ({os.path.getsize(stream) / 2**20:.1f} MiB), "
      f"{docs} documents, {len(workloads)} workloads, {changed} changed by the dry-run")
print("kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
EOF

sides=("dry-run" "round-trip")
cmds=("$dry dry-run -f $stream" "$rt $stream")
if [ "$breakdown" = 1 ]; then
  sides+=("parse-only" "round-trip-keep")
  cmds+=("$rt $stream --parse-only" "$rt $stream --keep")
fi

results="$out/results.tsv"
: >"$results"
echo "== $runs runs per side, interleaved ($(nproc) CPUs)" >&2
for run in $(seq 1 "$runs"); do
  for i in "${!sides[@]}"; do
    /usr/bin/time -f "%e %U %S %M" -o "$out/time.txt" ${cmds[$i]} >/dev/null 2>"$out/stderr.txt" ||
      { echo "${sides[$i]} failed:" >&2; cat "$out/stderr.txt" >&2; exit 2; }
    read -r wall user sys rss <"$out/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\n' "${sides[$i]}" "$wall" "$user" "$sys" "$rss" >>"$results"
    printf '  run %d %-16s wall %6.2f s  cpu %6.2f s  peak RSS %7.1f MiB\n' "$run" "${sides[$i]}" \
      "$wall" "$(echo "$user + $sys" | bc)" "$(echo "scale=1; $rss / 1024" | bc)" >&2
  done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, wall, user, sys_, rss = line.split("\t")
    r = rows.setdefault(side, {"wall": [], "cpu": [], "rss": []})
    r["wall"].append(float(wall)); r["cpu"].append(float(user) + float(sys_)); r["rss"].append(int(rss) / 1024)
med = {s: {k: statistics.median(v) for k, v in r.items()} for s, r in rows.items()}
print(f"\n{'side':<16} {'wall median':>12} {'wall min':>9} {'cpu median':>11} {'peak RSS':>10}")
for s, r in rows.items():
    print(f"{s:<16} {med[s]['wall']:>10.2f} s {min(r['wall']):>7.2f} s {med[s]['cpu']:>9.2f} s {max(r['rss']):>6.1f} MiB")
d, b = med["dry-run"], med["round-trip"]
ratio = d["wall"] / b["wall"]
print(f"\nratio dry-run / bare round trip: wall {ratio:.2f}x, cpu {d['cpu'] / b['cpu']:.2f}x, "
      f"peak RSS {d['rss'] / b['rss']:.1f}x")
print(f"target (wall within 1.5x): {'met' if ratio <= 1.5 else 'NOT met'}")
EOF
