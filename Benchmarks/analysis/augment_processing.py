#!/usr/bin/env python3
"""Re-render a phantom set through a random image-processing chain (domain randomisation).

Offline tooling, never part of the product. Each image gets its own seeded chain:
band gains of a multi-frequency decomposition at 1/3/9/27 mm (the base compressed, the
bands boosted or damped, as CR/DR post-processing does), then an optional S-curve LUT and a
gamma, extra quantum-like noise, 12-bit quantisation. Pixels do not move, so the truth
is copied unchanged (lung masks dropped).

  augment_processing.py SOURCE_SET OUT_SET --seed S [--count N]
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np
from PIL import Image


def blur_mm(x, sigma_mm, spacing):
    """Gaussian blur of σ mm; large σ on a reduced copy (σ ≥ 2 px there)."""
    s = sigma_mm / spacing
    f = max(1, int(s // 2))
    if f == 1:
        return cv2.GaussianBlur(x, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    h, w = x.shape
    small = cv2.resize(x, (max(8, w // f), max(8, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), s / f, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def chain(pixels, spacing, rng):
    x = pixels.astype(np.float32)
    lo, hi = np.percentile(x[::4, ::4], [0.5, 99.5])
    x = np.clip((x - lo) / max(hi - lo, 1e-6), -0.2, 1.2)
    scales = [1.0, 3.0, 9.0, 27.0]
    blurred = [x] + [blur_mm(x, s, spacing) for s in scales]
    bands = [blurred[i] - blurred[i + 1] for i in range(len(scales))]
    base = blurred[-1]
    gains = [rng.uniform(0.8, 1.6), rng.uniform(1.0, 2.5), rng.uniform(0.7, 2.0), rng.uniform(0.35, 1.2)]
    base_gain = rng.uniform(0.3, 1.0)
    mean = float(base.mean())
    y = mean + base_gain * (base - mean)
    for g, b in zip(gains, bands):
        y += g * b
    lo, hi = np.percentile(y[::4, ::4], [0.5, 99.5])
    y = (y - lo) / max(hi - lo, 1e-6)
    lut = "none"
    if rng.uniform() < 0.6:
        c, w = rng.uniform(0.35, 0.65), rng.uniform(0.12, 0.35)
        s = 1 / (1 + np.exp(-(y - c) / w))
        s0, s1 = 1 / (1 + np.exp(c / w)), 1 / (1 + np.exp(-(1 - c) / w))
        y = (s - s0) / (s1 - s0)
        lut = "sigmoid c=%.2f w=%.2f" % (c, w)
    gamma = rng.uniform(0.7, 1.4)
    y = np.clip(y, 0, 1) ** gamma
    noise = rng.uniform(0, 0.012)
    y = y + rng.normal(0, noise, y.shape).astype(np.float32)
    out = np.clip(np.rint(y * 4095), 0, 4095).astype(np.uint16)
    recipe = dict(band_gains=[round(g, 3) for g in gains], base_gain=round(base_gain, 3), lut=lut,
                  gamma=round(gamma, 3), noise=round(noise, 4))
    return out, recipe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, default=10 ** 9)
    args = ap.parse_args()
    truth = json.load(open(os.path.join(args.source, "truth.json")))
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    images = []
    for index, image in enumerate(truth["images"][: args.count]):
        rng = np.random.default_rng([args.seed, index])
        pixels = cv2.imread(os.path.join(args.source, image["path"]), cv2.IMREAD_UNCHANGED)
        if pixels.ndim == 3:
            pixels = pixels[..., 0]
        out, recipe = chain(pixels, image["pixel_spacing_mm"], rng)
        path = "images/" + os.path.basename(image["path"])
        if not path.endswith(".png"):
            path = os.path.splitext(path)[0] + ".png"
        dpi = 25.4 / image["pixel_spacing_mm"]
        Image.fromarray(out).save(os.path.join(args.out, path), dpi=(dpi, dpi))
        entry = dict(image, path=path, processing=recipe)
        entry.pop("lung_mask", None)
        images.append(entry)
        print(index, recipe, file=sys.stderr)
    json.dump(dict(truth, images=images, augmented=dict(seed=args.seed, source=args.source)),
              open(os.path.join(args.out, "truth.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
