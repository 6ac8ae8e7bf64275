#!/usr/bin/env python3
"""Offline probe: where does a nodule's border lie for a half-maximum contour and for the
steepest descent, at the *true* centres of a phantom set's nodules?

Usage: edge_profile_probe.py SET_FOLDER   (truth.json and images/ inside)

Each image is normalised on its central 80 % (1st-99th percentile), area-averaged to 0.35 mm/px
and smoothed with sigma 1 px, as detection's measurement image is. For every non-lobulated nodule
>= 8 mm, 32 rays from the true centre, started from a radius of truth x U(0.75, 1.25) (seeded):
- halfmax: the median ray crossing of half the peak contrast over the ring 1.5-2 r, divided by
  sqrt(0.75) (the projected-sphere model);
- edge: the median over rays of the steepest descent between 0.4 and 1.6 r.
Prints measured/true (median and IQR) and |error| in mm for both. On the six generators this
gave edge 0.93-0.96 with IQR within +-0.04, halfmax 0.74-0.94 with IQR 0.39-1.05
(Benchmarks/recorded/2026-12-05-session15-sizing.txt section 8), the basis of
measurement.diameter_method "edge". Offline tooling for measuring, never part of the product.
"""
import json, sys, numpy as np, cv2
from scipy.ndimage import map_coordinates, gaussian_filter
if len(sys.argv) != 2:
    print(__doc__); sys.exit(2)
root = sys.argv[1].rstrip("/"); t = json.load(open(root + '/truth.json'))
rng = np.random.default_rng(0)
res = {'halfmax': [], 'edge': [], 'D': []}
for im in t['images'][:60]:
    a = None
    for n in im['nodules']:
        if n['diameter_mm'] < 8 or n.get('lobulated'): continue
        if a is None:
            a0 = cv2.imread(root + '/' + im['path'], cv2.IMREAD_UNCHANGED).astype(np.float32)
            sp = im['pixel_spacing_mm']; f = 0.35 / sp
            a = gaussian_filter(cv2.resize(a0, (int(round(a0.shape[1] / f)), int(round(a0.shape[0] / f))), interpolation=cv2.INTER_AREA), 1.0).astype(np.float64)
        R = n['diameter_mm'] / 2 / 0.35
        x = (n['x'] + 0.5) / f - 0.5; y = (n['y'] + 0.5) / f - 0.5
        # expected radius as a detector would give it: truth x U(0.75, 1.25)
        r0 = R * rng.uniform(0.75, 1.25)
        angles = np.arange(32) * 2 * np.pi / 32
        t_ = np.arange(0, 2.0 * r0, 0.5)
        U = x + np.outer(np.cos(angles), t_); V = y + np.outer(np.sin(angles), t_)
        if U.min() < 1 or V.min() < 1 or U.max() > a.shape[1] - 2 or V.max() > a.shape[0] - 2: continue
        P = map_coordinates(a, [V, U], order=1)
        ann = (t_ >= 1.5 * r0) & (t_ <= 2.0 * r0)
        bg = np.median(P[:, ann]); core = P[:, t_ <= 0.25 * r0].mean(); A = core - bg
        if A <= 0: continue
        # half max per ray
        hm = []
        for row in P:
            below = np.nonzero(row - bg < 0.5 * A)[0]
            hm.append(t_[below[0]] if len(below) else t_[-1])
        hm = np.median(hm) / np.sqrt(0.75)
        # steepest descent per ray within [0.4 r0, 1.6 r0]
        G = -np.gradient(P, 0.5, axis=1)
        win = (t_ >= 0.4 * r0) & (t_ <= 1.6 * r0)
        ed = []
        for g in G:
            k = np.argmax(np.where(win, g, -np.inf))
            # parabolic refinement
            if 0 < k < len(g) - 1:
                den = g[k - 1] - 2 * g[k] + g[k + 1]
                off = 0.5 * (g[k - 1] - g[k + 1]) / den if den < 0 else 0
            else: off = 0
            ed.append(t_[k] + 0.5 * off)
        ed = np.median(ed)
        res['halfmax'].append(hm / R); res['edge'].append(ed / R); res['D'].append(n['diameter_mm'])
for k in ('halfmax', 'edge'):
    v = np.array(res[k]); e = np.abs(v - 1) * np.array(res['D'])
    print('%-28s %-8s n %3d rel median %.3f IQR %.3f-%.3f | |err| mm median %.2f p90 %.2f' % (root.split('Data/')[-1], k, len(v), np.median(v), *np.percentile(v, [25, 75]), np.median(e), np.percentile(e, 90)))
