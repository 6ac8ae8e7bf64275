#!/usr/bin/env python3
"""Downsample a phantom set (any generator's, in the truth.json format) for small committed CI sets.

Usage: python3 Data/phantom/downsample_set.py IN_DIR OUT_DIR --factor F [--level 9]

Every image listed in IN_DIR/truth.json is area-averaged (OpenCV INTER_AREA) by F (> 1) and
written as a 16-bit grey PNG whose pHYs chunk gives the new spacing (make_phantoms.write_png);
its lung mask likewise (8-bit, thresholded at ½). truth.json is rewritten for the new grid: width, height,
pixel_spacing_mm × (old/new size), centres x' = (x + ½)·w'/w − ½ (centre of pixel 0 is 0),
noise_sigma divided by F (area averaging of uncorrelated noise; an approximation for
correlated noise) and cnr with it; diameters, contrast and every other field are kept, and
"downsampled_from" records the source. Offline tooling for test data, never part of the product
(numpy, opencv-python-headless).
"""
import argparse
import json
import os

import cv2
import numpy as np

from make_phantoms import write_png  # the generator's writer: 16-bit grey with pHYs spliced in


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--factor", type=float, required=True)
    ap.add_argument("--level", type=int, default=9)
    args = ap.parse_args()
    if args.factor <= 1:
        ap.error("--factor must be > 1")
    truth = json.load(open(os.path.join(args.input, "truth.json")))
    out_images = []
    for image in truth["images"]:
        src = cv2.imread(os.path.join(args.input, image["path"]), cv2.IMREAD_UNCHANGED)
        h, w = src.shape
        nw, nh = max(1, round(w / args.factor)), max(1, round(h / args.factor))
        small = cv2.resize(src.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
        small = np.clip(np.rint(small), 0, 65535).astype(np.uint16)
        sx, sy = nw / w, nh / h
        spacing = image["pixel_spacing_mm"] / ((sx + sy) / 2)
        write_png(os.path.join(args.output, image["path"]), small, spacing, level=args.level)
        entry = dict(image)
        entry.update(width=nw, height=nh, pixel_spacing_mm=round(spacing, 6))
        if image.get("lung_mask"):
            mask = cv2.imread(os.path.join(args.input, image["lung_mask"]), cv2.IMREAD_UNCHANGED) > 0
            m = cv2.resize(mask.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA) > 0.5
            write_png(os.path.join(args.output, image["lung_mask"]), (m * 255).astype(np.uint8), level=9)
        if entry.get("noise_sigma"):
            entry["noise_sigma"] = round(entry["noise_sigma"] / args.factor, 2)
        nodules = []
        for n in image["nodules"]:
            n = dict(n)
            n["x"] = round((n["x"] + 0.5) * sx - 0.5, 3)
            n["y"] = round((n["y"] + 0.5) * sy - 0.5, 3)
            if n.get("cnr") is not None and entry.get("noise_sigma"):
                n["cnr"] = round(n["contrast"] / entry["noise_sigma"], 2)
            nodules.append(n)
        entry["nodules"] = nodules
        out_images.append(entry)
    out = dict(truth)
    out["images"] = out_images
    out["downsampled_from"] = {"generator": truth.get("generator"), "seed": truth.get("seed"), "factor": args.factor}
    with open(os.path.join(args.output, "truth.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
