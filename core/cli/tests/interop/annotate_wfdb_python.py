"""Reads RECORD.rhy with wfdb-python and checks it against the CLI's JSON, beat by beat."""
import json
import sys

import wfdb

record, json_path = sys.argv[1], sys.argv[2]
doc = json.load(open(json_path))
ann = wfdb.rdann(record, "rhy")
beats = doc["beats"]
assert len(ann.sample) == len(beats), f"{record}: {len(ann.sample)} annotations, {len(beats)} beats"
assert len(beats) > 300, f"{record}: only {len(beats)} beats"
# The MIT code of each AAMI class; beats without a class are Q.
code = {"N": "N", "S": "S", "V": "V", "F": "F", "Q": "Q", None: "Q"}
aux = ann.aux_note or [""] * len(beats)
for i, (s, sym, note, b) in enumerate(zip(ann.sample, ann.symbol, aux, beats)):
    assert int(s) == b["sample"], f"{record} beat {i}: sample {s} != {b['sample']}"
    assert sym == code[b["class"]], f"{record} beat {i}: code {sym!r} != class {b['class']!r}"
    want = "" if b["quality"] == "Ok" else b["quality"]
    assert note.rstrip("\x00") == want, f"{record} beat {i}: aux {note!r} != quality {want!r}"
fs = doc["sampling_rate_hz"]
assert ann.fs in (None, fs) or abs(ann.fs - fs) < 1e-9, f"{record}: fs {ann.fs} != {fs}"
classes = {c: sum(1 for b in beats if code[b["class"]] == c) for c in "NSVFQ"}
print(f"wfdb-python {wfdb.__version__}: {record}.rhy: {len(beats)} annotations at {fs} Hz "
      f"equal the CLI's beats (sample, code, aux) {classes}")
