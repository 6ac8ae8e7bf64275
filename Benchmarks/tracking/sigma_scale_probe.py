#!/usr/bin/env python3
"""Would narrower diameter uncertainties give more right growth statuses, and at what cost?
(offline probe, never part of the product)

Usage: sigma_scale_probe.py ALPHA[,ALPHA...] TRUTH.json:TRACKS.json [...]

For every identity linked into one track (score_tracks.identities: the same hit and link rule),
the track's status is decided again from its own observations (study dates, `diameter_mm`,
`diameter_sd_mm`) with every σ_D multiplied by ALPHA, by a Python copy of the tracker's rule
(`GrowthEstimate` / `GrowthStatusRule`, Sources/SerialTracking/Growth.swift): ln V = 3 ln D
fitted on time (two exams: the difference; three or more: weighted least squares, σ_k inflated
by √(χ²/(n−2)) when the scatter exceeds σ); stable when |ΔlnV| < ln 1.25, growing / shrinking
when the 95 % interval on the rate excludes 0, indeterminate otherwise. Tracks with one
observation keep the tracker's status. Against score_tracks' expected status, pooled over the
sets, it prints per ALPHA: right, indeterminate where another was expected, and other wrong.
At ALPHA = 1 it also prints how many recomputed statuses agree with the tracker's own (all of
them when this copy is faithful).
Python here is tooling for measuring, never part of the product.
"""
import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score_tracks import expected_status, linked_identities  # noqa: E402  (the same hit, link and status rules)

Z95 = 1.959963984540054


def status(observations, alpha):
    """GrowthEstimate's status for (date, D, σ_D·alpha) points."""
    pts = sorted((datetime.date.fromisoformat(o["study_date"]).toordinal(), o["diameter_mm"],
                  o["diameter_sd_mm"] * alpha) for o in observations)
    t = [p[0] for p in pts]
    y = [3 * math.log(p[1]) for p in pts]
    sy = [3 * p[2] / p[1] for p in pts]
    span = t[-1] - t[0]
    if span <= 0:
        return "indeterminate"
    if len(pts) == 2:
        k = (y[1] - y[0]) / span
        sk = math.hypot(sy[0], sy[1]) / span
    else:
        w = [1 / (s * s) for s in sy]
        sw = sum(w)
        tbar = sum(a * b for a, b in zip(w, t)) / sw
        ybar = sum(a * b for a, b in zip(w, y)) / sw
        sxx = sum(wi * (ti - tbar) ** 2 for wi, ti in zip(w, t))
        sxy = sum(wi * (ti - tbar) * (yi - ybar) for wi, ti, yi in zip(w, t, y))
        k = sxy / sxx
        chi2 = sum(wi * (yi - (ybar + k * (ti - tbar))) ** 2 for wi, ti, yi in zip(w, t, y))
        sk = math.sqrt(1 / sxx) * math.sqrt(max(1, chi2 / (len(pts) - 2)))
    if abs(k * span) < math.log(1.25):
        return "stable"
    if k - Z95 * sk > 0 or k + Z95 * sk < 0:
        return "growing" if k > 0 else "shrinking"
    return "indeterminate"


def main(alphas, pairs):
    sets = []
    for pair in pairs:
        truth_path, tracks_path = pair.split(":")
        sets.append((json.load(open(truth_path)), {p["patient_id"]: p for p in json.load(open(tracks_path))}))
    for alpha in alphas:
        total = right = indeterminate = agree = recomputed = 0
        for truth, by_patient in sets:
            for images, v, track in linked_identities(truth, by_patient):
                expected = expected_status(v, images)
                obs = [o for o in track["observations"] if o.get("diameter_mm") and o.get("diameter_sd_mm")]
                st = track["status"]
                if len(obs) >= 2 and st in ("growing", "stable", "shrinking", "indeterminate"):
                    st = status(obs, alpha)
                    recomputed += 1
                    agree += st == track["status"]
                total += 1
                right += st == expected
                indeterminate += st == "indeterminate" and expected != "indeterminate"
        line = (f"sigma x {alpha:g}: status right {right} of {total} linked; indeterminate where another was "
                f"expected {indeterminate}; other wrong {total - right - indeterminate}")
        if alpha == 1:
            line += f" (recomputed {recomputed}, agreeing with the tracker's own {agree})"
        print(line)


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1].split(",")], sys.argv[2:])
