#!/usr/bin/env python3
"""Fit the score model of a NoduleKit pipeline definition.

Offline tooling, never part of the product (numpy; scikit-learn for --hidden).
It reads detection records made with the *same* pipeline (every candidate
carries its named features; report every measured candidate, e.g. with
candidates.maximum_reported = maximum_candidates) and the ground truth they were
made from, labels each candidate with the evaluation's hit rule (centre within
max(true radius, 4 mm) of a true centre), and fits on standardised features
either an L2-regularised logistic regression by Newton's method (kind
`logistic`, the default) or, with --hidden N, a perceptron with one hidden
layer of N ReLU units (kind `perceptron`, scikit-learn's MLPClassifier, L2
--alpha, seeded). It writes the model, means, scales, transforms and a
`fitted_on` description into a copy of the pipeline definition.

It prints a reliability table (predicted vs observed positive rate per score
bin) on a held-out half of the images, so calibration is checked, not assumed.

Usage:
  python3 Pipelines/tools/fit_score_model.py --pipeline Pipelines/cxr-nodules.json \\
      --truth TRAIN/truth.json --results TRAIN/results.jsonl --out Pipelines/cxr-nodules.json \\
      --describe "60 phantoms, make_phantoms.py --seed 1001" [--hidden 8 --alpha 0.1 --seed 0 --ensemble 3]

--truth/--results may be repeated (paired in order) to fit on several phantom sets.

With --target prerank the model is written to candidates.prerank instead: the
ranking that chooses which scale-space maxima are measured. It may use only the
blob-stage features (log_response, blobness, scale_diameter_mm, lung_depth_mm),
and should be fitted on a run that measures and reports far more candidates than
the pipeline keeps (e.g. maximum_candidates = maximum_reported = 300), so that
maxima the old ranking dropped are in the data. Pipeline 0.9.0's was made with
  --target prerank --features log_response,blobness,scale_diameter_mm,lung_depth_mm \\
  --quadratic log_response,scale_diameter_mm,lung_depth_mm
"""
import argparse
import json
import math
import os

import numpy as np

FEATURES = ["contrast", "contrast_to_noise", "blobness", "log_response", "scale_diameter_mm",
            "circularity", "long_axis_mm", "short_axis_mm", "lung_depth_mm", "inside_lung",
            "background", "background_gradient", "sphere_fit", "open_rays", "density", "convergence", "fit_residual"]


def transform(name, value):
    """Features enter the model as given, except heavy-tailed ones, which enter as log."""
    if name in ("contrast_to_noise", "contrast", "log_response", "scale_diameter_mm", "long_axis_mm", "short_axis_mm", "background_gradient", "density"):
        return math.log(max(value, 1e-4))
    if name == "lung_depth_mm":
        return max(min(value, 40.0), -40.0)
    return value


def load(truth_path, results_path):
    truth = json.load(open(truth_path))
    folder = os.path.dirname(os.path.abspath(truth_path))
    by_path = {}
    for line in open(results_path):
        if line.strip():
            r = json.loads(line)
            by_path[os.path.realpath(r["path"])] = r
    rows = []
    for index, image in enumerate(truth["images"]):
        record = by_path.get(os.path.realpath(os.path.join(folder, image["path"])))
        if record is None:
            continue
        spacing = image["pixel_spacing_mm"]
        for c in record["nodules"]:
            label = 0
            for n in image["nodules"]:
                d = math.hypot(c["x"] - n["x"], c["y"] - n["y"]) * spacing
                if d <= max(n["diameter_mm"] / 2, 4.0):
                    label = 1
            rows.append((index, [c["features"].get(f, 0.0) for f in FEATURES], label))
    return rows


