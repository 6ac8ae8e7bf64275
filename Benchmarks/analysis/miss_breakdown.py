#!/usr/bin/env python3
"""Why nodules are missed: a breakdown of detection results against phantom truth.

Usage (from the repository root; --truth/--results repeat in pairs, pooled at the end):
  python3 Benchmarks/analysis/miss_breakdown.py \\
      --truth Data/phantom/eval/truth.json --results /tmp/eval.jsonl [--truth ... --results ...]

For each set, and pooled over all sets, at the 2 FP/image operating point of *that set*
(the same rule as `nodules evaluate`: a candidate hits a nodule when its centre lies within
max(true radius, 4 mm) of the true centre; one true positive per nodule; a candidate that
reaches only already-hit nodules is neither true nor false positive), it prints:

- sensitivity for nodules >= 10 mm and 6-10 mm, and the *ceiling*: the share that has any
  reported candidate within the hit radius at all (what a perfect score would reach with
  the candidates reported);
- the reason for every missed nodule >= 10 mm:
    no candidate    - nothing reported within the hit radius;
    part            - the best candidate there measures outside 0.6-1.6 x the true diameter
                      (a part of the nodule, or the nodule with its surroundings);
    scored low      - a candidate of about the right size is there, scored below threshold;
- sensitivity (>= 10 mm) by edge clearance: the distance from the nodule's edge to the
  border of the true lung mask, mm (truth masks, never the detector's);
- how concentrated the false positives are: the share of them on the 10 % of images with
  the most.

Offline tooling for measuring, never part of the product (numpy, OpenCV for the masks).
"""
import argparse
import copy
import json
import math
import os

import cv2
import numpy as np


def events(image, record):
    """(score, indices of the nodules within whose hit radius it lies, candidate) per candidate."""
    spacing = image["pixel_spacing_mm"]
    out = []
    for c in record["nodules"]:
        inside = [k for k, n in enumerate(image["nodules"])
                  if math.hypot(c["x"] - n["x"], c["y"] - n["y"]) * spacing <= max(n["diameter_mm"] / 2, 4.0)]
        out.append((c["score"], inside, c))
    return out


def nodules_hit(reaches, allowed_fp):
    """The nodules hit at an operating point, by the evaluate rule: candidates are taken in rank
    order until one more false positive would exceed `allowed_fp`; a candidate reaching any nodule
    is never a false positive. `reaches`: per candidate, best first, the keys of the nodules within
    whose hit radius it lies (empty for a false positive)."""
    fp, hit = 0, set()
    for reach in reaches:
        if not reach:
            if fp + 1 > allowed_fp:
                break
            fp += 1
        else:
            hit.update(reach)
    return hit


def right_size(candidate, image, nodule):
    """Whether a candidate measures 0.6-1.6 x the nodule's true diameter: found as the nodule, not as a
    part of it or with its surroundings. From px and the truth's spacing, so that results made
    without a spacing (no diameter_mm) count too."""
    return 0.6 <= candidate["diameter_px"] * image["pixel_spacing_mm"] / nodule["diameter_mm"] <= 1.6


def threshold_at(truth, records, rate=2.0):
    """Lowest score at which false positives per image stay <= rate (the evaluate rule:
    a candidate within the hit radius of any nodule is never a false positive)."""
    scored = sorted(((score, bool(inside)) for image in truth["images"]
                     for score, inside, _ in events(image, records[image["path"]])), key=lambda e: -e[0])
    allowed = rate * len(truth["images"])
    fp, last = 0, math.inf
    for score, reaches_nodule in scored:
        if not reaches_nodule:
            if fp + 1 > allowed:
                break
            fp += 1
        last = score
    return last


def load(truth_path, results_path):
    truth = json.load(open(truth_path))
    folder = os.path.dirname(os.path.abspath(truth_path))
    by_real = {}
    for line in open(results_path):
        if line.strip():
            r = json.loads(line)
            by_real[os.path.realpath(r["path"])] = r
    records = {}
    for image in truth["images"]:
        r = by_real.get(os.path.realpath(os.path.join(folder, image["path"])))
        records[image["path"]] = r if r is not None else {"nodules": []}
    return truth, folder, records


