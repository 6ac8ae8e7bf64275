#!/usr/bin/env python3
"""Do two shape descriptors carry what the score's 16 measured features lack? (offline, never part
of the product)

For every candidate of `nodules detect` runs with every measured candidate reported (a pipeline
copy with candidates.maximum_reported = 50), on each phantom set named below:
- ring: a scale-normalised polar descriptor. The image is normalised (1st-99th percentile of the
  central 80 %), blurred by R/8 (R the reported radius) and sampled on 12 rings at 0.25-3 R x 32
  angles. Per ring: the mean minus the background (median of the rings at 2.75 and 3 R), over the
  centre's contrast (the radial profile), and the magnitudes of the angular harmonics 1-4 over the
  same contrast (a line through the candidate is harmonic 2, a crossing harmonic 4). 61 values.
- edge: projected spheres have a steep border and lumps of anatomical texture a gentle one.
  Samples every 0.5 px on 32 rays of the image blurred by 0.35 mm; per ray, the steepest descent
  between 0.5 and 1.5 R times R over the contrast; the median and 25th percentile over rays, the
  same for the mean profile, and the 80-20 % fall width of the mean profile in R.
Labels follow `nodules evaluate`: a candidate within max(true radius, 4 mm) of a true centre.

  shape_feature_probe.py RESULTS_DIR auc   [SET,...]   area under the ROC curve of each edge value
  shape_feature_probe.py RESULTS_DIR loso  [SET,...]   leave-one-set-out: hits at 2 FP/image, the
      pipeline's own score against perceptrons (16 units, 3 seeds) and gradient-boosted trees fitted
      on the other sets' candidates, with the 16 features alone and with the ring descriptor added
  shape_feature_probe.py RESULTS_DIR refit [SET,...]   leave-one-set-out with the shipped score's recipe
      (5 perceptrons of 8 units, alpha 0.1, mean logit) on the 16 features only, no descriptors: does a
      score fitted on these candidates (e.g. a run without the blobness floor) find more?

RESULTS_DIR holds NAME.jsonl for each set NAME used (names as in SETS; default: the first four).
Result (2026-12-05): Benchmarks/recorded/2026-12-05-session22.txt, sections 2, 3 and 5.
"""
import math
import os
import sys
from multiprocessing import Pool

import cv2
import numpy as np
from scipy.ndimage import map_coordinates

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import miss_breakdown  # noqa: E402  the evaluate rule and the results loader, one copy

SETS = {"ours-eval": "Data/phantom/eval", "ours-3030": "Data/phantom/eval3030",
        "ours-4040": "Data/phantom/eval4040", "C": "Data/phantom-c/eval12", "B": "Data/phantom-b/eval11",
        "D": "Data/phantom-d/eval13", "E": "Data/phantom-e/eval14", "F": "Data/phantom-f/eval16"}
FEATURES = ["contrast", "contrast_to_noise", "blobness", "log_response", "scale_diameter_mm", "circularity",
            "long_axis_mm", "short_axis_mm", "lung_depth_mm", "inside_lung", "background", "background_gradient",
            "sphere_fit", "open_rays", "convergence", "fit_residual"]
ANGLES = np.arange(32) * 2 * np.pi / 32


def normalised(path):
    a = cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.float32)
    h, w = a.shape
    lo, hi = np.percentile(a[int(h * .1):int(h * .9), int(w * .1):int(w * .9)], [1, 99])
    return (a - lo) / max(hi - lo, 1e-6)


