#!/usr/bin/env bash
# Coverage-guided fuzzing of netdns-guard's readers of hostile input with AFL++,
# through cargo-afl on the stable toolchain (ARCHITECTURE.md, "Hostile input").
#
#   fuzz/run.sh TARGET [SECONDS]    fuzz TARGET (default 600 s), then minimize
#   fuzz/run.sh --minimize TARGET   only minimize the last run's findings
#   fuzz/run.sh --build             only install cargo-afl and build the targets
#
# TARGET is admission_review, manifest_stream or policy_file. Each run starts
# from fuzz/corpus/TARGET and writes AFL's state under fuzz/out/TARGET (not kept).
# At the end the queue and the kept corpus are minimized together (afl-cmin, then
# select.py within a byte budget) back into fuzz/corpus/TARGET, and any crash or
# hang is copied there too, as regression data for tests/fuzz_corpus.rs. A hang
# is an input over 1 s (-t 1000); memory over 64 MiB is a crash the targets'
# counting allocator raises (fuzz/src/limit_alloc.rs), with AFL's -m 64 (MiB of
# address space) as a backstop.
#
# The machine is shared: AFL runs under nice, on no pinned core; run one target
# at a time.
set -euo pipefail
cd "$(dirname "$0")"

build() {
    # crates.io's cargo-afl builds AFL++ (bundled source) for this rustc once.
    command -v cargo-afl >/dev/null || cargo install cargo-afl --locked
    cargo afl config --build >/dev/null 2>&1 || true
    nice cargo afl build --release --locked
}

usage="usage: fuzz/run.sh TARGET [SECONDS] | --minimize TARGET | --build"
case "${1:-}" in
    --build) build; exit 0 ;;
    --minimize) target="${2:?$usage}"; seconds=0 ;;
    *) target="${1:?$usage}"; seconds="${2:-600}" ;;
esac
[[ -d "corpus/$target" ]] || { echo "no corpus/$target" >&2; exit 2; }
build
# afl-cmin runs afl-showmap from PATH: the AFL++ that cargo-afl built, not an
# older one the system may have.
afl_bin="$(ls -d "${XDG_DATA_HOME:-$HOME/.local/share}"/afl.rs/rustc-*/afl.rs-*/afl/bin | tail -1)"
export PATH="$afl_bin:$PATH"

export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1
# The crash reports go to AFL's output folder; a core_pattern piping to a
# handler only slows each crash down.
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
if ((seconds > 0)); then
    rm -rf "out/$target"
    mkdir -p out
    nice cargo afl fuzz -V "$seconds" -t 1000 -m 64 \
        -x dict/kubernetes.dict -x dict/yaml.dict -x dict/json.dict \
        -i "corpus/$target" -o "out/$target" "target/release/$target"
fi

stats="out/$target/default/fuzzer_stats"
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|bitmap_cvg|edges_found|total_edges|saved_crashes|saved_hangs) ' "$stats"

# Minimize: the kept corpus and everything AFL queued, down to the inputs that
# keep the edges (afl-cmin -e), then to those that cover the most edges per byte
# within FUZZ_CORPUS_BYTES (select.py): the corpus lives in the repository.
# Crashes and hangs are kept whole (renamed: AFL's names hold characters that
# some file systems refuse).
budget="${FUZZ_CORPUS_BYTES:-120000}"
all="out/$target/all" min="out/$target/min" traces="out/$target/traces" kept="out/$target/kept"
rm -rf "$all" "$min" "$traces" "$kept"
mkdir -p "$all"
cp "corpus/$target"/* "$all/"
n=0
for f in "out/$target/default/queue"/id:*; do
    cp "$f" "$all/queue-$((n++))"
done
nice afl-cmin -e -t 1000 -m 64 -i "$all" -o "$min" -- "target/release/$target" >/dev/null
nice afl-showmap -q -e -t 1000 -m 64 -i "$min" -o "$traces" -- "target/release/$target" >/dev/null 2>&1 || true
python3 select.py "$traces" "$min" "$kept" "$budget"
# AFL times inputs by the wall clock: on a shared machine a loaded minute makes
# hangs of quick inputs. A hang is kept only if it takes over 1 s of CPU alone.
cpu_seconds() {
    /usr/bin/time -f '%U %S' "target/release/$target" <"$1" 2>&1 >/dev/null |
        tail -1 | awk '{ print $1 + $2 }'
}
for kind in crash hang; do
    n=0
    for f in "out/$target/default/${kind}s"/id:* "out/$target/default/${kind}es"/id:*; do
        [[ -e "$f" ]] || continue
        if [[ $kind == hang ]] && awk -v s="$(cpu_seconds "$f")" 'BEGIN { exit !(s < 1) }'; then
            echo "not a hang alone ($(cpu_seconds "$f") s of CPU): $f"
            continue
        fi
        cp "$f" "$kept/$kind-$(date +%Y%m%d)-$((n++))"
    done
done
# Earlier findings stay: a fixed crash no longer crashes, so no map keeps it.
cp "corpus/$target"/crash-* "corpus/$target"/hang-* "$kept/" 2>/dev/null || true
rm -rf "corpus/$target"
mv "$kept" "corpus/$target"
echo "corpus/$target: $(ls "corpus/$target" | wc -l) files, $(du -sh "corpus/$target" | cut -f1)"
