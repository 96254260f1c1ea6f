#!/usr/bin/env bash
# Coverage-guided fuzzing of netdns-guard's readers of hostile input with AFL++,
# through cargo-afl on the stable toolchain (ARCHITECTURE.md, "Hostile input").
#
#   fuzz/run.sh TARGET [SECONDS]    fuzz TARGET (default 600 s), then minimize
#   fuzz/run.sh --build             only install cargo-afl and build the targets
#
# TARGET is admission_review, manifest_stream or policy_file. Each run starts
# from fuzz/corpus/TARGET and writes AFL's state under fuzz/out/TARGET (not kept).
# At the end the queue and the kept corpus are minimized together (afl-cmin) back
# into fuzz/corpus/TARGET, and any crash or hang is copied there too, as
# regression data for tests/fuzz_corpus.rs. A hang is an input over 1 s (-t 1000);
# memory over 64 MiB is a crash the targets' counting allocator raises
# (fuzz/src/limit_alloc.rs), with AFL's own -m as a backstop.
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

if [[ "${1:-}" == "--build" ]]; then
    build
    exit 0
fi

target="${1:?usage: fuzz/run.sh TARGET [SECONDS] | --build}"
seconds="${2:-600}"
[[ -d "corpus/$target" ]] || { echo "no corpus/$target" >&2; exit 2; }
build

export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1
# The crash reports go to AFL's output folder; a core_pattern piping to a
# handler only slows each crash down.
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
rm -rf "out/$target"
nice cargo afl fuzz -V "$seconds" -t 1000 -m 256 \
    -x dict/kubernetes.dict -x dict/yaml.dict -x dict/json.dict \
    -i "corpus/$target" -o "out/$target" "target/release/$target"

stats="out/$target/default/fuzzer_stats"
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|bitmap_cvg|edges_found|total_edges|saved_crashes|saved_hangs) ' "$stats"

# Minimize: the kept corpus and everything AFL queued, down to the inputs that
# keep the coverage; crashes and hangs kept whole (renamed: AFL's names hold
# characters that some file systems refuse).
all="out/$target/all"
min="out/$target/min"
rm -rf "$all" "$min"
mkdir -p "$all"
cp "corpus/$target"/* "$all/"
n=0
for f in "out/$target/default/queue"/id:*; do
    cp "$f" "$all/queue-$((n++))"
done
AFL_NO_AFFINITY=1 nice cargo afl cmin -t 1000 -m 256 -i "$all" -o "$min" -- "target/release/$target" >/dev/null
for kind in crash hang; do
    n=0
    for f in "out/$target/default/${kind}s"/id:* "out/$target/default/${kind}es"/id:*; do
        [[ -e "$f" ]] || continue
        cp "$f" "$min/$kind-$(date +%Y%m%d)-$((n++))"
    done
done
rm -rf "corpus/$target"
mv "$min" "corpus/$target"
du -sh "corpus/$target"
ls "corpus/$target" | wc -l
