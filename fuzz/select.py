#!/usr/bin/env python3
"""Keeps the fuzz inputs that cover the most edges per byte, within a byte budget.

fuzz/run.sh calls it after afl-cmin: AFL's minimal set still keeps one input per
edge, thousands of bytes each for AdmissionReviews, and the corpus is kept in the
repository. Greedy, by new edges per byte; what it costs in coverage is printed.

    select.py TRACES INPUTS OUT BUDGET_BYTES

TRACES holds one `afl-showmap -e` trace per file of INPUTS (same names); the
chosen inputs are copied into OUT.
"""

import os
import shutil
import sys


def main() -> None:
    traces, inputs, out, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    edges = {}
    for name in os.listdir(traces):
        if name.startswith("."):
            continue
        with open(os.path.join(traces, name)) as f:
            edges[name] = {line.split(":")[0] for line in f if line.strip()}
    size = {name: os.path.getsize(os.path.join(inputs, name)) for name in edges}
    everything = set().union(*edges.values()) if edges else set()
    covered, kept, used = set(), [], 0
    candidates = set(edges)
    while candidates:
        # Per byte, plus a little per file so that tiny inputs do not win on nothing.
        gain, name = max((len(edges[n] - covered) / (size[n] + 64), n) for n in candidates)
        candidates.discard(name)
        if gain == 0:
            break
        if used + size[name] > budget:
            continue
        kept.append(name)
        covered |= edges[name]
        used += size[name]
    os.makedirs(out, exist_ok=True)
    for name in kept:
        shutil.copy(os.path.join(inputs, name), os.path.join(out, name))
    print(f"kept {len(kept)} of {len(edges)} inputs, {used} bytes, "
          f"{len(covered)} of {len(everything)} edges")


if __name__ == "__main__":
    main()
