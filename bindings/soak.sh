#!/usr/bin/env bash
# The 24-hour soak through the C API (hardening v2 item 6): bindings/examples/classify.c
# streams a 24-hour recording (fixture record 100 repeated 48 times, bench's holter-record)
# in chunks of varying size (1 to 4096 samples); every beat must equal the offline whole-record
# path (`rhythm classify --json`: sample, class, quality, probability to 4 decimals), and the
# process's resident memory must not grow after the first hour (at most GROWTH_KB, default 1024).
#   bash bindings/soak.sh [HOURS]     (default: the whole 24.1 h; under a minute on 2 cores after
#                                      the builds; with HOURS, the last beat before the cut, whose
#                                      next beat the stream never sees, is not compared)
#   VALGRIND=1 bash bindings/soak.sh 1  (the stream under valgrind: no leak, no memory error)
set -euo pipefail
cd "$(dirname "$0")/.."
hours="${1:-}"
growth_kb="${GROWTH_KB:-1024}"
target="${CARGO_TARGET_DIR:-target}"
out="$target/soak"
mkdir -p "$out"
cargo build --release -q -p rhythm-bindings --lib
cargo build --release -q -p rhythm-cli
[ -f "$out/100x48.hea" ] ||
    cargo run --release -q -p rhythm-bench --bin holter-record -- 100 48 "$out" 100x48
cc -std=c99 -O2 -Wall -Wextra -Werror -Ibindings/include bindings/examples/classify.c \
   "$target/release/librhythm.a" -lpthread -ldl -lm -o "$out/classify"
seconds=$(( ${hours:-0} * 3600 ))
start=$SECONDS
wrap=()
[ -n "${VALGRIND:-}" ] && wrap=(valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 --quiet)
"${wrap[@]}" "$out/classify" fixtures/models/rhythm-int8.rhm "$out/100x48" "$seconds" --rss \
    >"$out/stream.txt" 2>"$out/stream.err"
echo "C stream: $((SECONDS - start)) s for ${hours:-24.1} h of signal"
start=$SECONDS
"$target/release/rhythm" classify "$out/100x48" --json >"$out/offline.json"
echo "offline (rhythm classify): $((SECONDS - start)) s"
python3 - "$out" "$seconds" "$growth_kb" <<'PY'
import json, sys
out, seconds, growth_kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = json.load(open(f"{out}/offline.json"))
fs = d["sampling_rate_hz"]
want = ["%d %s %s %d %.4f" % (b["sample"], b["class"] or "Q", b["quality"].lower(), b["class"] is not None,
                             b["confidence"] if b["class"] is not None else 0.0)
        for b in d["beats"] if seconds == 0 or b["sample"] < seconds * fs]
got = [l.rstrip("\n").split(" ", 1)[1] for l in open(f"{out}/stream.txt") if l.startswith("beat ")]
if seconds:
    got, want = got[:-1], want[:-1]
assert len(got) == len(want), f"stream {len(got)} beats, offline {len(want)}"
bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
assert not bad, f"{len(bad)} beats differ, first: {bad[:3]}"
rss = [(int(l.split()[1][5:]), int(l.split()[2][7:])) for l in open(f"{out}/stream.err") if l.startswith("rss ")]
print("beats equal:", len(got))
print("| hour | RSS (MB) |\n|---|---|")
for h, kb in rss:
    print(f"| {h} | {kb / 1024:.1f} |")
if len(rss) >= 2:
    grew = rss[-1][1] - rss[0][1]
    print(f"growth after hour 1: {grew} kB (limit {growth_kb})")
    assert grew <= growth_kb, "memory grew"
PY
echo "soak: clean"
