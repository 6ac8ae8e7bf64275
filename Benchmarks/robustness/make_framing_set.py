#!/usr/bin/env python3
"""Re-frame or re-map phantoms the ways real archives differ from our generator's images.

Usage:
  make_framing_set.py SRC_SET OUT_DIR --variant V [--count N]

Variants (each keeps the 16-bit samples and writes the pixel spacing as pHYs):
  mirror     left-right mirror image (heart on the patient's right, as in situs
             inversus or a film loaded the wrong way round)
  abdomen    25 % more rows below, continuing the bottom rows (more abdomen in the field)
  loose      15 % air above and 10 % air either side (a loose collimation, body small in the frame)
  offcentre  20 % air on the left only (the patient off the detector's centre)
  collimated bright shutter bands on every side (6 % top, 4 % bottom, 8 % left, 5 % right of the
             frame, at the 99.5th percentile: unexposed detector, as collimation leaves it)
  tight      8 % cropped from every side (a tight collimation; nodules cut off are dropped)
  rotated    rotated 7° about the centre (a patient not square to the detector)
  gamma-low  samples mapped through γ = 0.6 over their range (a flatter, brighter rendering)
  gamma-high samples mapped through γ = 1.6 (a darker, higher-contrast rendering)
  inverted   samples inverted over their range (bone dark, as MONOCHROME1 data saved to PNG)
  noisier    Gaussian noise added with the SD of the image's own quantum noise (truth noise_sigma),
             so the noise is √2 × as strong; seeded by the image's index
  blurred    Gaussian blur of 0.3 mm SD (a softer detector or a moving patient)

OUT_DIR gets images/*.png and a truth.json with the nodules moved with the pixels
(lung masks are not carried over). Python here is tooling for measuring, never part
of the product.
"""
import argparse
import json
import math
import os

import cv2
import numpy as np
from PIL import Image


def reframe(pixels, variant, image=None, index=0):
    """Returns the new pixels and a function mapping an old (x, y) to the new one (or None if cut off)."""
    h, w = pixels.shape
    if variant == "noisier":
        rng = np.random.default_rng(7000 + index)
        noisy = pixels.astype(np.float64) + rng.normal(0, image["noise_sigma"], pixels.shape)
        return np.clip(np.round(noisy), 0, 65535).astype(pixels.dtype), lambda x, y: (x, y)
    if variant == "blurred":
        sigma = 0.3 / image["pixel_spacing_mm"]
        out = cv2.GaussianBlur(pixels.astype(np.float32), (0, 0), sigma)
        return np.clip(np.round(out), 0, 65535).astype(pixels.dtype), lambda x, y: (x, y)
    air = float(np.percentile(pixels, 0.5))
    if variant == "mirror":
        return pixels[:, ::-1], lambda x, y: (w - 1 - x, y)
    if variant == "abdomen":
        extra = int(0.25 * h)
        return np.vstack([pixels, np.repeat(pixels[-1:, :], extra, axis=0)]), lambda x, y: (x, y)
    if variant == "loose":
        top, side = int(0.15 * h), int(0.10 * w)
        out = np.full((h + top, w + 2 * side), air, dtype=pixels.dtype)
        out[top:, side:side + w] = pixels
        return out, lambda x, y: (x + side, y + top)
    if variant == "offcentre":
        side = int(0.20 * w)
        out = np.full((h, w + side), air, dtype=pixels.dtype)
        out[:, side:] = pixels
        return out, lambda x, y: (x + side, y)
    if variant == "collimated":
        out = pixels.copy()
        shutter = np.percentile(pixels, 99.5)
        top, bottom, left, right = int(0.06 * h), int(0.04 * h), int(0.08 * w), int(0.05 * w)
        out[:top, :] = shutter
        out[h - bottom:, :] = shutter
        out[:, :left] = shutter
        out[:, w - right:] = shutter

        def keep(x, y):  # a nodule whose centre the shutters cover is dropped
            return (x, y) if left <= x < w - right and top <= y < h - bottom else None
        return out, keep
    if variant == "tight":
        dy, dx = int(0.08 * h), int(0.08 * w)
        out = pixels[dy:h - dy, dx:w - dx]

        def move(x, y):
            nx, ny = x - dx, y - dy
            return (nx, ny) if 0 <= nx < out.shape[1] and 0 <= ny < out.shape[0] else None
        return out, move
    if variant == "rotated":
        angle = 7.0
        m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
        out = cv2.warpAffine(pixels.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=air)
        return np.clip(out, 0, 65535).astype(pixels.dtype), lambda x, y: (m[0, 0] * x + m[0, 1] * y + m[0, 2],
                                                                          m[1, 0] * x + m[1, 1] * y + m[1, 2])
    if variant in ("gamma-low", "gamma-high", "inverted"):
        lo, hi = float(pixels.min()), float(pixels.max())
        t = (pixels.astype(np.float64) - lo) / max(hi - lo, 1)
        t = {"gamma-low": t ** 0.6, "gamma-high": t ** 1.6, "inverted": 1 - t}[variant]
        return np.round(lo + t * (hi - lo)).astype(pixels.dtype), lambda x, y: (x, y)
    raise SystemExit(f"unknown variant {variant}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--variant", required=True, choices=["mirror", "abdomen", "loose", "offcentre", "collimated", "tight",
                                                       "rotated", "gamma-low", "gamma-high", "inverted", "noisier", "blurred"])
    ap.add_argument("--count", type=int, default=60)
    args = ap.parse_args()
    truth = json.load(open(os.path.join(args.source, "truth.json")))
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    images = []
    for index, image in enumerate(truth["images"][: args.count]):
        pixels = cv2.imread(os.path.join(args.source, image["path"]), cv2.IMREAD_UNCHANGED)
        out, move = reframe(pixels, args.variant, image, index)
        path = "images/" + os.path.basename(image["path"])
        dpi = 25.4 / image["pixel_spacing_mm"]
        Image.fromarray(np.ascontiguousarray(out).astype(np.uint16)).save(os.path.join(args.out, path), dpi=(dpi, dpi))
        nodules = []
        for n in image["nodules"]:
            moved = move(n["x"], n["y"])
            if moved is not None:
                nodules.append(dict(n, x=round(float(moved[0]), 3), y=round(float(moved[1]), 3)))
        entry = dict(image, path=path, width=int(out.shape[1]), height=int(out.shape[0]), nodules=nodules)
        entry.pop("lung_mask", None)
        images.append(entry)
    json.dump(dict(truth, images=images, reframed=args.variant), open(os.path.join(args.out, "truth.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
