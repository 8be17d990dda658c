#!/usr/bin/env python3
"""LiteRT (TFLite) peer on rhythm's network and inputs, one thread: onnx2tf turns the f32 ONNX
that `bench/peers.sh` exported into a TensorFlow SavedModel (NHWC), TFLiteConverter makes an
fp32 and a full-int8 model (per-channel weights, activations calibrated on the same beats, float
input/output), and LiteRT's interpreter runs both. Prints per-beat medians (µs) and argmax
agreement of int8 with fp32.

    bench/peers-litert.sh     # runs bench/peers.sh first (ONNX + beats + ONNX Runtime)
"""
import json, statistics, sys, time
from pathlib import Path

import numpy as np

out = Path(sys.argv[1] if len(sys.argv) > 1 else "target/peers")
doc = json.loads((out / "beats.json").read_text())
ishape, sshape = doc["image_shape"], doc["side_shape"]
beats = [(np.asarray(b["image"], np.float32).reshape(ishape),
          np.asarray(b["side"], np.float32).reshape(sshape)) for b in doc["beats"]]

import onnx2tf  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

saved = out / "litert-savedmodel"
onnx2tf.convert(input_onnx_file_path=str(out / "rhythm-f32.onnx"),
                output_folder_path=str(saved), non_verbose=True,
                copy_onnx_input_output_names_to_tflite=True)


def feed(shape, arr):
    """The ONNX (NCHW) array in the layout the converted model wants (NHWC)."""
    if list(arr.shape) == list(shape):
        return arr
    if arr.ndim == 4:
        t = np.transpose(arr, (0, 2, 3, 1))
        if list(t.shape) == list(shape):
            return t
    return arr.reshape(shape)


loaded = tf.saved_model.load(str(saved))
sig = loaded.signatures["serving_default"]
in_specs = sig.structured_input_signature[1]
names = {k: ("image" if "image" in k else "side") for k in in_specs}


def rep():
    for img, side in beats:
        yield {k: feed(v.shape, img if names[k] == "image" else side)
               for k, v in in_specs.items()}


models = {}
c = tf.lite.TFLiteConverter.from_saved_model(str(saved))
models["litert-fp32"] = c.convert()
c = tf.lite.TFLiteConverter.from_saved_model(str(saved))
c.optimizations = [tf.lite.Optimize.DEFAULT]
c.representative_dataset = rep
c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
models["litert-int8"] = c.convert()


def bench(name, blob, reps=300):
    path = out / f"rhythm-{name}.tflite"
    path.write_bytes(blob)
    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    sr = it.get_signature_runner("serving_default")
    ins, outs_d = sr.get_input_details(), sr.get_output_details()
    del sr
    # Inputs in the converted layout, made once (as peers.py builds ORT's feeds once).
    fed = [{ins[k]["index"]: feed(ins[k]["shape"], a) for k, a in (("image", img), ("side", side))}
           for img, side in beats]
    probs_at = outs_d["probs"]["index"]

    def run(f):
        for i, a in f.items():
            it.set_tensor(i, a)
        it.invoke()
        return it.get_tensor(probs_at).reshape(-1).copy()

    outs = [run(f) for f in fed]
    times = []
    for r in range(reps):
        f = fed[r % len(fed)]
        t = time.perf_counter_ns()
        run(f)
        times.append((time.perf_counter_ns() - t) / 1e3)
    return statistics.median(times), outs


res, arg, probs = {}, {}, {}
for name, blob in models.items():
    res[name], probs[name] = bench(name, blob)
    arg[name] = [int(np.argmax(o)) for o in probs[name]]
    print(f"{name:<14} median {res[name]:8.1f} us/beat  (ai-edge-litert, 1 thread)")
agree = sum(a == b for a, b in zip(arg["litert-int8"], arg["litert-fp32"]))
print(f"LiteRT int8 vs fp32 argmax agreement: {agree}/{len(beats)}")
# The conversion against rhythm's own f32 probabilities (scalar reference, in beats.json).
ref = [np.asarray(b["probs"], np.float32) for b in doc["beats"]]
dp = max(float(np.abs(o - r).max()) for o, r in zip(probs["litert-fp32"], ref))
print(f"LiteRT fp32 vs rhythm f32: max |dp| = {dp:.2e}")
(out / "peers-litert.json").write_text(json.dumps({"median_us": res, "int8_vs_fp32_agree": agree,
                                                   "fp32_max_dp_vs_rhythm": dp}))
