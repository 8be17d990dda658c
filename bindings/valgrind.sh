#!/usr/bin/env bash
# Runs the C example under valgrind: no leaks, no invalid reads/writes, no uninitialised use.
#   bash bindings/valgrind.sh [SECONDS]     (default: the first 120 s of record 100)
# Builds librhythm.a (dev profile), compiles bindings/examples/classify.c against it, and
# exits non-zero on any valgrind error or leak.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
cargo build -p rhythm-bindings --lib
target="${CARGO_TARGET_DIR:-target}"
out="$target/debug/c-example"
mkdir -p "$out"
cc -std=c99 -g -Wall -Wextra -Werror -Ibindings/include bindings/examples/classify.c \
   "$target/debug/librhythm.a" -lpthread -ldl -lm -o "$out/classify_vg"
for mode in "" "--memory"; do
  echo "== valgrind classify $seconds s $mode"
  valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 --quiet \
    "$out/classify_vg" fixtures/models/rhythm-int8.rhm fixtures/records/100 "$seconds" $mode \
    | tail -n 1
done
echo "valgrind: clean"
