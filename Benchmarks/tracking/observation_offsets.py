#!/usr/bin/env python3
"""Are badly sized observations off their track's centre? (Offline measurement, never part of the product.)

For every linked identity (score_tracks.py's definition) with two or more exams, each observation's
distance from its track's mean position in the reference frame (reference_x_mm / reference_y_mm of
`nodules track --format json`), against its sizing error |ln(measured / true diameter)|. If gross
size errors came from candidates found off the nodule's centre, re-measuring every observation of a
track at the track's common registered centre would fix them; this says whether they do.

Usage: observation_offsets.py TRUTH.json:TRACKS.json [TRUTH.json:TRACKS.json ...]
Prints, per set, how many observations are sized beyond 28 % (|ln| > 0.25); then, pooled, for
observations sized within and beyond 28 %, the offset's median / p75 / p90
(mm and as a fraction of the true diameter), and how many observations lie more than 2, 3, 4 and 6 mm
off and how many of those are badly sized.
"""
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import score_tracks  # noqa: E402


def rows(truth_path, tracks_path):
    truth = json.load(open(truth_path))
    by_patient = {p["patient_id"]: p for p in json.load(open(tracks_path))}
    for pid in sorted({i["patient_id"] for i in truth["images"]}):
        images = sorted((i for i in truth["images"] if i["patient_id"] == pid), key=lambda i: i["study_date"])
        out = by_patient.get(pid)
        if out is None:
            continue
        for v in score_tracks.identities(images, out).values():
            if not v["linked"] or len(v["exams"]) < 2:
                continue
            observations = out["tracks"][v["exams"][0][2][0]]["observations"]
            mx = statistics.mean(o["reference_x_mm"] for o in observations)
            my = statistics.mean(o["reference_y_mm"] for o in observations)
            for date, true_d, _ in v["exams"]:
                o = next(o for o in observations if o["study_date"] == date)
                offset = math.hypot(o["reference_x_mm"] - mx, o["reference_y_mm"] - my)
                yield offset, offset / true_d, math.log(o["diameter_mm"] / true_d)


def main(pairs):
    all_rows = []
    for pair in pairs:
        mine = list(rows(*pair.split(":")))
        print(f"{pair.split(':')[0]}: {len(mine)} observations of linked identities, {sum(abs(r[2]) > 0.25 for r in mine)} sized beyond 28 %")
        all_rows += mine
    bad = [r for r in all_rows if abs(r[2]) > 0.25]
    good = [r for r in all_rows if abs(r[2]) <= 0.25]
    for name, sel in (("sized beyond 28 % (|ln| > 0.25)", bad), ("sized within 28 %", good)):
        offs = sorted(r[0] for r in sel)
        rel = sorted(r[1] for r in sel)
        q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))]
        print(f"{name}: {len(sel)} observations; offset from the track's mean median {q(offs, .5):.1f} / p75 {q(offs, .75):.1f}"
              f" / p90 {q(offs, .9):.1f} mm; as a fraction of the true diameter median {q(rel, .5):.2f} / p90 {q(rel, .9):.2f}")
    for threshold in (2, 3, 4, 6):
        sel = [r for r in all_rows if r[0] > threshold]
        print(f"more than {threshold} mm off: {len(sel)} observations, {sum(abs(r[2]) > 0.25 for r in sel)} of them badly sized")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
