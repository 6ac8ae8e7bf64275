#!/usr/bin/env python3
"""Fit the lung-field pixel classifier of a NoduleKit pipeline definition.

Offline tooling, never part of the product (needs numpy, scipy, scikit-learn and
opencv-python-headless). The features come from the product itself:

  nodules lung-features --pipeline Pipelines/cxr-nodules.json TRAIN/images/*.png --out FEATURES

writes, per image, the 16 per-pixel features on the lung-field grid (about
2 mm/px). This tool pairs them with the truth lung masks of a phantom set
(`truth.json`, `lung_mask` per image, area-averaged onto the same grid and
thresholded at ½), fits a one-hidden-layer perceptron (ReLU, logistic output,
L2 alpha 1e-3, seeded) on every third pixel of every third row, and writes its
weights into a copy of the pipeline definition under `lung_field.pixel_classifier`.

It prints the intersection-over-union of the final masks (threshold, the largest
region per side of the midline, holes filled: what the product does) on the
training images and, with --check-truth/--check-features, on another set, so
the fit is judged on images it did not see.

Usage:
  python3 Pipelines/tools/fit_lung_model.py --pipeline Pipelines/cxr-nodules.json \\
      --truth TRAIN/truth.json --features FEATURES [--truth ... --features ...] \\
      --out Pipelines/cxr-nodules.json --describe "60 phantoms, make_phantoms.py --seed 5000" \\
      [--hidden 16] [--check-truth EVAL/truth.json --check-features EVAL_FEATURES ...]

--truth/--features pairs (in order) are pooled for fitting; each --check pair is reported on its
own. Pipeline 0.13.0's classifier was fitted with --hidden 32 on five sets from four generators
(Data/phantom seeds 5000 and 5001, Data/phantom-b seed 201, Data/phantom-c seed 101,
Data/phantom-d seed 301), checked on Data/phantom/eval, Data/phantom-b/eval11,
Data/phantom-c/eval12 and Data/phantom-d/eval13
(Benchmarks/recorded/2026-12-04-independent-0.13.0.txt; 0.12.0's, the same without D:
2026-12-04-independent-0.12.0.txt).
"""
import argparse
import json
import os

import cv2
import numpy as np
from scipy import ndimage as ndi

HIDDEN = 16
STRIDE = 3


def load_set(truth_path, features_dir):
    truth = json.load(open(truth_path))
    folder = os.path.dirname(os.path.abspath(truth_path))
    items = []
    for image in truth["images"]:
        stem = os.path.splitext(os.path.basename(image["path"]))[0]
        header = json.load(open(os.path.join(features_dir, stem + ".lungfeatures.json")))
        w, h, names = header["width"], header["height"], header["features"]
        values = np.fromfile(os.path.join(features_dir, stem + ".lungfeatures.f32"), dtype="<f4")
        features = values.reshape(h, w, len(names))
        mask = cv2.imread(os.path.join(folder, image["lung_mask"]), cv2.IMREAD_UNCHANGED) > 0
        target = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0.5
        items.append((stem, features, target, names))
    return items


def final_mask(probability, threshold=0.5):
    """Threshold, then per half (split at the middle column) the largest 4-connected region, holes filled."""
    lung = probability > threshold
    h, w = lung.shape
    out = np.zeros_like(lung)
    for side in (0, 1):
        half = lung.copy()
        if side == 0:
            half[:, w // 2:] = False
        else:
            half[:, :w // 2] = False
        labels, n = ndi.label(half)
        if n == 0:
            continue
        sizes = ndi.sum(half, labels, range(1, n + 1))
        out |= ndi.binary_fill_holes(labels == (int(np.argmax(sizes)) + 1))
    return out


def iou_report(name, items, predict):
    ious = []
    for stem, features, target, _ in items:
        p = predict(features.reshape(-1, features.shape[-1])).reshape(target.shape)
        m = final_mask(p)
        ious.append(((m & target).sum() / max((m | target).sum(), 1), stem))
    values = np.array([v for v, _ in ious])
    worst = ", ".join(f"{s} {v:.2f}" for v, s in sorted(ious)[:3])
    print(f"{name}: {len(values)} images, IoU median {np.median(values):.3f}, mean {values.mean():.3f}, "
          f"10th percentile {np.percentile(values, 10):.3f}, min {values.min():.3f} (worst: {worst})")
    return values


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--truth", required=True, action="append", help="repeatable, paired in order with --features")
    ap.add_argument("--features", required=True, action="append")
    ap.add_argument("--out", required=True)
    ap.add_argument("--describe", required=True, help="what the training images are (goes into fitted_on)")
    ap.add_argument("--hidden", type=int, default=HIDDEN, help="hidden ReLU units (default %(default)s)")
    ap.add_argument("--check-truth", action="append", default=[], help="repeatable, paired with --check-features")
    ap.add_argument("--check-features", action="append", default=[])
    args = ap.parse_args()

    if len(args.truth) != len(args.features) or len(args.check_truth) != len(args.check_features):
        ap.error("--truth/--features and --check-truth/--check-features must come in pairs")
    train = [item for t, f in zip(args.truth, args.features) for item in load_set(t, f)]
    names = train[0][3]
    X = np.vstack([f[::STRIDE, ::STRIDE].reshape(-1, len(names)) for _, f, _, _ in train]).astype(np.float64)
    y = np.concatenate([t[::STRIDE, ::STRIDE].ravel() for _, _, t, _ in train])
    means = X.mean(axis=0)
    scales = X.std(axis=0)
    scales[scales < 1e-9] = 1.0
    from sklearn.neural_network import MLPClassifier  # here, so fit_lung_network.py can import final_mask without it
    model = MLPClassifier(hidden_layer_sizes=(args.hidden,), activation="relu", alpha=1e-3, max_iter=300, random_state=0)
    model.fit((X - means) / scales, y)

    def predict(F):
        return model.predict_proba((F.astype(np.float64) - means) / scales)[:, 1]

    print(f"fitted on {len(y)} pixels ({y.mean() * 100:.1f} % lung) from {len(train)} images")
    iou_report("training images", train, predict)
    check = ""
    for t, f in zip(args.check_truth, args.check_features):
        values = iou_report(f"check images {t}", load_set(t, f), predict)
        check += f"; on the check set {t} IoU median {np.median(values):.3f}, min {values.min():.3f}"

    definition = json.load(open(args.pipeline))
    definition["lung_field"]["pixel_classifier"] = {
        "features": names,
        "means": [round(float(v), 7) for v in means],
        "scales": [round(float(v), 7) for v in scales],
        "hidden_weights": [[round(float(model.coefs_[0][k, u]), 7) for k in range(len(names))] for u in range(args.hidden)],
        "hidden_bias": [round(float(v), 7) for v in model.intercepts_[0]],
        "output_weights": [round(float(model.coefs_[1][u, 0]), 7) for u in range(args.hidden)],
        "output_bias": round(float(model.intercepts_[1][0]), 7),
        "threshold": 0.5,
        "fitted_on": (f"{args.describe}: truth lung masks on the 2 mm grid, every {STRIDE}rd pixel of every {STRIDE}rd row "
                      f"({len(y)} pixels); features from `nodules lung-features`; scikit-learn MLPClassifier "
                      f"({args.hidden} ReLU units, alpha 1e-3, random_state 0), Pipelines/tools/fit_lung_model.py{check}"),
    }
    with open(args.out, "w") as f:
        json.dump(definition, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
