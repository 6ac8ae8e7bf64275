#!/usr/bin/env python3
"""How repeatable the reported sizes are from exam to exam, sphere fit against edge (offline, never part of the product).

Usage: sizing_repeatability.py NAME:TRUTH.json:RESULTS.jsonl [...]

RESULTS.jsonl is `nodules batch` or `nodules detect` output of a serial phantom set made with an edge-sizing
definition (`measurement.diameter_method: edge`), so each record carries both sizes: the reported diameter and
the sphere-fit size, the mean of the features' long and short axis. Per exam and true nodule the hit is the
nearest reported detection within max(true radius, 4 mm) of the true centre (every reported detection, not an
operating point). Per identity with hits on two or more exams, r = ln(measured / true) on each exam; the
spread of r about the identity's own mean is what a growth estimate sees (a constant bias cancels in D2/D1).

Per set and sizing it prints: the median of measured / true over all hits (bias), the SD of r about each
identity's mean (repeatability, pooled over identities), the 90th percentile of |r - mean| by nearest rank,
and the number of hits.
"""
import json
import math
import os
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pooled import nearest_rank  # noqa: E402


def hits(truth_path, results_path):
    """{(patient, nodule id): [(true D, sphere-fit D, reported D), ...]} in truth order, mm."""
    truth = json.load(open(truth_path))
    by_path = {}
    for line in open(results_path):
        r = json.loads(line)
        by_path[r["path"]] = r
    per = defaultdict(list)
    for im in truth["images"]:
        record = next((v for k, v in by_path.items() if k.endswith("/" + im["path"])), None)
        if record is None:
            continue
        sp = im["pixel_spacing_mm"]
        for n in im["nodules"]:
            gate = max(n["diameter_mm"] / 2, 4)
            near = [(math.hypot(c["x"] - n["x"], c["y"] - n["y"]) * sp, i) for i, c in enumerate(record["nodules"])
                    if c.get("diameter_mm")]
            near = [t for t in near if t[0] <= gate]
            if not near:
                continue
            c = record["nodules"][min(near)[1]]
            f = c["features"]
            per[(im["patient_id"], n["id"])].append((n["diameter_mm"], (f["long_axis_mm"] + f["short_axis_mm"]) / 2,
                                                     c["diameter_mm"]))
    return per


def figures(per, column):
    ratios, deviations = [], []
    for exams in per.values():
        r = [math.log(e[column] / e[0]) for e in exams]
        ratios += [math.exp(x) for x in r]
        if len(r) >= 2:
            mean = sum(r) / len(r)
            deviations += [x - mean for x in r]
    sd = (sum(d * d for d in deviations) / len(deviations)) ** 0.5 if deviations else float("nan")
    return statistics.median(ratios), sd, nearest_rank([abs(d) for d in deviations], 0.9), len(ratios)


def main(specs):
    for spec in specs:
        name, truth_path, results_path = spec.split(":")
        per = hits(truth_path, results_path)
        for label, column in (("sphere fit", 1), ("reported", 2)):
            bias, sd, p90, n = figures(per, column)
            print(f"{name:5s} {label:10s}  median measured/true {bias:.3f}  SD of ln about the identity mean {sd:.3f}  "
                  f"p90 |dev| {p90:.3f}  hits {n}")


if __name__ == "__main__":
    main(sys.argv[1:])
