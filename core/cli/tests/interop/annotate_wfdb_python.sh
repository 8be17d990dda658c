#!/usr/bin/env bash
# `rhythm classify --annotate` read back by wfdb-python (PhysioNet's reader), installed here in
# a venv (target/interop/venv): every annotation's sample, MIT code and aux text must be the
# beat the CLI reported in its JSON (record's own timebase), for a 360 Hz record and a 128 Hz
# one. Core's own reader is checked against the same file in core/cli/tests/cli.rs.
#
#   bash core/cli/tests/interop/annotate_wfdb_python.sh     # CI runs it (.ci/run)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../../.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/interop"
mkdir -p "$OUT"
if [[ ! -x "$OUT/venv/bin/python" ]] || ! "$OUT/venv/bin/python" -c "import wfdb" 2>/dev/null; then
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install -q "wfdb>=4.1,<5"
fi
cargo build -q --release -p rhythm-cli
RHYTHM="$ROOT/target/release/rhythm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A 128 Hz record (resampled from 208 by the testkit's fixture writer, as the Rust tests do).
cargo run -q --release -p rhythm-testkit --example write_resampled_fixture -- 208 300 128 "$work" r128
for rec in fixtures/records/208 "$work/r128"; do
    name="$(basename "$rec")"
    "$RHYTHM" classify "$rec" --json --annotate rhy --annotate-dir "$work" --force >"$work/$name.json"
    "$OUT/venv/bin/python" core/cli/tests/interop/annotate_wfdb_python.py "$work/$name" "$work/$name.json"
done
