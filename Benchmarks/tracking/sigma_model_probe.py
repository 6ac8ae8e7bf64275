#!/usr/bin/env python3
"""Which sizing-uncertainty model gives the most right growth statuses without more confident wrong ones?
(offline probe, never part of the product)

Usage: sigma_model_probe.py [--shape W[,W...]] [--disagreement W[,W...]] [--no-fit C[,C...]] [--map W[,W...]]
       NAME:TRUTH.json:TRACKS.json:RESULTS.jsonl [...]

RESULTS.jsonl is the `nodules batch` output the store behind TRACKS.json was made from, so each followed
observation's detection (matched by path, position within 0.2 mm and diameter within 0.02 mm) carries its
features. The observation's σ_D is made again from them as the tracker makes it
(Sources/ExamSeries/NoduleSelection.swift, `SizingUncertainty`; SerialTracking's `DiameterUncertaintyModel`):

    σ_fit² = (w_shape·(L − S)/√12)² + (D·(1 − clamp(sphere_fit, 0, 1)))² + (D·open_rays/2)²
             + (w_disagreement·|D − (L + S)/2|)²
    σ_D = max(0.2 mm, √(σ_fit² + max(0.35 mm, spacing)²))

with D the reported (edge) diameter and L, S the sphere fit's axes; w_shape 1 and w_disagreement 0 are the
model before session 35. --no-fit C (session 36) tries σ_fit = C·D instead for map proposals without a sphere
fit (features map_proposal 1 and sphere_fit ≤ 0, which the model gives σ_fit ≈ D), each C beside the model as is;
--map W adds (W·|D − features.map_diameter_mm|)² (the map blob's size; records from session 36 on). An observation the tracker measured again (no detection record) keeps its own σ_D.
For every identity linked in one track (score_tracks.py's rule) the status is decided again by
sigma_scale_probe.py's copy of the tracker's rule. Per (w_shape, w_disagreement), pooled over the sets, it
prints: statuses right, indeterminate where another was expected, other (confidently) wrong; how often the
95 % interval of the growth rate holds the true rate (the least-squares slope of 3 ln(true D) on days; tracks
of two or more observations); and for consecutive observations of one track how often the 95 % interval of
ln(D2/D1) holds the true log ratio.
Python here is tooling for measuring, never part of the product.
"""
import argparse
import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score_tracks import expected_status, linked_identities  # noqa: E402
from sigma_scale_probe import Z95, status  # noqa: E402


def days(d):
    return datetime.date.fromisoformat(d).toordinal()


def collect(name, truth_path, tracks_path, results_path):
    """Per linked identity: (set, expected status, tracker's status, [observation dicts with true D and features])."""
    truth = json.load(open(truth_path))
    by_patient = {p["patient_id"]: p for p in json.load(open(tracks_path))}
    records = {}
    for line in open(results_path):
        r = json.loads(line)
        records[r["path"]] = r
    out = []
    for images, v, track in linked_identities(truth, by_patient):
        true_d = {date: d for date, d, _ in v["exams"]}
        observations = []
        for o in track["observations"]:
            record = records.get(o["path"])
            features, spacing = None, None
            if record:
                spacing = record["pixel_spacing_mm"]
                for n in record["nodules"]:
                    if spacing and math.hypot((n["x"] + 0.5) * spacing - o["x_mm"], (n["y"] + 0.5) * spacing - o["y_mm"]) < 0.2 \
                            and abs(n["diameter_mm"] - o["diameter_mm"]) < 0.02:
                        features = n["features"]
            observations.append(dict(o, features=features, spacing=spacing, true_d=true_d.get(o["study_date"])))
        out.append((name, expected_status(v, images), track["status"], observations))
    return out


def sigma(o, w_shape, w_disagreement, no_fit=None, w_map=0.0):
    f = o["features"]
    if f is None or not o["spacing"]:
        return o["diameter_sd_mm"]
    d, long_axis, short_axis = o["diameter_mm"], f["long_axis_mm"], f["short_axis_mm"]
    grid = max(0.35, o["spacing"])
    if no_fit is not None and f.get("map_proposal", 0) == 1 and f["sphere_fit"] <= 0:
        return max(0.2, math.hypot(no_fit * d, grid))
    shape = w_shape * max(0.0, long_axis - short_axis) / math.sqrt(12)
    profile = d * (1 - min(max(f["sphere_fit"], 0.0), 1.0))
    open_rays = d * min(max(f["open_rays"], 0.0), 1.0) / 2
    disagreement = w_disagreement * abs(d - (long_axis + short_axis) / 2)
    map_term = w_map * abs(d - f["map_diameter_mm"]) if f.get("map_diameter_mm") else 0.0
    return max(0.2, math.sqrt(shape ** 2 + profile ** 2 + open_rays ** 2 + disagreement ** 2 + map_term ** 2 + grid ** 2))


