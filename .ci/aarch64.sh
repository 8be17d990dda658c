#!/usr/bin/env bash
# Cross-compiles the core crate's tests for aarch64 and runs them under qemu-user, with the
# NEON and NEON+dotprod kernels required to be detected and exercised (QEMU_CPU=max).
#
#   .ci/aarch64.sh            # install the toolchain pieces if missing, then test
#   SKIP_INSTALL=1 .ci/aarch64.sh
#
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR=never
# shellcheck source=../bench/cross-env.sh
source "$ROOT/bench/cross-env.sh"
cross_env aarch64
TARGET="$CROSS_TARGET"

# A CPU model with dotprod, so that both SIMD levels run; the test below fails if either is
# not detected.
export QEMU_CPU=max
export RHYTHM_EXPECT_LEVELS=neon,dotprod
# ... and with FEAT_FHM, so that the fp16-arithmetic float path runs (kernels_float asserts it).
export RHYTHM_EXPECT_FP16_ARITHMETIC=1
# qemu-user sees the host file system; tests needing the MIT-BIH data find it here.
if [[ -z "${RHYTHM_DATA:-}" ]]; then
    for d in "$ROOT/../shared/data" /work/shared/data; do
        if [[ -d "$d" ]]; then export RHYTHM_DATA="$(cd "$d" && pwd)"; break; fi
    done
fi

# What runs under qemu: the library's unit tests and every integration test except those whose
# subject does not depend on the architecture beyond the kernels, which golden, kernels_simd,
# kernels_float, bit_exact and no_alloc already pin (whole records, adaptation, streams,
# featurize, the record-file path: ~11 min under qemu, and natively tested in .ci/run).
ARCH_INDEPENDENT=" record adapt_trained stream featurize onnx_export record_file "
tests=(--lib)
for f in core/tests/*.rs; do
    name="$(basename "$f" .rs)"
    [[ "$ARCH_INDEPENDENT" == *" $name "* ]] || tests+=(--test "$name")
done

echo "== cargo test -p rhythm --target $TARGET ${tests[*]} (qemu-aarch64-static, QEMU_CPU=$QEMU_CPU)"
start=$(date +%s)
# The CLI's tests (crate rhythm-cli) spawn its binary, which the x86 host cannot exec without
# binfmt_misc; they run natively in .ci/run. Under QEMU_CPU=max the engine's auto choice is
# dotprod, so this run covers that level.
cargo test -p rhythm --target "$TARGET" "${tests[@]}"
# The other SIMD level on its own through RHYTHM_KERNELS, so the whole-model path of plain
# NEON is exercised too, not only the kernel property tests.
for level in neon; do
    echo "== kernels_simd + kernels_float + golden + no_alloc with RHYTHM_KERNELS=$level"
    RHYTHM_KERNELS=$level cargo test -p rhythm --target "$TARGET" \
        --test kernels_simd --test kernels_float --test golden --test no_alloc -- --nocapture 2>&1 |
        tee /tmp/rhythm-aarch64-$level.log | grep -E "kernel levels|test result|FAILED|panicked" || true
    grep -q "test result: ok" /tmp/rhythm-aarch64-$level.log
    ! grep -q "FAILED" /tmp/rhythm-aarch64-$level.log
done
echo "== aarch64 tests passed in $(( $(date +%s) - start )) s"
