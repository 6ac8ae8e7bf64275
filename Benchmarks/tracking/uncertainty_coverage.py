#!/usr/bin/env python3
"""How well NoduleKit's per-measurement diameter uncertainty covers the real errors on phantoms.

Usage:
  uncertainty_coverage.py ratio  TRUTH.json TRACKS.json   (series: `nodules track --format json`)
  uncertainty_coverage.py single TRUTH.json RESULTS.jsonl (single images: `nodules detect`)

ratio: for every identity linked into one track (score_tracks.identities: the same hit rule), and each
pair of its consecutive exams, z = (ln(D2/D1) measured − ln(D2/D1) true) / √((σ1/D1)² + (σ2/D2)²),
with σ the observations' `diameter_sd_mm` (the tracker's σ_D). This is what the growth status
and the VDT interval rest on.

single: for every nodule with a reported candidate within the hit radius (the highest-scored
one), z = (D measured − D true) / σ_D, with σ_D recomputed from the candidate's features as the
tracker does (README: uncertainty model; σ_fit and 1 px of the measurement spacing, 0.2 mm floor).

Prints the fraction of |z| ≤ 1.96 (nominal 95 %). Python here is tooling for measuring,
never part of the product.
"""
import json
import math
import os
import sys

from score_tracks import identities  # the same hit and link rule


def ratio(truth, tracks):
    by_patient = {p["patient_id"]: p for p in tracks}
    z = []
    for pid in sorted({i["patient_id"] for i in truth["images"]}):
        out = by_patient.get(pid)
        if not out:
            continue
        images = sorted((i for i in truth["images"] if i["patient_id"] == pid), key=lambda i: i["study_date"])
        for v in identities(images, out).values():
            if not v["linked"]:
                continue
            for (_, t1, h1), (_, t2, h2) in zip(v["exams"], v["exams"][1:]):
                if h1[5] is None or h2[5] is None:
                    continue
                error = math.log(h2[4] / h1[4]) - math.log(t2 / t1)
                z.append(error / math.hypot(h1[5] / h1[4], h2[5] / h2[4]))
    return z, "pairs of consecutive exams of linked identities"


def single(truth, truth_path, results_path):
    folder = os.path.dirname(os.path.abspath(truth_path))
    records = {}
    for line in open(results_path):
        if line.strip():
            r = json.loads(line)
            records[os.path.realpath(r["path"])] = r
    z = []
    for im in truth["images"]:
        record = records.get(os.path.realpath(os.path.join(folder, im["path"])))
        if record is None:
            continue
        sp = im["pixel_spacing_mm"]
        measure = max(0.35, sp)  # the pipeline's measurement spacing (never finer than the input)
        for n in im["nodules"]:
            hits = [c for c in record["nodules"]
                    if math.hypot(c["x"] - n["x"], c["y"] - n["y"]) * sp <= max(n["diameter_mm"] / 2, 4.0)]
            if not hits or hits[0]["diameter_mm"] is None:
                continue
            c = max(hits, key=lambda c: c["score"])
            f, d = c["features"], c["diameter_mm"]
            shape = max(0.0, f["long_axis_mm"] - f["short_axis_mm"]) / math.sqrt(12)
            profile = d * (1 - min(max(f["sphere_fit"], 0.0), 1.0))
            opened = d * min(max(f["open_rays"], 0.0), 1.0) / 2
            sigma = max(0.2, math.sqrt(shape ** 2 + profile ** 2 + opened ** 2 + measure ** 2))
            z.append((d - n["diameter_mm"]) / sigma)
    return z, "nodules with a reported candidate (highest-scored hit)"


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("ratio", "single"):
        raise SystemExit(__doc__)
    truth = json.load(open(sys.argv[2]))
    if sys.argv[1] == "ratio":
        z, what = ratio(truth, json.load(open(sys.argv[3])))
    else:
        z, what = single(truth, sys.argv[2], sys.argv[3])
    inside = sum(1 for v in z if abs(v) <= 1.959964)
    print(f"{what}: {len(z)}; |z| <= 1.96 for {inside} ({100 * inside / max(1, len(z)):.1f} %, nominal 95 %)")


if __name__ == "__main__":
    main()
