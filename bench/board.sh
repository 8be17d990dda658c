#!/usr/bin/env bash
# Benchmarks on your board: cross-builds rhythm's criterion benchmarks and the `rhythm` CLI
# for ARCH with the fixtures they need into one tarball to copy to the board and run there
# with one command.
#
#   bench/board.sh aarch64 [--smoke]     # or armv7 (32-bit Arm, scalar kernels)
#   → target/board/rhythm-board-ARCH.tar.gz
#
# On the board (any Linux with glibc; nothing to install):
#   tar xzf rhythm-board-aarch64.tar.gz && cd rhythm-board-aarch64 && ./run.sh
#   ./run.sh 'beat-network/|record100'   # a criterion filter
#
# run.sh prints the CPU features rhythm detects and the kernel level it chose, classifies
# record 100, then runs the benchmarks (criterion's report: criterion/ beside run.sh).
# --smoke unpacks the tarball here and runs it under qemu-user, each benchmark once
# (criterion --test): a check that it builds and runs; qemu's timings mean nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
arch="${1:?usage: bench/board.sh aarch64|armv7 [--smoke]}"
smoke="${2:-}"
# shellcheck source=cross-env.sh
source "$ROOT/bench/cross-env.sh"
cross_env "$arch"

name="rhythm-board-$arch"
out="$ROOT/target/board"
stage="$out/$name"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/fixtures/models" "$stage/fixtures/records"

echo "== cargo build --release --target $CROSS_TARGET -p rhythm-cli"
cargo build --release --target "$CROSS_TARGET" -p rhythm-cli
cp "target/$CROSS_TARGET/release/rhythm" "$stage/bin/"
echo "== cargo bench --no-run --target $CROSS_TARGET -p rhythm-bench --bench rhythm"
bench_exe="$(cargo bench --no-run --target "$CROSS_TARGET" -p rhythm-bench --bench rhythm \
    --message-format=json 2>"$out/bench-build.log" |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "rhythm" and "bench" in m["target"]["kind"] and m.get("executable"):
        print(m["executable"])')"
[[ -x "$bench_exe" ]] || { cat "$out/bench-build.log" >&2; echo "bench binary not built" >&2; exit 1; }
cp "$bench_exe" "$stage/bin/rhythm-bench"
cp fixtures/models/rhythm-int8.rhm fixtures/models/rhythm-fp16.rhm fixtures/models/rhythm-f32.rhm \
    "$stage/fixtures/models/"
cp fixtures/records/100.hea fixtures/records/100.dat fixtures/records/100.atr "$stage/fixtures/records/"
cp fixtures/README.md "$stage/fixtures/"
cat >"$stage/run.sh" <<'RUN'
#!/bin/sh
# rhythm on this board: what the kernels detect and choose, record 100 classified, then the
# criterion benchmarks (arguments go to criterion: a filter such as 'beat-network/', or
# --test to run each once). RUNNER=qemu-aarch64-static runs it on another machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
R=${RUNNER:-}
echo "== rhythm on $(uname -m), $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') cores"
$R bin/rhythm cpu
echo "== classify record 100 (shipped int8 model)"
$R bin/rhythm classify fixtures/records/100 --model fixtures/models/rhythm-int8.rhm --summary-only
echo "== benchmarks"
RHYTHM_FIXTURES="$here/fixtures" CRITERION_HOME="$here/criterion" $R bin/rhythm-bench --bench "$@"
RUN
chmod +x "$stage/run.sh"
tar -C "$out" -czf "$out/$name.tar.gz" "$name"
echo "== wrote $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1)): copy it to the board, then"
echo "   tar xzf $name.tar.gz && cd $name && ./run.sh"

if [[ "$smoke" == --smoke ]]; then
    echo "== smoke run under $CROSS_RUNNER (QEMU_CPU=max; timings mean nothing)"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    tar -C "$tmp" -xzf "$out/$name.tar.gz"
    QEMU_CPU=max RUNNER="$CROSS_RUNNER" "$tmp/$name/run.sh" --test 2>&1 | tee "$tmp/log"
    grep -q "^chosen: " "$tmp/log"
    grep -q " beats (detected) classified" "$tmp/log"
    ! grep -q "panicked" "$tmp/log"
fi
