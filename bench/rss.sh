#!/usr/bin/env bash
# Peak resident memory (and wall time) of every `rhythm` path that reads a record, on a
# 24-hour recording (fixture record 100 repeated 48 times, bench's holter-record), on a 2 GiB
# sparse signal file whose header gives no sample count, and on a 30-minute record with an
# annotation file of 650,000 beats (hardening v2 N6). Prints the markdown table of
# docs/RELIABILITY.md.
#   bash bench/rss.sh        (about 4 minutes on 2 cores after the builds)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out="$target/rss"
mkdir -p "$out"
cargo build --release -q -p rhythm-cli
rhythm="$target/release/rhythm"
[ -f "$out/100x48.hea" ] ||
    cargo run --release -q -p rhythm-bench --bin holter-record -- 100 48 "$out" 100x48
# 2 GiB of zeros (sparse), one signal in format 16, no sample count: 829 hours by its length.
if [ ! -f "$out/sparse.dat" ]; then
    printf 'sparse 1 360\r\nsparse.dat 16 200 12 0 0 0 0 MLII\r\n' >"$out/sparse.hea"
    truncate -s 2G "$out/sparse.dat"
fi
# Record 100 with 650,000 N beats, one per sample (1.3 MB of annotations).
if [ ! -f "$out/dense.atr" ]; then
    sed 's/^100 /dense /; s/^100\.dat/dense.dat/' fixtures/records/100.hea >"$out/dense.hea"
    cp fixtures/records/100.dat "$out/dense.dat"
    python3 -c "
import struct, sys
n = 650000
sys.stdout.buffer.write(struct.pack('<%dH' % (n + 1), *([(1 << 10) | 1] * n + [0])))
" >"$out/dense.atr"
fi
echo "| path | record | peak RSS (MB) | wall (s) | rc |"
echo "|---|---|---|---|---|"
measure() {
    local what="$1" record="$2"
    shift 2
    local rc=0
    /usr/bin/time -f "%M %e" -o "$out/time.txt" "$rhythm" "$@" >/dev/null 2>"$out/err.txt" || rc=$?
    read -r kb secs <"$out/time.txt"
    printf '| %s | %s | %.1f | %s | %s |\n' "$what" "$record" "$(awk "BEGIN{print $kb/1024}")" "$secs" "$rc"
}
h="$out/100x48"
measure "classify (detected beats)" "24 h" classify "$h" --summary-only
measure "classify --beats reference" "24 h" classify "$h" --beats reference --summary-only
measure "classify --adapt-seconds 300" "24 h" classify "$h" --adapt-seconds 300 --summary-only
measure "plot --start 43200 --seconds 10" "24 h" plot "$h" --start 43200 --seconds 10 -o "$out/strip.png" --force
measure "plot --start 0 --seconds 10" "2 GiB sparse" plot "$out/sparse" --start 0 --seconds 10 -o "$out/strip.png" --force
measure "classify (detected beats)" "2 GiB sparse" classify "$out/sparse" --summary-only
measure "classify (detected beats)" "650k annotations" classify "$out/dense" --summary-only
measure "classify --beats reference" "650k annotations" classify "$out/dense" --beats reference --summary-only