def ring_descriptor(img, x, y, radius):
    half = 3.4 * radius
    x0, y0 = int(math.floor(x - half)), int(math.floor(y - half))
    x1, y1 = int(math.ceil(x + half)) + 1, int(math.ceil(y + half)) + 1
    h, w = img.shape
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    crop = cv2.copyMakeBorder(img[sy0:sy1, sx0:sx1], sy0 - y0, y1 - sy1, sx0 - x0, x1 - sx1, cv2.BORDER_REPLICATE)
    smooth = cv2.GaussianBlur(crop, (0, 0), max(0.5, radius / 8))
    cx, cy = x - x0, y - y0
    centre = map_coordinates(smooth, [[cy], [cx]], order=1)[0]
    rings = np.array([map_coordinates(smooth, [cy + k * radius * np.sin(ANGLES), cx + k * radius * np.cos(ANGLES)],
                                      order=1, mode="nearest") for k in np.arange(1, 13) * 0.25])
    background = np.median(rings[-2:])
    contrast = centre - background
    scale = max(abs(contrast), 1e-3)
    harmonics = np.abs(np.fft.rfft(rings, axis=1))[:, 1:5] / len(ANGLES) / scale
    return np.concatenate([(rings.mean(1) - background) / scale, harmonics.ravel(), [contrast]])


def edge_descriptor(smooth, x, y, radius):
    rs = np.arange(0, 2.0 * radius + 0.5, 0.5)
    v = map_coordinates(smooth, [y + np.outer(np.sin(ANGLES), rs), x + np.outer(np.cos(ANGLES), rs)],
                        order=1, mode="nearest")
    background = np.median(v[:, rs >= 1.6 * radius])
    contrast = v[:, rs <= 0.3 * radius].mean() - background
    contrast = contrast if abs(contrast) >= 1e-4 else 1e-4
    window = (rs[:-1] >= 0.5 * radius) & (rs[:-1] <= 1.5 * radius)
    per_ray = (-np.diff(v, axis=1) / 0.5)[:, window].max(1) * radius / contrast
    profile = v.mean(0)
    mean_slope = (-np.diff(profile) / 0.5)[window].max() * radius / contrast
    p = (profile - background) / contrast
    width = (rs[np.argmax(p < 0.2)] - rs[np.argmax(p < 0.8)]) / radius
    return [np.median(per_ray), np.percentile(per_ray, 25), mean_slope, width]


def image_rows(job):
    set_dir, image, candidates = job
    img = normalised(os.path.join(set_dir, image["path"]))
    smooth = cv2.GaussianBlur(img, (0, 0), 0.35 / image["pixel_spacing_mm"])
    out = []
    for c in candidates:
        radius = max(c["diameter_px"] / 2, 2.0)
        out.append((ring_descriptor(img, c["x"], c["y"], radius).tolist(),
                    edge_descriptor(smooth, c["x"], c["y"], radius)))
    return out


def load(name, results_dir, pool, descriptors=True):
    set_dir = SETS[name]
    truth, _, records = miss_breakdown.load(os.path.join(set_dir, "truth.json"), os.path.join(results_dir, name + ".jsonl"))
    rows, jobs = [], []
    for ii, image in enumerate(truth["images"]):
        record = records[image["path"]]
        jobs.append((set_dir, image, record["nodules"]))
        for score, inside, c in miss_breakdown.events(image, record):
            rows.append({"image": ii, "inside": inside, "score": score,
                         "features": [c["features"].get(k, 0.0) for k in FEATURES]})
    if not descriptors:
        return truth, rows
    k = 0
    for per_image in pool.map(image_rows, jobs):
        for ring, edge in per_image:
            rows[k]["ring"], rows[k]["edge"] = ring, edge
            k += 1
    return truth, rows


def hits_at_2fp(truth, rows, scores):
    """All hits, hits >= 10 mm and the number of nodules >= 10 mm at 2 FP/image (the evaluate rule)."""
    hit = miss_breakdown.nodules_hit(([(rows[i]["image"], k) for k in rows[i]["inside"]]
                                      for i in np.argsort(-np.asarray(scores), kind="stable")), 2.0 * len(truth["images"]))
    big = [(ii, k) for ii, im in enumerate(truth["images"]) for k, n in enumerate(im["nodules"]) if n["diameter_mm"] >= 10]
    return len(hit), sum(1 for b in big if b in hit), len(big)


