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
import json, math, os, sys
import cv2, numpy as np
from scipy.stats import rankdata


def roc_auc_score(y, v):
    """Mann-Whitney area under the ROC curve of v for labels y (ties counted half)."""
    y = np.asarray(y); v = np.asarray(v, float)
    ranks = rankdata(v)
    npos = y.sum(); nneg = len(y) - npos
    return (ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)
sys.path.insert(0, '/work/main/Benchmarks/analysis')
SP = 1.0

def norm(img):
    h, w = img.shape
    c = img[h // 10:h - h // 10, w // 10:w - w // 10]
    lo, hi = np.percentile(c, 1), np.percentile(c, 99)
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)

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
    truth = json.load(open(os.path.join(setdir, 'truth.json')))
    tim = {im['path'].split('/')[-1]: im for im in truth['images']}
    rows = []
    for line in open(results):
        rec = json.loads(line)
        name = rec['path'].split('/')[-1]
        im = tim[name]; sp = im['pixel_spacing_mm']
        raw = cv2.imread(os.path.join(setdir, im['path']), cv2.IMREAD_UNCHANGED).astype(np.float32)
        f = sp / SP
        x = norm(cv2.resize(raw, (round(raw.shape[1] * f), round(raw.shape[0] * f)), interpolation=cv2.INTER_AREA))
        m, _ = align_mirror(x)
        xs = cv2.GaussianBlur(x, (0, 0), 1.0); ms = cv2.GaussianBlur(m, (0, 0), 1.0)
        diff = xs - ms
        for n in rec['nodules']:
            cx, cy = (n['x'] + 0.5) * f - 0.5, (n['y'] + 0.5) * f - 0.5
            r = max(2.0, n['diameter_px'] * f / 2)
            hit = any(math.hypot(n['x'] - t['x'], n['y'] - t['y']) * sp <= max(t['diameter_mm'] / 2, 4) for t in im['nodules'])
            c = ring_contrast(xs, cx, cy, r); a = ring_contrast(diff, cx, cy, r)
            cm = ring_contrast(ms, cx, cy, r)  # what the mirror side has there
            rows.append((hit, n['score'], c, a, cm))
    R = np.array([(h, s, c, a, cm) for h, s, c, a, cm in rows if not (math.isnan(c) or math.isnan(a))], float)
    y = R[:, 0]
    out = {'n': len(R), 'hits': int(y.sum())}
    for k, name in [(1, 'score'), (2, 'contrast'), (3, 'asym'), (4, 'neg_mirror')]:
        v = R[:, k] if name != 'neg_mirror' else -R[:, k]
        out[name] = round(roc_auc_score(y, v), 3)
    frac = R[:, 3] / np.maximum(np.abs(R[:, 2]), 1e-3)
    out['asym/contrast'] = round(roc_auc_score(y, frac), 3)
    print(os.path.basename(setdir.rstrip('/')), json.dumps(out))

main(sys.argv[1], sys.argv[2])
