"""Reads RECORD.rhy with wfdb-python and checks it against the CLI's JSON, beat by beat."""
import json
import sys

import wfdb

record, json_path = sys.argv[1], sys.argv[2]
doc = json.load(open(json_path))
ann = wfdb.rdann(record, "rhy")
beats = doc["beats"]
# Rhythm changes ("+", aux "(AFIB" / "(N", as mitdb's .atr): one "(AFIB" per AF episode the
# JSON reports, at its start sample; the beat annotations are the rest.
notes = ann.aux_note or [""] * len(ann.sample)
rhythm = [(int(s), n.rstrip("\x00")) for s, sym, n in zip(ann.sample, ann.symbol, notes) if sym == "+"]
episodes = doc["atrial_fibrillation"]["episodes"]
assert [s for s, n in rhythm if n == "(AFIB"] == [e["start_sample"] for e in episodes], f"{record}: {rhythm} vs {episodes}"
assert all(n in ("(AFIB", "(N") for _, n in rhythm), rhythm
keep = [i for i, sym in enumerate(ann.symbol) if sym != "+"]
ann.sample = [ann.sample[i] for i in keep]
ann.symbol = [ann.symbol[i] for i in keep]
ann.aux_note = [notes[i] for i in keep]
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
print(f"wfdb-python {wfdb.__version__}: {record}.rhy: {len(beats)} beat annotations at {fs} Hz "
      f"equal the CLI's beats (sample, code, aux) {classes}; {len(rhythm)} rhythm changes, "
      f"{len(episodes)} AF episodes")
