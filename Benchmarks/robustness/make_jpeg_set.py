#!/usr/bin/env python3
"""Re-encode phantoms as 8-bit JPEG, the way many public chest radiograph sets are distributed.

Usage:
  make_jpeg_set.py SRC_SET OUT_DIR [--count N] [--quality Q]

Each 16-bit PNG of SRC_SET (a make_phantoms.py folder with truth.json) is windowed at its
0.5th–99.5th percentiles to 0–255 and written as JPEG at quality Q (default 90) with OpenCV.
OUT_DIR gets images/*.jpg and a truth.json with the same nodules and pixel spacings (JPEG
carries no spacing, so pass each image's spacing to `nodules detect --spacing`; the
truth's pixel_spacing_mm is it). Python here is tooling for measuring, never part of the product.
"""
import argparse
import json
import os

import cv2
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--quality", type=int, default=90)
    args = ap.parse_args()
    truth = json.load(open(os.path.join(args.source, "truth.json")))
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    images = []
    for image in truth["images"][: args.count]:
        pixels = cv2.imread(os.path.join(args.source, image["path"]), cv2.IMREAD_UNCHANGED).astype(np.float64)
        lo, hi = np.percentile(pixels, 0.5), np.percentile(pixels, 99.5)
        eight = np.clip((pixels - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
        path = "images/" + os.path.basename(image["path"]).rsplit(".", 1)[0] + ".jpg"
        cv2.imwrite(os.path.join(args.out, path), eight, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        entry = dict(image, path=path)
        entry.pop("lung_mask", None)
        images.append(entry)
    json.dump(dict(truth, images=images), open(os.path.join(args.out, "truth.json"), "w"), indent=1)
    print(f"{len(images)} images written to {args.out}")


if __name__ == "__main__":
    main()
