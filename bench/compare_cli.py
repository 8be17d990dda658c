#!/usr/bin/env python3
"""Per-beat cost of two `rhythm` CLI builds side by side, on the same records.

    python3 bench/compare_cli.py OLD_BIN NEW_BIN [--old-model F] [--new-model F] [--runs 9]
        [--records 100,208] [--callgrind]

Each run is `BIN classify fixtures/records/REC --summary-only --threads 1` (read, detect,
classify: what a user runs, one thread); OLD and NEW alternate so that drift on a noisy
machine falls on both. Prints the median wall time per beat of each and their ratio; with
`--callgrind`, also the instruction counts of one run of each (repeatable where timings are
not). `--old-model` / `--new-model` give each binary its model (default: the binary's
default, which prefers the working directory's `fixtures/models/rhythm-int8.rhm`).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def beats_of(binary, record):
    out = subprocess.run(
        [binary[0], "classify", record, *binary[1], "--json", "--threads", "1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return len(json.loads(out)["beats"])


def timed(binary, record):
    cmd = [binary[0], "classify", record, *binary[1], "--summary-only", "--threads", "1"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def instructions(binary, record):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        r = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             binary[0], "classify", record, *binary[1], "--summary-only", "--threads", "1"],
            capture_output=True,
            text=True,
        )
        m = re.search(r"Collected : (\d+)", r.stderr)
        if r.returncode != 0 or m is None:
            sys.exit(f"callgrind failed on {binary[0]}: {r.stderr[-500:]}")
        return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--old-model")
    ap.add_argument("--new-model")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--records", default="100,208")
    ap.add_argument("--callgrind", action="store_true")
    a = ap.parse_args()
    # Each "binary" is the program and its `classify` options (its --model).
    a.old = (a.old, ["--model", a.old_model] if a.old_model else [])
    a.new = (a.new, ["--model", a.new_model] if a.new_model else [])
    print("| record | beats (old / new) | old µs per beat | new µs per beat | new / old |")
    print("|---|---|---|---|---|")
    for name in a.records.split(","):
        record = f"fixtures/records/{name}"
        nb = (beats_of(a.old, record), beats_of(a.new, record))
        times = ([], [])
        for _ in range(a.runs):
            times[0].append(timed(a.old, record))
            times[1].append(timed(a.new, record))
        per = [statistics.median(t) / n * 1e6 for t, n in zip(times, nb)]
        print(f"| {name} | {nb[0]} / {nb[1]} | {per[0]:.1f} | {per[1]:.1f} | {per[1] / per[0]:.3f} |")
        if a.callgrind:
            ins = [instructions(b, record) / n for b, n in zip((a.old, a.new), nb)]
            print(f"| {name}, instructions per beat (callgrind) | | {ins[0]:.0f} | {ins[1]:.0f} | {ins[1] / ins[0]:.3f} |")


if __name__ == "__main__":
    main()
