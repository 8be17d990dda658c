#!/usr/bin/env python3
"""The shipped model through the `rhythm` CLI on the 22 DS2 records, its own detector, EC57 gross.

Usage (repository root, after `cargo build --release -p rhythm-cli`):
    python3 trainer/scripts/ds2_cli_eval.py ../shared/data/mitdb [--adapt-seconds 300]

Prints the gross numbers over DS2, record 232 alone and DS2 without 232 (232 holds most of
DS2's S beats), a per-record table, and EC57's atrial fibrillation measures (the first 5
minutes left out; flutter, not AF, on its own row). With --adapt-seconds N the CLI adapts on the reference labels of the first
N s of each record and scores only the rest (the patient-specific protocol).
"""
import json, subprocess, sys
DS2 = "100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234".split()
data = sys.argv[1]
extra_args = sys.argv[2:]

def stats(M):
    tot = sum(map(sum, M)); acc = sum(M[i][i] for i in range(5)) / tot * 100
    S, V = 1, 2
    sse = M[S][S] / sum(M[S]) * 100 if sum(M[S]) else float("nan")
    ps = sum(M[r][S] for r in range(5)); sppv = M[S][S] / ps * 100 if ps else float("nan")
    vse = M[V][V] / sum(M[V]) * 100 if sum(M[V]) else float("nan")
    # EC57 VEB: reference F beats called V are not false positives.
    pv = sum(M[r][V] for r in range(5) if r != 3); vppv = M[V][V] / pv * 100 if pv else float("nan")
    return tot, acc, sse, sppv, vse, vppv

per = {}
af = {}
missed = extra = 0
for r in DS2:
    out = subprocess.run(["./target/release/rhythm", "classify", f"{data}/{r}", "--json", "--summary-only", *extra_args],
                         capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    c = doc["summary"]["confusion"]
    per[r] = c["matrix"]; missed += sum(c["missed"]); extra += sum(c["extra"])
    score = (doc.get("atrial_fibrillation") or {}).get("score")
    if score: af[r] = score

def pooled(names):
    M = [[0]*5 for _ in range(5)]
    for r in names:
        for i in range(5):
            for j in range(5): M[i][j] += per[r][i][j]
    return M

print(f"args {extra_args or '(none)'}; missed {missed}, extra detections {extra}")
print("| records | matched beats | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % |")
print("|---|---|---|---|---|---|---|")
for label, names in [("DS2 (22)", DS2), ("232 alone", ["232"]), ("DS2 without 232", [r for r in DS2 if r != "232"])]:
    print("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f |" % ((label,) + stats(pooled(names))))
print("confusion DS2 rows N S V F Q (reference), columns predicted:", pooled(DS2))
fmt = lambda x: "–" if x != x else "%.2f" % x
print()
print("| record | matched beats | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % |")
print("|---|---|---|---|---|---|---|")
for r in DS2:
    t, *v = stats(per[r])
    print("| %s | %d | %s |" % (r, t, " | ".join(fmt(x) for x in v)))
if af:
    keys = ["overlap", "reference", "detected", "reference_episodes", "reference_episodes_found", "detected_episodes", "detected_episodes_true"]
    def tot(kind, names):
        return {k: sum(af[r][kind][k] for r in names if r in af) for k in keys}
    def pct(a, b): return 100.0 * a / b if b else float("nan")
    print()
    print("| AF (EC57, first 5 min left out) | reference min | detected min | duration Se % | duration +P % | episode Se % | episode +P % |")
    print("|---|---|---|---|---|---|---|")
    rows = [(r, af[r]["af"]) for r in DS2 if r in af and (af[r]["af"]["reference"] or af[r]["af"]["detected"])]
    rows.append(("**DS2 gross AF**", tot("af", DS2)))
    for label, a in rows:
        print("| %s | %.1f | %.1f | %s | %s | %s | %s |" % (label, a["reference"] / 360 / 60, a["detected"] / 360 / 60,
              fmt(pct(a["overlap"], a["reference"])), fmt(pct(a["overlap"], a["detected"])),
              fmt(pct(a["reference_episodes_found"], a["reference_episodes"])), fmt(pct(a["detected_episodes_true"], a["detected_episodes"]))))
    fl = tot("flutter", DS2)
    print("flutter (AFL, not AF): reference %.1f min, called AF %.1f min (%s %%)" % (fl["reference"] / 360 / 60, fl["overlap"] / 360 / 60, fmt(pct(fl["overlap"], fl["reference"]))))
