#!/usr/bin/env python3
"""Where a phantom set's true nodules lie against the detector's lung field (offline, never part of the product).

Usage: lung_coverage.py TRUTH.json OVERLAY_DIR

OVERLAY_DIR is from `nodules detect --overlay DIR` (NNN-STEM.lungs.png, the field on the ~2 mm mask grid). Counts the true
centres inside the field, within 6 mm of it (the pipeline's candidate margin) and further out (and how many of those are
>= 10 mm). Candidates further out can still come from the apices and the prior regions, but mostly do not.
"""
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lung_iou import overlay_lung_masks  # noqa: E402

MARGIN_MM = 6.0


def coverage(truth_path, overlay):
    """(inside, within MARGIN_MM, further out, further out and >= 10 mm) over the set's true nodule centres."""
    truth = json.load(open(truth_path))
    masks = overlay_lung_masks(overlay)
    inside = near = outside = large_outside = 0
    for image in truth["images"]:
        stem = os.path.splitext(os.path.basename(image["path"]))[0]
        field = cv2.imread(masks[stem], cv2.IMREAD_GRAYSCALE) > 127
        gh, gw = field.shape
        sx, sy = gw / image["width"], gh / image["height"]
        cell = image["pixel_spacing_mm"] / sx  # mm per grid px
        distance = cv2.distanceTransform((~field).astype(np.uint8), cv2.DIST_L2, 5) * cell
        for n in image["nodules"]:
            gx, gy = int((n["x"] + 0.5) * sx), int((n["y"] + 0.5) * sy)
            d = distance[min(gy, gh - 1), min(gx, gw - 1)]
            if d == 0:
                inside += 1
            elif d <= MARGIN_MM:
                near += 1
            else:
                outside += 1
                large_outside += n["diameter_mm"] >= 10
    return inside, near, outside, large_outside


if __name__ == "__main__":
    truth_path, overlay = sys.argv[1:3]
    print("%s: inside %d, within 6 mm %d, further out %d (>=10 mm: %d)" % ((truth_path,) + coverage(truth_path, overlay)))
