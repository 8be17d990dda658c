#!/usr/bin/env python3
"""AF irregularity measures on mitdb's *reference* beats (an oracle for which beats are
ectopic): how EC57's AF duration Se/+P move with the threshold, DS1 and DS2 side by side.
A diagnostic of the AF detector's design (docs/rhythm-expert.md, "Where it stands"), not a
way of choosing its threshold: that is chosen on DS1 by `rhythm-train rhythm-expert`.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install wfdb numpy
    /tmp/venv/bin/python trainer/scripts/af_oracle.py ../shared/data/mitdb

Each beat's flag is the measure over the last 32 RR intervals (at least 8 kept; otherwise
the last value holds), dated 16 beats back as rhythm::af dates episodes; intervals touching
a reference F or Q beat are always left out, and those touching V (and S, for "SV") too.
"""
import sys
import numpy as np
import wfdb

DS1 = [101, 106, 108, 109, 112, 114, 115, 116, 118, 119, 122, 124, 201, 203, 205, 207,
       208, 209, 215, 220, 223, 230]
DS2 = [100, 103, 105, 111, 113, 117, 121, 123, 200, 202, 210, 212, 213, 214, 219, 221,
       222, 228, 231, 232, 233, 234]
AAMI = {**{c: 'N' for c in 'NLRej'}, **{c: 'S' for c in 'AaJS'}, **{c: 'V' for c in 'VE'},
        'F': 'F', **{c: 'Q' for c in '/fQ'}}
FS, WINDOW, MIN_KEPT, LOOK_BACK, SKIP_S = 360.0, 32, 8, 16, 300


def load(db, r):
    a = wfdb.rdann(f'{db}/{r}', 'atr')
    n = wfdb.rdheader(f'{db}/{r}').sig_len
    beats, rhythm = [], []
    for s, sym, aux in zip(a.sample, a.symbol, a.aux_note):
        if sym == '+':
            rhythm.append((s, aux.strip('\x00').strip()))
        if sym in AAMI:
            beats.append((s, AAMI[sym]))
    af = [(s, rhythm[k + 1][0] if k + 1 < len(rhythm) else n)
          for k, (s, aux) in enumerate(rhythm) if aux == '(AFIB']
    return np.array([b[0] for b in beats]), [b[1] for b in beats], af


def measure(rr, kind):
    d = np.abs(np.diff(rr))
    centre = np.median(d) if kind == 'median' else np.mean(d)
    return centre / np.median(rr)


def values(samples, cls, kind, excluded):
    out, rr, kept, last = [], [], [], 0.0
    for i in range(len(samples)):
        if i > 0:
            bad = any(c in excluded + 'FQ' for c in (cls[i], cls[i - 1]))
            rr = (rr + [(samples[i] - samples[i - 1]) / FS])[-WINDOW:]
            kept = (kept + [not bad])[-WINDOW:]
        k = [x for x, g in zip(rr, kept) if g]
        if len(k) >= MIN_KEPT:
            last = measure(np.array(k), kind)
        out.append(last)
    return np.array(out)


def prepare(db, records, kind, excluded):
    out = []
    for r in records:
        s, c, af = load(db, r)
        v = values(s, c, kind, excluded)
        at = np.minimum(np.arange(len(s) - 1) + LOOK_BACK, len(v) - 1)
        start = s[:-1]
        in_af = np.zeros(len(start), bool)
        for a, b in af:
            in_af |= (start >= a) & (start < b)
        scored = start >= SKIP_S * FS
        out.append((v[at][scored], np.diff(s).astype(float)[scored], in_af[scored]))
    return out


def score(prepared, t):
    ref = det = both = 0.0
    for v, d, a in prepared:
        f = v >= t
        ref, det, both = ref + d[a].sum(), det + d[f].sum(), both + d[f & a].sum()
    return 100 * both / max(ref, 1), 100 * both / max(det, 1)


def main():
    db = sys.argv[1] if len(sys.argv) > 1 else '../shared/data/mitdb'
    for kind, excluded in [('median', 'SV'), ('median', 'V'), ('mean', 'V')]:
        p1, p2 = prepare(db, DS1, kind, excluded), prepare(db, DS2, kind, excluded)
        print(f'\n{kind} |dRR| / median RR, intervals next to {excluded}, F, Q left out')
        print('| threshold | DS1 duration Se / +P | DS2 duration Se / +P |\n|---|---|---|')
        for t in np.arange(0.06, 0.195, 0.01):
            (a, b), (c, d) = score(p1, t), score(p2, t)
            print(f'| {t:.2f} | {a:.1f} / {b:.1f} | {c:.1f} / {d:.1f} |')


if __name__ == '__main__':
    main()
