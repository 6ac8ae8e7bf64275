#!/usr/bin/env python3
"""Pictures of what the detector gets wrong on a phantom set: the highest-scoring false positives
and the missed nodules, at the set's 2 FP/image operating point (the `nodules evaluate` rule: a
candidate within max(true radius, 4 mm) of a true centre hits it; one true positive per nodule; a
candidate within the hit radius of a nodule is never a false positive).

Usage (from the repository root):
  python3 Benchmarks/analysis/miss_gallery.py SET_DIR RESULTS.jsonl OUT_PREFIX [--count 40] [--min-mm 10]

SET_DIR holds truth.json and the images it names; RESULTS.jsonl is `nodules detect SET_DIR/images/* --out ...`.
Writes OUT_PREFIX-false-positives.png and OUT_PREFIX-missed.png: tiles of 50 x 50 mm around each
place, each windowed on its own 1st-99th percentile (a global window hides faint nodules in dense
regions), 8 per row. False positives are circled red at their reported size, labelled with the score;
missed nodules (>= --min-mm) green at their true size, labelled with the true diameter, the truth's
contrast-to-noise ratio, and the score of the best candidate of 0.6-1.6 x the true size within the hit
radius ("-" when there is none: the candidate stage lost it, not the score).
Offline tooling for looking, never part of the product (numpy, OpenCV).
"""
import argparse
import math
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from miss_breakdown import events as candidate_events, load, right_size, threshold_at  # noqa: E402  the evaluate rule, one copy

TILE = 160
WINDOW_MM = 50.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("set_dir")
    ap.add_argument("results")
    ap.add_argument("out_prefix")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--min-mm", type=float, default=10.0)
    a = ap.parse_args()
    truth, _, records = load(os.path.join(a.set_dir, "truth.json"), a.results)
    threshold = threshold_at(truth, records)
    # (score, image index, candidate, indices of the nodules it reaches), highest score first.
    events = sorted(((score, ii, c, inside) for ii, image in enumerate(truth["images"])
                     for score, inside, c in candidate_events(image, records[image["path"]])), key=lambda e: -e[0])
    false_positives = [(ii, c) for score, ii, c, inside in events if score >= threshold and not inside]
    hit = {(ii, k) for score, ii, c, inside in events if score >= threshold for k in inside}
    missed = []
    for ii, image in enumerate(truth["images"]):
        for k, n in enumerate(image["nodules"]):
            if n["diameter_mm"] < a.min_mm or (ii, k) in hit:
                continue
            # events run highest score first: the first right-size one is the best
            best = next((e[2] for e in events if e[1] == ii and k in e[3] and right_size(e[2], image, n)), None)
            missed.append((ii, n, best))
    cache = {}

    def tile(ii, x, y, radius_px, label, colour):
        image = truth["images"][ii]
        if ii not in cache:
            cache.clear()
            cache[ii] = cv2.imread(os.path.join(a.set_dir, image["path"]), cv2.IMREAD_UNCHANGED).astype(np.float32)
        pixels = cache[ii]
        half = int(WINDOW_MM / 2 / image["pixel_spacing_mm"])
        padded = cv2.copyMakeBorder(pixels, half, half, half, half, cv2.BORDER_REPLICATE)
        x0, y0 = int(round(x)), int(round(y))
        crop = padded[y0:y0 + 2 * half, x0:x0 + 2 * half]
        lo, hi = np.percentile(crop, [1, 99])
        crop = np.clip((crop - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
        t = cv2.cvtColor(cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
        s = TILE / (2 * half)
        cv2.circle(t, (TILE // 2, TILE // 2), max(2, int(radius_px * s)), colour, 1)
        cv2.putText(t, label, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 255, 255), 1)
        return t

    def grid(tiles, path):
        if not tiles:
            tiles = [np.zeros((TILE, TILE, 3), np.uint8)]
        while len(tiles) % 8:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.hstack(tiles[r * 8:(r + 1) * 8]) for r in range(len(tiles) // 8)]
        cv2.imwrite(path, np.vstack(rows))
        print("wrote", path)

    grid([tile(ii, c["x"], c["y"], c["diameter_px"] / 2, "FP %.2f" % c["score"], (0, 0, 255))
          for ii, c in false_positives[:a.count]], a.out_prefix + "-false-positives.png")
    grid([tile(ii, n["x"], n["y"], n["diameter_mm"] / 2 / truth["images"][ii]["pixel_spacing_mm"],
               "%.0fmm cnr%.0f %s" % (n["diameter_mm"], n.get("cnr", float("nan")), "-" if c is None else "%.2f" % c["score"]),
               (0, 255, 0))
          for ii, n, c in missed[:a.count]], a.out_prefix + "-missed.png")
    print("%d false positives at 2 FP/image, %d nodules >= %g mm missed (%d with no right-size candidate)"
          % (len(false_positives), len(missed), a.min_mm, sum(1 for m in missed if m[2] is None)))
    # Nodules >= min-mm hit at 2 FP/image by the truth's contrast-to-noise ratio (each generator defines it its own way).
    bands = [(0, 5), (5, 10), (10, 20), (20, 40), (40, math.inf)]
    line = []
    for lo, hi in bands:
        inside = [(ii, k) for ii, image in enumerate(truth["images"]) for k, n in enumerate(image["nodules"])
                  if n["diameter_mm"] >= a.min_mm and lo <= n.get("cnr", -1) < hi]
        if inside:
            line.append("cnr %g-%g: %d/%d" % (lo, hi, sum(1 for x in inside if x in hit), len(inside)))
    print("hit at 2 FP/image by truth cnr: " + "; ".join(line))
    # Medians of a few measured features: false positives above the threshold, hits, and the best
    # right-size candidate of each missed nodule that has one.
    names = ["contrast", "contrast_to_noise", "blobness", "lung_depth_mm", "background", "fit_residual"]
    hits = [c for score, ii, c, inside in events if inside and score >= threshold]
    best = [c for _, _, c in missed if c is not None]
    for title, group in (("false positives", [c for _, c in false_positives]), ("hitting candidates", hits), ("missed, best right-size", best)):
        if group:
            print("%-24s n=%-4d " % (title, len(group)) + "  ".join(
                "%s %.3f" % (k, float(np.median([c["features"].get(k, 0.0) for c in group]))) for k in names))


if __name__ == "__main__":
    main()
