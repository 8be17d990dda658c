#!/usr/bin/env bash
# Peers on the same network and inputs: exports rhythm's f32 network to ONNX with real beats of
# record 100, installs ONNX Runtime in a venv (target/peers/venv) and runs bench/peers.py.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="${1:-$ROOT/target/peers}"
cargo run --release -q -p rhythm-bench --features tract --bin export-onnx -- "$OUT"
if [[ ! -x "$OUT/venv/bin/python" ]]; then
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install -q onnxruntime onnx numpy
fi
"$OUT/venv/bin/python" bench/peers.py "$OUT"