def matrix(rows, with_ring):
    out = []
    for r in rows:
        f = np.array(r["features"], float)
        f = np.sign(f) * np.log1p(np.abs(f))
        out.append(np.concatenate([f, np.clip(r["ring"], -20, 20)]) if with_ring else f)
    return np.array(out)


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in ("auc", "loso", "refit"):
        print(__doc__)
        sys.exit(2)
    results_dir, mode = sys.argv[1], sys.argv[2]
    names = sys.argv[3].split(",") if len(sys.argv) > 3 else ["ours-eval", "ours-3030", "ours-4040", "C"]
    with Pool(2) as pool:
        data = {n: load(n, results_dir, pool, descriptors=mode != "refit") for n in names}
    if mode == "auc":
        from sklearn.metrics import roc_auc_score
        labels = ["ray steepest descent, median", "25th percentile", "mean profile", "80-20 % width"]
        for n, (_, rows) in data.items():
            y = np.array([1 if r["inside"] else 0 for r in rows])
            s = np.array([r["score"] for r in rows])
            e = np.array([r["edge"] for r in rows])
            top = s > 0.05
            print(f"{n}: score {roc_auc_score(y, s):.3f}; " + "; ".join(
                f"{labels[k]} {roc_auc_score(y, e[:, k]):.3f} (score > 0.05: {roc_auc_score(y[top], e[top, k]):.3f})"
                for k in range(e.shape[1])))
        return
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler
    totals = {}
    if mode == "refit":
        for held in names:
            train = [r for n in names if n != held for r in data[n][1]]
            truth, test = data[held]
            y = np.array([1 if r["inside"] else 0 for r in train])
            scaler = StandardScaler().fit(matrix(train, False))
            logit = np.zeros(len(test))
            for seed in range(5):
                m = MLPClassifier(hidden_layer_sizes=(8,), alpha=0.1, max_iter=800, random_state=seed)
                m.fit(scaler.transform(matrix(train, False)), y)
                p = np.clip(m.predict_proba(scaler.transform(matrix(test, False)))[:, 1], 1e-9, 1 - 1e-9)
                logit += np.log(p / (1 - p))
            line = {"pipeline score": hits_at_2fp(truth, test, [r["score"] for r in test]),
                    "refitted": hits_at_2fp(truth, test, logit)}
            print(held + ": " + "; ".join(f"{k} {v[0]} (>= 10 mm {v[1]}/{v[2]})" for k, v in line.items()), flush=True)
            for k, v in line.items():
                totals[k] = np.add(totals.get(k, (0, 0, 0)), v)
        print("summed: " + "; ".join(f"{k} {v[0]} (>= 10 mm {v[1]}/{v[2]})" for k, v in totals.items()))
        return
    for held in names:
        train = [r for n in names if n != held for r in data[n][1]]
        truth, test = data[held]
        y = np.array([1 if r["inside"] else 0 for r in train])
        line = {"pipeline score": hits_at_2fp(truth, test, [r["score"] for r in test])}
        for with_ring in (False, True):
            xtr, xte = matrix(train, with_ring), matrix(test, with_ring)
            gbt = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                                 l2_regularization=1.0, random_state=0).fit(xtr, y)
            scaler = StandardScaler().fit(xtr)
            mlp = sum(MLPClassifier(hidden_layer_sizes=(16,), alpha=0.1, max_iter=500, random_state=seed)
                      .fit(scaler.transform(xtr), y).predict_proba(scaler.transform(xte))[:, 1] for seed in range(3))
            tag = "16 features + ring" if with_ring else "16 features"
            line[tag + ", trees"] = hits_at_2fp(truth, test, gbt.predict_proba(xte)[:, 1])
            line[tag + ", perceptrons"] = hits_at_2fp(truth, test, mlp)
        print(held + ": " + "; ".join(f"{k} {v[0]} (>= 10 mm {v[1]}/{v[2]})" for k, v in line.items()), flush=True)
        for k, v in line.items():
            totals[k] = np.add(totals.get(k, (0, 0, 0)), v)
    print("summed: " + "; ".join(f"{k} {v[0]} (>= 10 mm {v[1]}/{v[2]})" for k, v in totals.items()))


if __name__ == "__main__":
    main()
