#!/usr/bin/env python3
"""Synthetic signals that are not ECG, as WFDB records (format 16, 200 units/mV, 10 min), and
each through `rhythm classify` (hardening v2 N8; the table in docs/RELIABILITY.md).

Usage (repository root, after `cargo build --release -p rhythm-cli`):
    python3 trainer/scripts/not_ecg_cases.py OUT_DIR
"""
import array, collections, json, math, os, random, subprocess, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = random.Random(1)

def write(name, fs, adc):
    a = array.array("h", (max(-32768, min(32767, int(round(v)))) for v in adc))
    if sys.byteorder != "little":
        a.byteswap()
    with open(os.path.join(out, name + ".dat"), "wb") as f:
        a.tofile(f)
    with open(os.path.join(out, name + ".hea"), "w", newline="") as f:
        f.write(f"{name} 1 {fs} {len(a)}\r\n{name}.dat 16 200 16 0\r\n")

n = 360 * 600
cases = {
    "square 1 Hz ±1 mV": (360, [200 if (i // 180) % 2 == 0 else -200 for i in range(n)]),
    "impulses 10 Hz, 2 mV": (360, [400 if i % 36 == 0 else 0 for i in range(n)]),
    "full-scale noise (16-bit ADC)": (360, [rng.randint(-32768, 32767) for _ in range(n)]),
    "lead off: at the rail, bouncing every 2.8 s": (360, [rng.randint(-2000, 2000) if i % 1000 < 20 else 32767 for i in range(n)]),
    "flat line": (360, [100] * n),
    "noise ±10 mV (uniform)": (360, [rng.uniform(-2000, 2000) for _ in range(n)]),
    "sine 1.2 Hz, 1 mV": (360, [200 * math.sin(2 * math.pi * 1.2 * i / 360) for i in range(n)]),
    "square 1 Hz at 128 Hz": (128, [200 if (i // 64) % 2 == 0 else -200 for i in range(128 * 600)]),
    "sawtooth 1 Hz ±1 mV": (360, [((i % 360) / 360 * 2 - 1) * 200 for i in range(n)]),
}
print("| signal (10 min) | beats | classes | qualities | warning |")
print("|---|---|---|---|---|")
for k, (label, (fs, adc)) in enumerate(cases.items()):
    name = f"case{k}"
    write(name, fs, adc)
    run = subprocess.run(["./target/release/rhythm", "classify", os.path.join(out, name), "--json"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(f"| {label} | error: {run.stderr.strip()} | | | |")
        continue
    d = json.loads(run.stdout)
    beats = d["beats"]
    classes = collections.Counter(b["class"] or "none" for b in beats)
    quality = collections.Counter(b["quality"] for b in beats)
    fmt = lambda c: ", ".join(f"{k} {v}" for k, v in c.most_common())
    warned = "; ".join(w.split(";")[0] for w in d["warnings"]) or "–"
    print(f"| {label} | {len(beats)} | {fmt(classes) or '–'} | {fmt(quality) or '–'} | {warned} |")