def clearance_mm(folder, image, nodule, cache):
    path = image.get("lung_mask")
    if not path:
        return None
    if path not in cache:
        mask = cv2.imread(os.path.join(folder, path), cv2.IMREAD_GRAYSCALE)
        cache.clear()
        cache[path] = None if mask is None else cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 5)
    inside = cache[path]
    if inside is None:
        return None
    y = min(max(int(round(nodule["y"])), 0), inside.shape[0] - 1)
    x = min(max(int(round(nodule["x"])), 0), inside.shape[1] - 1)
    return float(inside[y, x]) * image["pixel_spacing_mm"] - nodule["diameter_mm"] / 2


BANDS = [(-math.inf, 5.0, "< 5 mm"), (5.0, 15.0, "5-15 mm"), (15.0, math.inf, ">= 15 mm")]


def analyse(truth, folder, records):
    threshold = threshold_at(truth, records)
    stats = {"large": 0, "large_hit": 0, "large_any": 0, "mid": 0, "mid_hit": 0, "mid_any": 0,
             "none": 0, "part": 0, "low": 0, "bands": {b[2]: [0, 0] for b in BANDS}, "fp": [],
             "threshold": [threshold]}
    cache = {}
    for image in truth["images"]:
        ev = events(image, records[image["path"]])
        fps = sum(1 for s, inside, _ in ev if s >= threshold and not inside)
        stats["fp"].append(fps)
        for k, n in enumerate(image["nodules"]):
            near = [(s, c) for s, inside, c in ev if k in inside]
            hit = any(s >= threshold for s, _ in near)
            d = n["diameter_mm"]
            if d >= 10:
                stats["large"] += 1
                stats["large_hit"] += hit
                stats["large_any"] += bool(near)
                if not hit:
                    if not near:
                        stats["none"] += 1
                    else:
                        best = max(near, key=lambda e: e[0])[1]
                        measured = best.get("diameter_mm") or 0
                        stats["part" if not 0.6 <= measured / d <= 1.6 else "low"] += 1
                e = clearance_mm(folder, image, n, cache)
                if e is not None:
                    for lo, hi, name in BANDS:
                        if lo <= e < hi:
                            stats["bands"][name][0] += hit
                            stats["bands"][name][1] += 1
            elif d >= 6:
                stats["mid"] += 1
                stats["mid_hit"] += hit
                stats["mid_any"] += bool(near)
    return stats


def report(label, s):
    def pct(a, b):
        return f"{a}/{b} ({100 * a / b:.1f} %)" if b else "-"
    fp = sorted(s["fp"], reverse=True)
    top = fp[:max(1, len(fp) // 10)]
    print(f"{label}: images {len(fp)}, 2 FP/image threshold " + ", ".join(f"{t:.4f}" for t in s["threshold"]))
    print(f"  >= 10 mm at 2 FP/image {pct(s['large_hit'], s['large'])}; ceiling (any reported candidate) {pct(s['large_any'], s['large'])}")
    print(f"  6-10 mm  at 2 FP/image {pct(s['mid_hit'], s['mid'])}; ceiling {pct(s['mid_any'], s['mid'])}")
    missed = s["large"] - s["large_hit"]
    print(f"  missed >= 10 mm: {missed}: no candidate {s['none']}, found only as a part {s['part']}, scored low {s['low']}")
    print("  >= 10 mm by edge clearance: " + "; ".join(f"{name} {pct(*s['bands'][name])}" for _, _, name in BANDS))
    print(f"  false positives at 2 FP/image: {sum(fp)}; on the 10 % of images with the most: {pct(sum(top), sum(fp))}")


def merge(total, more):
    """Counts add, per-image lists concatenate, [hits, nodules] bands add."""
    for k, v in more.items():
        if k == "bands":
            for band, (hits, nodules) in v.items():
                total[k][band][0] += hits
                total[k][band][1] += nodules
        else:
            total[k] += v
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", action="append", required=True)
    ap.add_argument("--results", action="append", required=True)
    args = ap.parse_args()
    if len(args.truth) != len(args.results):
        raise SystemExit("give one --results per --truth")
    pooled = None
    for t, r in zip(args.truth, args.results):
        truth, folder, records = load(t, r)
        s = analyse(truth, folder, records)
        report(t, s)
        pooled = copy.deepcopy(s) if pooled is None else merge(pooled, s)
    if len(args.truth) > 1:
        report("pooled (each set at its own 2 FP/image threshold)", pooled)


if __name__ == "__main__":
    main()
