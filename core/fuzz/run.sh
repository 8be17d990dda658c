#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30) on nightly with cargo-fuzz, seeded
# from the repository's fixtures; prints each target's executions and exits non-zero if any
# target found a crash (its input is kept under core/fuzz/artifacts/TARGET/).
#
#   core/fuzz/run.sh [SECONDS] [TARGET...]
#   RUNS=10000000 core/fuzz/run.sh 3600 wfdb_header   # stop after RUNS executions instead
#
# Installs what it needs (the nightly toolchain must exist; cargo-fuzz is installed if
# missing). Logs: core/fuzz/logs/TARGET.log. The counts in docs/RELIABILITY.md come from
# this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(wfdb_header wfdb_record wfdb_annotations model_bytes model_engine stream adapt c_api model_signature output_writer)
fi

rustup run nightly rustc --version >/dev/null
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

seed() {
    local t="$1" dir="$here/corpus/$1"
    mkdir -p "$dir"
    case "$t" in
        wfdb_header)
            cp "$root"/fixtures/records/*.hea "$dir"/ ;;
        wfdb_annotations)
            # The first 1 KB of each: a few hundred annotations, fast to mutate.
            for f in "$root"/fixtures/records/*.atr; do head -c 1024 "$f" >"$dir/$(basename "$f")"; done ;;
        model_bytes)
            # Small models of every precision (a few KB: fast to mutate).
            (cd "$root" && cargo run -q -p rhythm --example fuzz_seed_models -- "$dir") ;;
        model_engine)
            (cd "$root" && cargo run -q -p rhythm --example fuzz_seed_models -- "$dir")
            cp "$root"/fixtures/models/rhythm-int8.rhm "$dir"/ ;;
        model_signature)
            # The shipped trailer (what the spliced half of the target mutates), a key file.
            tail -c 104 "$root"/fixtures/models/rhythm-int8.signed.rhm >"$dir/trailer"
            cp "$root"/fixtures/keys/test-signing.pub "$dir"/ ;;
        output_writer)
            # Force flag, a name, NUL, the bytes: the record's own files, the links, a result.
            for n in 100.rhy 100.atr 100.hea 100.dat 100.qrs 100.lnk 100.dangling data.bin new.png; do
                printf '\001%s\000bytes' "$n" >"$dir/$n"
            done ;;
        wfdb_record)
            # A header whose sample count fits 2,000 samples, then its signal bytes: the
            # target's input layout (u16 header length, header, signal file).
            python3 - "$root/fixtures/records" "$dir" <<'PY'
import os, struct, sys
src, out = sys.argv[1], sys.argv[2]
for name in ("100", "208"):
    lines = open(os.path.join(src, name + ".hea"), newline="").read().split("\n")
    rec = lines[0].split()
    rec[3] = "2000"
    lines[0] = " ".join(rec) + ("\r" if lines[0].endswith("\r") else "")
    hea = "\n".join(l for l in lines if not l.startswith("#")).encode()
    dat = open(os.path.join(src, name + ".dat"), "rb").read()[: 2000 * 3]
    open(os.path.join(out, name), "wb").write(struct.pack("<H", len(hea)) + hea + dat)
PY
            ;;
        *) ;;
    esac
}

mkdir -p "$here/logs"
failed=()
cd "$root/core"
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
    seed "$t"
    extra=()
    case "$t" in
        wfdb_header|wfdb_record) extra=(-dict="$here/dict/wfdb_header.dict") ;;
        wfdb_annotations) extra=(-max_len=4096) ;;
        model_bytes) extra=(-max_len=16384) ;;
    esac
    set +e
    cargo +nightly fuzz run -O "$t" "$here/corpus/$t" -- \
        -max_total_time="$seconds" ${RUNS:+-runs=$RUNS} -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
        "${extra[@]}" >"$here/logs/$t.log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$here/logs/$t.log" | grep -o '[0-9]*$' || echo "?")
    if [ $rc -eq 0 ]; then
        took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$here/logs/$t.log" | grep -o '[0-9]* second' | grep -o '[0-9]*' || echo "$seconds")
        printf '%-18s %12s executions in %ss, no crash\n' "$t" "$execs" "$took"
    else
        printf '%-18s CRASH (exit %s) after %s executions: see %s\n' "$t" "$rc" "$execs" "core/fuzz/logs/$t.log"
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets with crashes: ${failed[*]}" >&2
    exit 1
fi
