#!/usr/bin/env python3
"""Lung-field IoU of `nodules detect --overlay DIR` masks against a phantom set's truth masks.

Usage: lung_iou.py TRUTH.json OVERLAY_DIR

`nodules detect --overlay DIR` writes, per image, NNN-STEM.lungs.png: the lung field on the
detector's mask grid (about 2 mm/px). Each truth mask (`lung_mask` in truth.json) is
area-averaged onto that grid and thresholded at ½, as Pipelines/tools/fit_lung_model.py does;
prints the median, 10th percentile and minimum IoU and the worst five images.
Offline tooling for measuring, never part of the product (numpy, opencv-python-headless).
"""
import glob
import json
import os
import sys

import cv2
import numpy as np


def overlay_lung_masks(overlay_dir):
    """Image stem -> the NNN-STEM.lungs.png file that `nodules detect --overlay` wrote for it."""
    masks = {}
    for f in glob.glob(os.path.join(overlay_dir, "*.lungs.png")):
        stem = os.path.basename(f)[: -len(".lungs.png")].split("-", 1)[1]
        masks[stem] = f
    return masks


def main(truth_path, overlay_dir):
    truth = json.load(open(truth_path))
    folder = os.path.dirname(os.path.abspath(truth_path))
    masks = overlay_lung_masks(overlay_dir)
    values = []
    for image in truth["images"]:
        stem = os.path.splitext(os.path.basename(image["path"]))[0]
        f = masks.get(stem)
        if f is None:
            continue
        m = cv2.imread(f, cv2.IMREAD_GRAYSCALE) > 0
        t = cv2.imread(os.path.join(folder, image["lung_mask"]), cv2.IMREAD_UNCHANGED) > 0
        t = cv2.resize(t.astype(np.float32), (m.shape[1], m.shape[0]), interpolation=cv2.INTER_AREA) > 0.5
        values.append(((m & t).sum() / max((m | t).sum(), 1), stem))
    if not values:
        sys.exit("no overlay lung masks matched the truth's images")
    v = np.array([a for a, _ in values])
    worst = ", ".join(f"{s} {a:.2f}" for a, s in sorted(values)[:5])
    print(f"lung IoU over {len(v)} images: median {np.median(v):.3f}, 10th percentile {np.percentile(v, 10):.3f}, "
          f"min {v.min():.3f} (worst: {worst})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
