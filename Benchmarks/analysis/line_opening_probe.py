#!/usr/bin/env python3
"""Offline probe (never part of the product): a supremum-of-line-openings top-hat at each reported candidate.

The image (area-averaged to 1 mm/px, 2nd-98th percentile of the central 80 % to 0-1) minus the
pixelwise maximum of its grey openings by 12 line segments of 41 mm (0-165 deg): a structure
longer than 41 mm in some direction (a rib, a vessel, a rib edge) is removed, a blob shorter in
every direction (a nodule up to 30 mm, also one on a rib, which keeps its own excess) is kept, the
classical vessel-removing top-hat of microaneurysm detection. Per candidate: `residue` = mean of
the top-hat within 0.6 x its radius minus the median in the annulus 1.3-2.0 x; `rmax` = its maximum
within 0.6 x. A candidate is a hit by the evaluation rule (within max(radius, 4 mm)).

Usage (from the repository root):
    python3 Benchmarks/analysis/line_opening_probe.py SET_DIR RESULTS.jsonl ROWS.json
    python3 Benchmarks/analysis/line_opening_probe.py --froc ROWS.json:SET_DIR/truth.json ...
The first writes one row per reported candidate of `nodules detect SET_DIR/images/* --out RESULTS.jsonl`;
the second prints each set's AUC (hits against false positives among reported candidates) for the
score and the two features, and the sensitivity at 2 FP/image ranking by logit(score) + w x feature/SD
for w = 0-4, with w chosen on the other sets for each held-out one.
Result (2026-12-05): Benchmarks/recorded/2026-12-05-session21.txt section 3.
"""
import json, sys, numpy as np, cv2
from scipy import ndimage as ndi
import os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from miss_breakdown import nodules_hit  # noqa: E402  the evaluate rule, one copy

SP = 1.0   # analysis grid, mm/px
L = 41     # line length, mm (> largest nodule)
ANG = 12
def lines(n, L):
    fps = []
    for k in range(n):
        th = np.pi * k / n
        r = (L - 1) / 2
        size = int(2 * np.ceil(r) + 1)
        fp = np.zeros((size, size), bool)
        c = size // 2
        for t in np.linspace(-r, r, 4 * size):
            fp[int(round(c + t * np.sin(th))), int(round(c + t * np.cos(th)))] = True
        fps.append(fp)
    return fps
FPS = lines(ANG, int(L / SP))
def residue(img):
    sup = None
    for fp in FPS:
        o = ndi.grey_opening(img, footprint=fp)
        sup = o if sup is None else np.maximum(sup, o)
    return img - sup


def probe(setdir, results, out):
    rows = []
    truth = {im['path'].split('/')[-1]: im for im in json.load(open(setdir + '/truth.json'))['images']}
    for line in open(results):
        r = json.loads(line)
        name = r['path'].split('/')[-1]
        t = truth[name]; s = t['pixel_spacing_mm']
        a = cv2.imread(setdir + '/' + t['path'], -1).astype(np.float32)
        f = s / SP
        small = cv2.resize(a, (int(a.shape[1] * f), int(a.shape[0] * f)), interpolation=cv2.INTER_AREA)
        lo, hi = np.percentile(small[small.shape[0]//10:-small.shape[0]//10, small.shape[1]//10:-small.shape[1]//10], [2, 98])
        small = (small - lo) / (hi - lo)
        R = residue(small)
        for k, n in enumerate(r['nodules']):
            x, y = (n['x'] + 0.5) * f - 0.5, (n['y'] + 0.5) * f - 0.5
            rad = max(1.5, n['diameter_px'] * f / 2)
            yy, xx = np.ogrid[:R.shape[0], :R.shape[1]]
            d2 = (xx - x) ** 2 + (yy - y) ** 2
            inner = R[d2 <= (0.6 * rad) ** 2]
            ring = R[(d2 >= (1.3 * rad) ** 2) & (d2 <= (2.0 * rad) ** 2)]
            res = float(inner.mean() - np.median(ring)) if inner.size and ring.size else 0.0
            rmax = float(inner.max()) if inner.size else 0.0
            hit = None
            for tn in t['nodules']:
                if np.hypot(n['x'] - tn['x'], n['y'] - tn['y']) * s <= max(tn['diameter_mm'] / 2, 4):
                    hit = tn['id']; break
            rows.append(dict(image=name, rank=k, score=n['score'], residue=res, rmax=rmax, hit=hit,
                             contrast=n['features']['contrast'], d=n['diameter_px'] * s))
    json.dump(rows, open(out, 'w'))
    print(out, len(rows))


def load(p): return json.load(open(p))
def sens_at(rows, key, n_images, n_truth, fp_per_image=2.0):
    rs = sorted(rows, key=lambda r: -r[key])
    hits = nodules_hit(([] if r['hit'] is None else [(r['image'], r['hit'])] for r in rs), fp_per_image * n_images)
    return len(hits) / n_truth
def auc(pos, neg):
    pos = np.asarray(pos); neg = np.asarray(neg)
    return float(((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()))

def froc(sets):
    data = {}
    for spec in sets:
        rows_path, truth_path = spec.split(':')
        rows = load(rows_path)
        t = json.load(open(truth_path))['images']
        n_truth = sum(len(i['nodules']) for i in t)
        for r in rows:
            p = min(max(r['score'], 1e-6), 1 - 1e-6)
            r['logit'] = np.log(p / (1 - p))
        data[rows_path] = (rows, len(t), n_truth)
        h = [r for r in rows if r['hit']]; f = [r for r in rows if not r['hit']]
        print(f"{rows_path.split('/')[-1]}: {len(t)} images {n_truth} nodules; AUC score {auc([r['score'] for r in h],[r['score'] for r in f]):.3f} "
              f"residue {auc([r['residue'] for r in h],[r['residue'] for r in f]):.3f} rmax {auc([r['rmax'] for r in h],[r['rmax'] for r in f]):.3f}")
    # cross-set: weight w for logit + w * residue/sd, chosen on all other sets, applied to each
    ws = [0, 0.25, 0.5, 1, 1.5, 2, 3, 4]
    for feat in ['residue', 'rmax']:
        for k, (rows, ni, nt) in data.items():
            sd = np.std([r[feat] for r in rows]) or 1
            for r in rows: r['z_' + feat] = r[feat] / sd
        table = {}
        for w in ws:
            for k, (rows, ni, nt) in data.items():
                for r in rows: r['comb'] = r['logit'] + w * r['z_' + feat]
                table[(w, k)] = sens_at(rows, 'comb', ni, nt)
        print(f"\n{feat}: sensitivity at 2 FP/image by weight")
        for k in data:
            print(f"  {k.split('/')[-1]:28s} " + ' '.join(f"{w}:{table[(w,k)]:.3f}" for w in ws))
        for k in data:
            others = [o for o in data if o != k]
            best = max(ws, key=lambda w: sum(table[(w, o)] * data[o][2] for o in others))
            print(f"  held out {k.split('/')[-1]}: w={best} (chosen on the others) {table[(0,k)]:.3f} -> {table[(best,k)]:.3f}")


if __name__ == '__main__':
    if sys.argv[1] == '--froc':
        froc(sys.argv[2:])
    else:
        probe(*sys.argv[1:4])
