#!/usr/bin/env python3
"""Does left-right asymmetry separate nodules from false positives among reported candidates?
(offline probe, never part of the product; numpy, SciPy, OpenCV)

Radiologists compare the two sides; ribs, clavicles and the diaphragm are roughly mirror images, a nodule
is not. Each image is area-averaged to 1 mm/px, its 1st-99th percentiles of the central 80 % mapped to 0-1,
mirrored left-right and shifted onto itself by phase correlation (of 4 mm Gaussian blurs, Hanning-windowed);
both are blurred by 1 mm. Per reported candidate: `contrast` = the image's mean within 0.6 x its radius less
the median of the annulus 1.3-2.0 x; `asym` = the same on image minus aligned mirror; `neg_mirror` = minus
the same on the mirror alone; `asym/contrast`. Labels: within max(true radius, 4 mm) of a true centre.
Prints one line per set: the area under the ROC curve (hits against the rest) of the score and of each.

Usage: symmetry_probe.py SET_DIR RESULTS.jsonl     (RESULTS from `nodules detect SET_DIR/images/* --out`)
Result (2026-12-07): Benchmarks/recorded/2026-12-07-session39.txt, section 4.
"""
import json
import math
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcn_probe import normalise  # noqa: E402  the map's normalisation, one copy
from line_opening_probe import auc  # noqa: E402  area under the ROC curve, one copy
from miss_breakdown import events, load  # noqa: E402  records matched to the truth, and the evaluate rule

SP = 1.0  # analysis grid, mm/px


def align_mirror(x):
    """mirror of x, shifted to best match x (phase correlation on a blurred, windowed image)"""
    m = x[:, ::-1].copy()
    b1 = cv2.GaussianBlur(x, (0, 0), 4); b2 = cv2.GaussianBlur(m, (0, 0), 4)
    win = cv2.createHanningWindow(x.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(b2, b1, win)
    M = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(m, M, x.shape[::-1], borderMode=cv2.BORDER_REFLECT), (dx, dy)


def ring_contrast(img, cx, cy, r):
    h, w = img.shape
    R = int(math.ceil(2.0 * r)) + 1
    x0, x1, y0, y1 = max(0, int(cx) - R), min(w, int(cx) + R + 1), max(0, int(cy) - R), min(h, int(cy) + R + 1)
    if x1 <= x0 or y1 <= y0: return float('nan')
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx - cx, yy - cy)
    p = img[y0:y1, x0:x1]
    inner = p[d <= 0.6 * r]; ann = p[(d >= 1.3 * r) & (d <= 2.0 * r)]
    if len(inner) < 3 or len(ann) < 5: return float('nan')
    return float(inner.mean() - np.median(ann))

def main(setdir, results):
    truth, folder, records = load(os.path.join(setdir, 'truth.json'), results)
    rows = []
    for im in truth['images']:
        f = im['pixel_spacing_mm'] / SP
        raw = cv2.imread(os.path.join(folder, im['path']), cv2.IMREAD_UNCHANGED).astype(np.float32)
        x = normalise(cv2.resize(raw, (round(raw.shape[1] * f), round(raw.shape[0] * f)), interpolation=cv2.INTER_AREA))
        m, _ = align_mirror(x)
        xs = cv2.GaussianBlur(x, (0, 0), 1.0); ms = cv2.GaussianBlur(m, (0, 0), 1.0)
        diff = xs - ms
        for score, inside, n in events(im, records[im['path']]):
            cx, cy = (n['x'] + 0.5) * f - 0.5, (n['y'] + 0.5) * f - 0.5
            r = max(2.0, n['diameter_px'] * f / 2)
            c = ring_contrast(xs, cx, cy, r); a = ring_contrast(diff, cx, cy, r)
            cm = ring_contrast(ms, cx, cy, r)  # what the mirror side has there
            rows.append((bool(inside), score, c, a, cm))
    R = np.array([row for row in rows if not (math.isnan(row[2]) or math.isnan(row[3]))], float)
    hit = R[:, 0] == 1
    out = {'n': len(R), 'hits': int(hit.sum())}
    frac = R[:, 3] / np.maximum(np.abs(R[:, 2]), 1e-3)
    for name, v in [('score', R[:, 1]), ('contrast', R[:, 2]), ('asym', R[:, 3]), ('neg_mirror', -R[:, 4]), ('asym/contrast', frac)]:
        out[name] = round(auc(v[hit], v[~hit]), 3)
    print(os.path.basename(setdir.rstrip('/')), json.dumps(out))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
