#!/usr/bin/env python3
"""Does ranking candidates within their own image help at a fixed FP/image? (offline, never part of
the product)

False positives gather on some images more than others. At 2 FP/image over a set, one threshold on
the score lets an image with many strong false positives spend the set's budget; a per-image rule
could spend it elsewhere. On the candidate tables written by `patch_cnn_probe.py extract` (each
candidate's score, image and the nodules it reaches), hits >= 10 mm at 2 FP/image by the evaluate
rule for:
  score         - the records' own score (the pipeline's ranking);
  rank penalty  - logit(score) - lambda x (the candidate's rank in its image, 0 for the first);
  top k         - only each image's k best candidates, by score;
  minus image   - logit(score) - a x (the mean logit of the image's 10 best).

Usage (from the repository root):
  python3 Benchmarks/analysis/per_image_rank_probe.py --work DIR --sets A,B,C
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from patch_cnn_probe import hits  # noqa: E402  the evaluate rule on the candidate tables


def logit(score):
    s = np.clip(score, 1e-6, 1 - 1e-6)
    return np.log(s / (1 - s))


def per_image(z, values, reduce):
    """`reduce(indices of one image's candidates, best first)` gives that image's values."""
    out = np.zeros(len(values))
    for image in np.unique(z["image"]):
        on = np.where(z["image"] == image)[0]
        order = on[np.argsort(-values[on], kind="stable")]
        out[order] = reduce(order)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True)
    parser.add_argument("--sets", required=True)
    args = parser.parse_args()
    names = args.sets.split(",")
    tables = {n: np.load(os.path.join(args.work, n + ".npz")) for n in names}

    def line(label, rank):
        row = [hits(tables[n], *rank(tables[n]))[0] for n in names]
        print(f"{label:24s} " + " ".join(f"{v:8d}" for v in row) + f"  pooled {sum(row)}")

    print(f"{'>= 10 mm at 2 FP/image':24s} " + " ".join(f"{n:>8s}" for n in names))
    line("score", lambda z: (z["score"], 2.0))
    for lam in (0.1, 0.2, 0.3, 0.5, 1.0):
        line(f"rank penalty {lam}", lambda z, lam=lam: (
            logit(z["score"]) - lam * per_image(z, logit(z["score"]), lambda o: np.arange(len(o))), 2.0))
    for k in (2, 3, 4, 6, 8):
        line(f"top {k}", lambda z, k=k: (
            z["score"], 2.0, per_image(z, logit(z["score"]), lambda o: np.arange(len(o))) < k))
    for a in (0.25, 0.5, 1.0):
        line(f"minus image {a}", lambda z, a=a: (
            logit(z["score"]) - a * per_image(z, logit(z["score"]),
                                              lambda o: np.full(len(o), np.sort(logit(z["score"][o]))[::-1][:10].mean())), 2.0))


if __name__ == "__main__":
    main()
