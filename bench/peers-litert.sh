#!/usr/bin/env bash
# LiteRT (TFLite) peer: runs bench/peers.sh first (the ONNX export, the beats and ONNX Runtime),
# then installs onnx2tf, TensorFlow (CPU) and ai-edge-litert in their own venv
# (target/peers/venv-litert, ~1.5 GB) and runs bench/peers_litert.py.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="${1:-$ROOT/target/peers}"
bash bench/peers.sh "$OUT"
if [[ ! -x "$OUT/venv-litert/bin/python" ]]; then
    python3 -m venv "$OUT/venv-litert"
    "$OUT/venv-litert/bin/pip" install -q tensorflow-cpu==2.21.0 tf_keras==2.21.0 onnx2tf==1.28.8 \
        onnx onnx_graphsurgeon sng4onnx psutil ai-edge-litert==2.3.0 numpy
fi
"$OUT/venv-litert/bin/python" bench/peers_litert.py "$OUT"
