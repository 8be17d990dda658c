#!/usr/bin/env python3
"""Peer runtimes on rhythm's network and inputs, one thread: ONNX Runtime fp32 and int8 (QDQ,
static per-channel quantization calibrated on the same beats). Prints per-beat medians (µs).

    bench/peers.sh            # exports the ONNX + inputs, makes a venv, runs this

LiteRT/TFLite (fp32 and int8) is `bench/peers-litert.sh` (its own 1.7 GB venv: onnx2tf and
TensorFlow for the conversion).
"""
import json, statistics, sys, time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

out = Path(sys.argv[1] if len(sys.argv) > 1 else "target/peers")
doc = json.loads((out / "beats.json").read_text())
ishape, sshape = doc["image_shape"], doc["side_shape"]
feeds = [{"image": np.asarray(b["image"], np.float32).reshape(ishape),
          "side": np.asarray(b["side"], np.float32).reshape(sshape)} for b in doc["beats"]]


class Reader(CalibrationDataReader):
    def __init__(self):
        self.it = iter(feeds)

    def get_next(self):
        return next(self.it, None)


fp32 = out / "rhythm-f32.onnx"
int8 = out / "rhythm-int8-qdq.onnx"
quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)


def bench(path, reps=300):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for f in feeds[:16]:
        s.run(None, f)
    times = []
    for r in range(reps):
        f = feeds[r % len(feeds)]
        t = time.perf_counter_ns()
        s.run(["probs"], f)
        times.append((time.perf_counter_ns() - t) / 1e3)
    return statistics.median(times), s


res = {}
# rhythm's own int8 file as QDQ (same weights and activation scales as rhythm's int8 path).
rhythm_qdq = out / "rhythm-int8-rhythm-qdq.onnx"
for name, path in [("ort-fp32", fp32), ("ort-int8-qdq", int8), ("ort-rhythm-qdq", rhythm_qdq)]:
    med, s = bench(path)
    res[name] = med
    print(f"{name:14s} median {med:8.1f} us/beat  (onnxruntime {ort.__version__}, 1 thread)")
# Agreement with fp32 (sanity: the quantized model is the same network).
s32 = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
s8 = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
agree = sum(int(np.argmax(s32.run(["probs"], f)[0]) == np.argmax(s8.run(["probs"], f)[0])) for f in feeds)
print(f"int8 QDQ vs fp32 argmax agreement: {agree}/{len(feeds)}")
sr = ort.InferenceSession(str(rhythm_qdq), providers=["CPUExecutionProvider"])
agree = sum(int(np.argmax(s32.run(["probs"], f)[0]) == np.argmax(sr.run(["probs"], f)[0])) for f in feeds)
print(f"rhythm's QDQ vs fp32 argmax agreement: {agree}/{len(feeds)}")
# The ONNX export against rhythm's own f32 probabilities (scalar reference, in beats.json).
ref = [np.asarray(b["probs"], np.float32) for b in doc["beats"]]
dp = max(float(np.abs(s32.run(["probs"], f)[0].reshape(-1) - r).max()) for f, r in zip(feeds, ref))
print(f"ORT fp32 vs rhythm f32: max |dp| = {dp:.2e}")
(out / "peers.json").write_text(json.dumps(res))