def fit(x, y, l2=1.0, iterations=50):
    n, k = x.shape
    a = np.hstack([np.ones((n, 1)), x])
    w = np.zeros(k + 1)
    penalty = np.eye(k + 1) * l2
    penalty[0, 0] = 0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-a @ w))
        gradient = a.T @ (p - y) + penalty @ w
        hessian = a.T @ (a * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--truth", required=True, action="append",
                    help="truth.json; repeat with --results for several phantom sets (paired in order)")
    ap.add_argument("--results", required=True, action="append")
    ap.add_argument("--out", required=True)
    ap.add_argument("--describe", required=True, help="what the training data was")
    ap.add_argument("--target", choices=["score", "prerank"], default="score",
                    help="write the model as the score, or as candidates.prerank (blob-stage features only: "
                         "log_response, blobness, scale_diameter_mm, lung_depth_mm; fit it on the records of a run "
                         "that reports every candidate of a large maximum_candidates)")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--features", default=",".join(FEATURES))
    ap.add_argument("--quadratic", default="", help="features that also enter squared (after standardising)")
    ap.add_argument("--hidden", type=int, default=0,
                    help="units of one hidden ReLU layer (kind perceptron, fitted with scikit-learn's MLPClassifier); 0: logistic")
    ap.add_argument("--alpha", type=float, default=0.1, help="L2 penalty of the perceptron")
    ap.add_argument("--seed", type=int, default=0, help="the perceptron's random_state")
    ap.add_argument("--ensemble", type=int, default=1,
                    help="average the logits of this many perceptrons (random_state seed, seed+1, …); written as one "
                         "hidden layer of ensemble × hidden units with output weights divided by the count")
    args = ap.parse_args()
    if args.hidden and args.quadratic:
        raise SystemExit("--quadratic is for the logistic model only")
    names = [f for f in args.features.split(",") if f]
    if len(args.truth) != len(args.results):
        raise SystemExit("give one --results per --truth")
    rows = []
    for truth, results in zip(args.truth, args.results):
        offset = 1 + max((r[0] for r in rows), default=-1)
        # Keep each set's even/odd image split (for the calibration check) while making indices unique.
        offset += offset % 2
        rows += [(offset + i, f, label) for i, f, label in load(truth, results)]
    if not rows:
        raise SystemExit("no candidates matched the truth")
    columns = [FEATURES.index(f) for f in names]
    raw = np.array([[transform(names[j], r[1][c]) for j, c in enumerate(columns)] for r in rows])
    y = np.array([r[2] for r in rows], dtype=float)
    images = np.array([r[0] for r in rows])
    mean = raw.mean(axis=0)
    scale = raw.std(axis=0)
    scale[scale == 0] = 1
    x = (raw - mean) / scale
    quadratic = [f for f in args.quadratic.split(",") if f]
    if quadratic:
        x = np.hstack([x] + [x[:, names.index(f)][:, None] ** 2 for f in quadratic])

    if args.hidden:
        from sklearn.neural_network import MLPClassifier

        def fit_model(xs, ys):
            return [MLPClassifier(hidden_layer_sizes=(args.hidden,), activation="relu", alpha=args.alpha,
                                  max_iter=2000, random_state=args.seed + k).fit(xs, ys) for k in range(args.ensemble)]

        def predict(models, xs):
            # The mean of the members' logits, which is what the merged hidden layer computes.
            logits = [m.intercepts_[1][0] + np.maximum(xs @ m.coefs_[0] + m.intercepts_[0], 0) @ m.coefs_[1][:, 0]
                      for m in models]
            return 1 / (1 + np.exp(-np.mean(logits, axis=0)))
    else:
        def fit_model(xs, ys):
            return fit(xs, ys, args.l2)

        def predict(model, xs):
            return 1 / (1 + np.exp(-(model[0] + xs @ model[1:])))

    # Calibration check: fit on even images, report on odd ones.
    train, test = images % 2 == 0, images % 2 == 1
    p_test = predict(fit_model(x[train], y[train]), x[test])
    print(f"candidates {len(y)} (positives {int(y.sum())}); held-out calibration (fit on even images, scored on odd):")
    print("  score bin    n   mean predicted   observed")
    for lo in np.arange(0, 1, 0.2):
        sel = (p_test >= lo) & (p_test < lo + 0.2 + (1e-9 if lo >= 0.8 else 0))
        if sel.sum():
            print(f"  {lo:.1f}-{lo + 0.2:.1f}  {sel.sum():5d}   {p_test[sel].mean():.3f}            {y[test][sel].mean():.3f}")

    model = fit_model(x, y)
    definition = json.load(open(args.pipeline))
    common = {
        "means": {f: round(float(v), 6) for f, v in zip(names, mean)},
        "scales": {f: round(float(v), 6) for f, v in zip(names, scale)},
        # The model sees transformed features; record the transform in the definition's names.
        "transforms": {f: ("log" if transform(f, math.e) == 1.0 else ("clamp40" if f == "lung_depth_mm" else "identity")) for f in names},
    }
    if args.hidden:
        count = len(model)
        members = (f"the mean logit of {count} perceptrons (random_state {args.seed}–{args.seed + count - 1}), "
                   f"merged into one layer of {count * args.hidden} units" if count > 1 else f"random_state {args.seed}")
        model_json = {
            "kind": "perceptron",
            "intercept": round(float(np.mean([m.intercepts_[1][0] for m in model])), 6),
            "weights": {},
            "hidden": {
                "inputs": names,
                "weights": [[round(float(m.coefs_[0][k, u]), 6) for k in range(len(names))]
                            for m in model for u in range(args.hidden)],
                "bias": [round(float(v), 6) for m in model for v in m.intercepts_[0]],
                "output_weights": [round(float(m.coefs_[1][u, 0]) / count, 6) for m in model for u in range(args.hidden)],
            },
            **common,
            "fitted_on": f"{args.describe}; {len(y)} candidates ({int(y.sum())} hits by the evaluation rule); "
                         f"one hidden layer of {args.hidden} ReLU units on standardised features, scikit-learn "
                         f"MLPClassifier (alpha {args.alpha}), {members}; Pipelines/tools/fit_score_model.py",
        }
    else:
        w = model
        model_json = {
            "kind": "logistic",
            "intercept": round(float(w[0]), 6),
            "weights": {f: round(float(v), 6) for f, v in zip(names, w[1:1 + len(names)])},
            "quadratic_weights": {f: round(float(v), 6) for f, v in zip(quadratic, w[1 + len(names):])},
            **common,
            "fitted_on": f"{args.describe}; {len(y)} candidates ({int(y.sum())} hits by the evaluation rule); "
                         f"L2-regularised logistic regression (lambda {args.l2}) on standardised features, "
                         f"Pipelines/tools/fit_score_model.py",
        }
        for f_, v in zip(names + [q + "^2" for q in quadratic], w[1:]):
            print(f"  weight {f_:20s} {v:+.3f}")
    if args.target == "prerank":
        stage = {"log_response", "blobness", "scale_diameter_mm", "lung_depth_mm"}
        if not set(names) <= stage:
            raise SystemExit(f"--target prerank takes only {sorted(stage)} (--features)")
        definition["candidates"]["prerank"] = model_json
    else:
        definition["score"] = model_json
    with open(args.out, "w") as f:
        json.dump(definition, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