def rate(points):
    """(k, σ_k) of ln V = 3 ln D on days, the tracker's fit; points (day, D, σ_D), two or more, span > 0."""
    t = [p[0] for p in points]
    y = [3 * math.log(p[1]) for p in points]
    sy = [3 * p[2] / p[1] for p in points]
    span = t[-1] - t[0]
    if len(points) == 2:
        return (y[1] - y[0]) / span, math.hypot(sy[0], sy[1]) / span
    w = [1 / (s * s) for s in sy]
    sw = sum(w)
    tbar = sum(a * b for a, b in zip(w, t)) / sw
    ybar = sum(a * b for a, b in zip(w, y)) / sw
    sxx = sum(wi * (ti - tbar) ** 2 for wi, ti in zip(w, t))
    k = sum(wi * (ti - tbar) * (yi - ybar) for wi, ti, yi in zip(w, t, y)) / sxx
    chi2 = sum(wi * (yi - (ybar + k * (ti - tbar))) ** 2 for wi, ti, yi in zip(w, t, y))
    return k, math.sqrt(1 / sxx) * math.sqrt(max(1, chi2 / (len(points) - 2)))


def score(identities_, w_shape, w_disagreement, no_fit=None, w_map=0.0):
    right = indeterminate = wrong = 0
    rate_held = rate_total = pair_held = pair_total = 0
    recomputed = agree = 0
    for _, expected, tracker_status, observations in identities_:
        obs = [dict(o, diameter_sd_mm=sigma(o, w_shape, w_disagreement, no_fit, w_map)) for o in observations
               if o.get("diameter_mm") and o.get("diameter_sd_mm")]
        st = tracker_status
        if len(obs) >= 2 and st in ("growing", "stable", "shrinking", "indeterminate"):
            st = status(obs, 1.0)
            recomputed += 1
            agree += st == tracker_status
        right += st == expected
        indeterminate += st == "indeterminate" and expected != "indeterminate"
        wrong += st != expected and not (st == "indeterminate" and expected != "indeterminate")
        truthful = sorted((days(o["study_date"]), o["diameter_mm"], o["diameter_sd_mm"], o["true_d"]) for o in obs if o["true_d"])
        if len(truthful) >= 2 and truthful[-1][0] > truthful[0][0]:
            k, sk = rate([p[:3] for p in truthful])
            t = [p[0] for p in truthful]
            yt = [3 * math.log(p[3]) for p in truthful]
            tm, ym = sum(t) / len(t), sum(yt) / len(yt)
            true_k = sum((a - tm) * (b - ym) for a, b in zip(t, yt)) / sum((a - tm) ** 2 for a in t)
            rate_total += 1
            rate_held += abs(k - true_k) <= Z95 * sk
        for a, b in zip(truthful, truthful[1:]):
            error = math.log(b[1] / a[1]) - math.log(b[3] / a[3])
            pair_total += 1
            pair_held += abs(error) <= Z95 * math.hypot(a[2] / a[1], b[2] / b[1])
    return dict(right=right, indeterminate=indeterminate, wrong=wrong, total=len(identities_),
                rate=(rate_held, rate_total), pair=(pair_held, pair_total), recomputed=recomputed, agree=agree)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="1")
    parser.add_argument("--disagreement", default="0")
    parser.add_argument("--no-fit", default="",
                        help="relative σ_fit (× D) for map proposals without a sphere fit (sphere_fit ≤ 0), "
                             "comma-separated; empty: the fit-based model for them too")
    parser.add_argument("--map", default="0",
                        help="weight of |D - map blob's diameter| (features.map_diameter_mm, records from session 36), "
                             "comma-separated")
    parser.add_argument("sets", nargs="+", help="NAME:TRUTH.json:TRACKS.json:RESULTS.jsonl")
    args = parser.parse_args()
    identities_ = []
    for spec in args.sets:
        identities_ += collect(*spec.split(":"))
    no_fits = [None] + [float(c) for c in args.no_fit.split(",") if c]
    models = [(float(a), float(b), c, float(m)) for a in args.shape.split(",") for b in args.disagreement.split(",")
              for c in no_fits for m in args.map.split(",")]
    for w_shape, w_disagreement, no_fit, w_map in models:
        s = score(identities_, w_shape, w_disagreement, no_fit, w_map)
        print(f"shape {w_shape:g} disagreement {w_disagreement:g}"
              + ("" if no_fit is None else f" no-fit {no_fit:g}") + (f" map {w_map:g}" if w_map else "") + f": right {s['right']} of {s['total']} linked, "
              f"indeterminate where another was expected {s['indeterminate']}, other wrong {s['wrong']}; "
              f"rate intervals hold the truth {s['rate'][0]} of {s['rate'][1]}, "
              f"log-ratio intervals {s['pair'][0]} of {s['pair'][1]} ({s['pair'][0] / max(1, s['pair'][1]):.3f})"
              + (f"; recomputed {s['recomputed']}, agreeing with the tracker {s['agree']}"
                 if w_shape == 1 and w_disagreement == 0 and no_fit is None and not w_map else ""))

if __name__ == "__main__":
    main()
