#!/usr/bin/env python3
"""The shipped model through the `rhythm` CLI on the 22 DS2 records, its own detector, EC57 gross.

Usage (repository root, after `cargo build --release -p rhythm-cli`):
    python3 trainer/scripts/ds2_cli_eval.py ../shared/data/mitdb
"""
import json, subprocess, sys
DS2 = "100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234".split()
data = sys.argv[1]
M = [[0]*5 for _ in range(5)]; missed=[0]*5; extra=[0]*5
def stats(M, skip=None):
    tot = sum(map(sum, M)); acc = sum(M[i][i] for i in range(5)) / tot * 100
    S, V = 1, 2
    sse = M[S][S] / sum(M[S]) * 100
    ps = sum(M[r][S] for r in range(5)); sppv = M[S][S] / ps * 100 if ps else float("nan")
    vse = M[V][V] / sum(M[V]) * 100
    # EC57 VEB: reference F beats called V are not false positives.
    vppv = M[V][V] / sum(M[r][V] for r in range(5) if r != 3) * 100
    return tot, acc, sse, sppv, vse, vppv
for r in DS2:
    out = subprocess.run(["./target/release/rhythm", "classify", f"{data}/{r}", "--json", "--summary-only"], capture_output=True, text=True, check=True).stdout
    c = json.loads(out)["summary"]["confusion"]
    for i in range(5):
        for j in range(5): M[i][j] += c["matrix"][i][j]
        missed[i] += c["missed"][i]; extra[i] += c["extra"][i]
t = stats(M)
print(f"matched beats {t[0]}, missed {sum(missed)}, extra detections {sum(extra)}")
print("| Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % |")
print("| %.2f | %.2f | %.2f | %.2f | %.2f |" % t[1:])
print("confusion rows N S V F Q (reference), columns predicted:", M)
