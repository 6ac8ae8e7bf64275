#!/usr/bin/env python3
"""Leave-one-generator-out comparison of score-model recipes (offline, never part of the product).

Candidate runs (every measured candidate reported, e.g. maximum_reported = maximum_candidates = 50)
of one pipeline on each generator's training and evaluation sets are re-scored offline by a
recipe fitted on the other generators' training sets; each evaluation set is then scored as
`nodules evaluate` does on the top `--reported` candidates per image by the new score: a hit is a
candidate within max(true radius, 4 mm) of a true centre, one true positive per nodule, and a
candidate that hits no nodule is a false positive. Hits at 0.5 / 1 / 2 / 4 FP/image are summed
over the held-out generator's sets. (The product's measured-outline NMS, which depends on the
score order, is not redone, so figures can differ by a hit or two from a real run.)

  score_logo.py --config CONFIG.json [--recipes R0,R1,...] [--fewer] [--centred]

CONFIG: {"train": {GEN: [[truth, results], ...]}, "eval": {GEN: [[truth, results], ...]},
         "holdout": {GEN: [[truth, results], ...]}}; "holdout" generators are never fitted on and
are scored by each recipe fitted on every "train" generator.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../Pipelines/tools"))
from fit_score_model import FEATURES, transform, fit as fit_logistic  # noqa: E402

INTENSITY = {"contrast", "log_response", "background", "background_gradient", "density"}
RECIPES = {
    "R0": dict(kind="mlp", features=FEATURES, alpha=0.1),
    "R1": dict(kind="logistic", features=FEATURES),
    "R2": dict(kind="mlp", features=[f for f in FEATURES if f not in INTENSITY], alpha=0.1),
    "R3": dict(kind="mlp", features=FEATURES, alpha=1.0),
    "R4": dict(kind="logistic", features=[f for f in FEATURES if f not in INTENSITY]),
    "R5": dict(kind="mlp", features=FEATURES, alpha=0.1, hidden=16),
    "R6": dict(kind="trees", features=FEATURES),
    "R7": dict(kind="mlp", features=FEATURES, alpha=0.01),
    "R8": dict(kind="mean", members=["R0", "R2"]),
}


def load(truth_path, results_path):
    """Per image: (feature dicts, per candidate (indices of the nodules it hits, of those it hits within half the hit
    radius), nodule count)."""
    truth = json.load(open(truth_path))
    # Records are matched by the image path's last two components (the results may hold paths
    # relative to wherever `nodules detect` ran).
    def key(path):
        return tuple(os.path.normpath(path).split(os.sep)[-2:])
    by_path = {}
    for line in open(results_path):
        if line.strip():
            r = json.loads(line)
            by_path[key(r["path"])] = r
    images = []
    for image in truth["images"]:
        record = by_path.get(key(image["path"]))
        nodules = image["nodules"]
        if record is None:
            images.append(([], [], len(nodules)))
            continue
        s = image["pixel_spacing_mm"]
        feats, hits = [], []
        for c in record["nodules"]:
            feats.append(c["features"])
            distance = [math.hypot(c["x"] - n["x"], c["y"] - n["y"]) * s / max(n["diameter_mm"] / 2, 4.0) for n in nodules]
            hits.append(({i for i, d in enumerate(distance) if d <= 1}, {i for i, d in enumerate(distance) if d <= 0.5}))
        images.append((feats, hits, len(nodules)))
    return images


def matrix(images, features):
    rows, labels = [], []
    for feats, hits, _ in images:
        for f, h in zip(feats, hits):
            rows.append([transform(k, f.get(k, 0.0)) for k in features])
            labels.append(1 if h[0] else 0)
    return np.array(rows, dtype=float), np.array(labels)


class Model:
    def __init__(self, recipe, images):
        self.recipe = recipe
        if recipe["kind"] == "mean":  # the mean logit of other recipes
            self.members = [Model(RECIPES[m], images) for m in recipe["members"]]
            return
        x, y = matrix(images, recipe["features"])
        self.mean, self.scale = x.mean(0), x.std(0) + 1e-9
        z = (x - self.mean) / self.scale
        if recipe["kind"] == "logistic":
            self.w = fit_logistic(z, y)
        elif recipe["kind"] == "trees":
            self.trees = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                                        l2_regularization=1.0, random_state=0).fit(z, y)
        else:
            self.nets = [MLPClassifier(hidden_layer_sizes=(recipe.get("hidden", 8),), alpha=recipe["alpha"], max_iter=2000, random_state=s).fit(z, y)
                         for s in range(5)]

    def logit(self, feats):
        if not feats:
            return np.array([])
        if self.recipe["kind"] == "mean":
            return np.mean([m.logit(feats) for m in self.members], axis=0)
        x = np.array([[transform(k, f.get(k, 0.0)) for k in self.recipe["features"]] for f in feats])
        z = (x - self.mean) / self.scale
        if self.recipe["kind"] == "logistic":
            return self.w[0] + z @ self.w[1:]
        if self.recipe["kind"] == "trees":
            return self.trees.decision_function(z)
        p = np.mean([np.log(np.clip(n.predict_proba(z)[:, 1], 1e-12, 1)) - np.log(np.clip(n.predict_proba(z)[:, 0], 1e-12, 1))
                     for n in self.nets], axis=0)
        return p


def froc(model, images, reported, centred=False, points=(0.5, 1, 2, 4)):
    """Hits at each FP/image point, and the nodule count. With `centred`, only hits within half the hit radius count
    (other hits are neither true nor false positives, so the operating points stay those of the hit rule)."""
    entries = []  # (score, image index, (nodules hit, nodules hit within half the radius))
    nodules = 0
    for i, (feats, hits, count) in enumerate(images):
        nodules += count
        s = model.logit(feats)
        order = np.argsort(-s, kind="stable")[:reported]
        entries += [(s[j], i, hits[j]) for j in order]
    entries.sort(key=lambda e: -e[0])
    found, fp, best = set(), 0, {p: 0 for p in points}
    n_images = len(images)
    k = 0
    while k < len(entries):
        t = entries[k][0]
        while k < len(entries) and entries[k][0] == t:
            _, i, (h, near) = entries[k]
            if h:
                found |= {(i, j) for j in (near if centred else h)}
            else:
                fp += 1
            k += 1
        for p in points:
            if fp <= p * n_images:
                best[p] = max(best[p], len(found))
    return [best[p] for p in points], nodules


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--reported", type=int, default=20)
    ap.add_argument("--fewer", action="store_true",
                    help="also fit each held-out generator's model with one more generator left out, and print the mean")
    ap.add_argument("--centred", action="store_true",
                    help="count only hits within half the hit radius (as `nodules evaluate` reports them); other hits are neither")
    args = ap.parse_args()
    config = json.load(open(args.config))
    train = {g: sum((load(t, r) for t, r in pairs), []) for g, pairs in config["train"].items()}
    evals = {g: [load(t, r) for t, r in pairs] for g, pairs in config["eval"].items()}
    holdout = {g: [load(t, r) for t, r in pairs] for g, pairs in config.get("holdout", {}).items()}
    print("hits at 0.5 / 1 / 2 / 4 FP/image (each set at its own operating points, summed)")
    for name in args.recipes.split(","):
        recipe = RECIPES[name]
        line, total = [], np.zeros(4, dtype=int)
        for g in train:
            model = Model(recipe, sum((train[o] for o in train if o != g), []))
            h = np.zeros(4, dtype=int)
            n = 0
            for images in evals.get(g, []):
                hits, count = froc(model, images, args.reported, args.centred)
                h += hits
                n += count
            total += h
            line.append("%s %s/%d" % (g, "/".join(map(str, h)), n))
            if args.fewer:
                fewer = []
                for o in train:
                    if o == g:
                        continue
                    m = Model(recipe, sum((train[q] for q in train if q not in (g, o)), []))
                    fewer.append(sum((np.array(froc(m, images, args.reported, args.centred)[0]) for images in evals.get(g, [])),
                                     np.zeros(4, dtype=int)))
                line.append("(one fewer: mean %s)" % "/".join("%.1f" % v for v in np.mean(fewer, axis=0)))
        full = Model(recipe, sum(train.values(), []))
        for g, sets in holdout.items():
            h = np.zeros(4, dtype=int)
            n = 0
            for images in sets:
                hits, count = froc(full, images, args.reported, args.centred)
                h += hits
                n += count
            line.append("[all→%s %s/%d]" % (g, "/".join(map(str, h)), n))
        print("%s  LOGO sum %s | %s" % (name, "/".join(map(str, total)), "  ".join(line)), flush=True)


if __name__ == "__main__":
    main()
