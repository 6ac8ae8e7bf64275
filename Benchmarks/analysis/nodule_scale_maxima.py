#!/usr/bin/env python3
"""Is there a scale-space maximum at the nodule's own scale? (offline probe, never part of the product)

Usage: nodule_scale_maxima.py TRUTH.json RESULTS.jsonl [--missed]

For every true nodule >= 10 mm (with --missed: only those without a right-sized, centred candidate in RESULTS, i.e.
none within a quarter of the true diameter of the centre and within 25 % of its size; run the detector with
maximum_candidates = maximum_reported = 400 to see every measured candidate), an independent re-implementation of the
candidate stage's scale space: the image area-averaged to 0.7 mm/px, scaled by its 1st/99th percentiles, the
sigma^2-normalised LoG (bright blobs positive) at the pipeline's 10 scales (diameters 5-30 mm as 2*sqrt(2)*sigma,
geometric), and its 3 x 3 x 3 local maxima above 0.004. Per nodule: the largest-scale maximum within half the true
radius of the true centre, its scale diameter / true diameter, and the Hessian eigenvalue ratio (blobness) there
against the pipeline's floor 0.45.

Prints the counts (no maximum near the centre; blobness under the floor; kept), the median of scale diameter / true
and how many reach 0.7 of it. A projected sphere's LoG peaks at a scale diameter about 0.7-0.8 of its true one.
"""
import json
import math
import statistics
import sys

import cv2
import numpy as np
from scipy import ndimage as ndi

WORKING_MM = 0.7
SIGMAS_MM = np.geomspace(5 / (2 * math.sqrt(2)), 30 / (2 * math.sqrt(2)), 10)


def main(truth_path, results_path, missed_only):
    truth = json.load(open(truth_path))
    root = truth_path.rsplit("/", 1)[0]
    records = {}
    for line in open(results_path):
        r = json.loads(line)
        records[r["path"]] = r
    counts = {"nodules": 0, "no maximum near the centre": 0, "blobness under 0.45": 0, "kept": 0}
    ratios = []
    for im in truth["images"]:
        record = next(v for k, v in records.items() if k.endswith("/" + im["path"]))
        sp = im["pixel_spacing_mm"]
        chosen = []
        for n in im["nodules"]:
            if n["diameter_mm"] < 10:
                continue
            right = [c for c in record["nodules"] if c.get("diameter_mm")
                     and math.hypot(c["x"] - n["x"], c["y"] - n["y"]) * sp <= n["diameter_mm"] / 4
                     and abs(c["diameter_mm"] / n["diameter_mm"] - 1) < 0.25]
            if not (missed_only and right):
                chosen.append(n)
        if not chosen:
            continue
        image = cv2.imread(root + "/" + im["path"], cv2.IMREAD_UNCHANGED).astype(np.float32)
        f = sp / WORKING_MM
        small = cv2.resize(image, (int(image.shape[1] * f), int(image.shape[0] * f)), interpolation=cv2.INTER_AREA)
        lo, hi = np.percentile(small, [1, 99])
        small = (small - lo) / (hi - lo)
        stack = np.stack([-(s / WORKING_MM) ** 2 * ndi.gaussian_laplace(small, s / WORKING_MM) for s in SIGMAS_MM])
        peaks = (stack == ndi.maximum_filter(stack, size=(3, 3, 3))) & (stack > 0.004)
        for n in chosen:
            counts["nodules"] += 1
            cx, cy, half = n["x"] * f, n["y"] * f, n["diameter_mm"] / 4 / WORKING_MM
            y0, y1 = max(0, int(cy - half)), int(cy + half) + 1
            x0, x1 = max(0, int(cx - half)), int(cx + half) + 1
            found = None
            for k in range(len(SIGMAS_MM) - 1, -1, -1):
                at = np.argwhere(peaks[k, y0:y1, x0:x1])
                if len(at):
                    best = max(at, key=lambda p: stack[k, y0 + p[0], x0 + p[1]])
                    found = (k, y0 + best[0], x0 + best[1])
                    break
            if found is None:
                counts["no maximum near the centre"] += 1
                continue
            k, y, x = found
            ratios.append(SIGMAS_MM[k] * 2 * math.sqrt(2) / n["diameter_mm"])
            s = SIGMAS_MM[k] / WORKING_MM
            gxx = ndi.gaussian_filter(small, s, order=(0, 2))[y, x]
            gyy = ndi.gaussian_filter(small, s, order=(2, 0))[y, x]
            gxy = ndi.gaussian_filter(small, s, order=(1, 1))[y, x]
            half_trace, det = (gxx + gyy) / 2, gxx * gyy - gxy * gxy
            disc = math.sqrt(max(half_trace * half_trace - det, 0))
            l_large, l_small = half_trace - disc, half_trace + disc
            blobness = abs(l_small) / abs(l_large) if l_large != 0 else 0
            counts["blobness under 0.45" if blobness < 0.45 else "kept"] += 1
    print(counts)
    if ratios:
        print(f"largest-scale maximum near the centre: scale diameter / true median {statistics.median(ratios):.2f}; "
              f">= 0.7 for {sum(1 for r in ratios if r >= 0.7)} of {len(ratios)}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0], args[1], "--missed" in sys.argv)
