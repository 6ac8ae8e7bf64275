#!/usr/bin/env python3
"""Writes the decode-benchmark inputs: a synthetic chest-radiograph-like image, 2048x2048.

  chest-2048-u16.png   16-bit grayscale PNG, 12 bits used (samples 0..4095, no sBIT chunk),
                       written by Pillow (mode 'I;16', zlib level 6, adaptive filters).
  chest-2048-q90.jpg   8-bit grayscale baseline JPEG, quality 90, same content scaled to
                       8 bits (round(v * 255 / 4095)), written by Pillow (libjpeg-turbo).

Content: smooth anatomy-like structure (body, two lung fields, mediastinum/spine, rib bands,
a few nodules), blurred, plus signal-dependent (quantum-like) noise and a little
fine-grained texture, so the PNG compresses like a real radiograph (~4-6 MB), not like
incompressible random noise. Deterministic (seeded); reruns give identical bytes for the
same numpy/scipy/Pillow versions.

Usage (from the repository root):
  python3 Benchmarks/peers/make_decode_inputs.py                 # -> Benchmarks/inputs/
  python3 Benchmarks/peers/make_decode_inputs.py --out /tmp/in   # elsewhere
Prints one JSON object (paths, sizes, value ranges) on stdout.
Requires numpy, scipy, pillow. Inputs are generated, not committed (Benchmarks/.gitignore).
"""
import argparse
import json
import os

import numpy as np
import scipy.ndimage as ndi
from PIL import Image

SIZE = 2048
SEED = 20261125
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inputs")


def chest_like(size=SIZE, seed=SEED):
    """Returns a uint16 (size, size) array with values in 0..4095 (brighter = more attenuation)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size)  # 0..1
    img = np.full((size, size), 300.0, dtype=np.float32)  # direct exposure (dark)

    def ellipse(cy, cx, ry, rx):
        return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0

    body = ellipse(0.55, 0.5, 0.62, 0.46)
    img[body] = 2600.0
    lungs = ellipse(0.47, 0.30, 0.30, 0.15) | ellipse(0.47, 0.70, 0.30, 0.15)
    img[lungs] = 1100.0
    img[ellipse(0.60, 0.5, 0.30, 0.07)] = 2900.0  # mediastinum
    img[(np.abs(x - 0.5) < 0.035) & (y > 0.1)] = 3300.0  # spine
    img[ellipse(0.68, 0.57, 0.15, 0.17)] = 2700.0  # heart shadow
    # Rib bands: stripes sloping down and curving laterally across each lung field.
    for side in (-1.0, 1.0):
        cx = 0.5 + side * 0.2
        for k in range(9):
            yc = 0.14 + 0.07 * k + 0.3 * np.abs(x - 0.5) + 1.5 * (x - cx) ** 2
            band = (np.abs(y - yc) < 0.012) & lungs & (np.sign(x - 0.5) == side)
            img[band] += 450.0
    img = ndi.gaussian_filter(img, 6.0)  # soft anatomical edges
    # Low-frequency heel effect / density variation.
    low = ndi.zoom(rng.standard_normal((16, 16)).astype(np.float32), size / 16, order=3)
    img += 120.0 * low
    # Nodules: soft round blobs, 4-15 px radius.
    for _ in range(6):
        cy, cx = rng.uniform(0.25, 0.75), rng.choice([0.3, 0.7]) + rng.uniform(-0.08, 0.08)
        r = rng.uniform(4, 15) / size
        img += 400.0 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
    # Fine texture (lung markings) + quantum-like noise (sd ~ sqrt(signal)).
    img += 25.0 * ndi.gaussian_filter(rng.standard_normal((size, size)).astype(np.float32), 1.5)
    img += rng.standard_normal((size, size)).astype(np.float32) * (0.25 * np.sqrt(np.maximum(img, 1.0)))
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: Benchmarks/inputs/)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    u16 = chest_like()
    png_path = os.path.join(args.out, "chest-2048-u16.png")
    Image.fromarray(u16).save(png_path, format="PNG")  # mode 'I;16' -> 16-bit gray PNG

    u8 = np.rint(u16.astype(np.float32) * (255.0 / 4095.0)).astype(np.uint8)
    jpg_path = os.path.join(args.out, "chest-2048-q90.jpg")
    Image.fromarray(u8).save(jpg_path, format="JPEG", quality=90, progressive=False, optimize=False)

    # Round-trip check: the PNG must be lossless 16-bit.
    back = np.asarray(Image.open(png_path))
    assert back.dtype == np.uint16 and np.array_equal(back, u16), "PNG round trip failed"

    print(json.dumps({
        "png": {"path": png_path, "bytes": os.path.getsize(png_path), "shape": list(u16.shape),
                "dtype": "uint16", "min": int(u16.min()), "max": int(u16.max()), "bits_used": 12},
        "jpeg": {"path": jpg_path, "bytes": os.path.getsize(jpg_path), "shape": list(u8.shape),
                 "dtype": "uint8", "quality": 90, "baseline": True},
    }, indent=1))


if __name__ == "__main__":
    main()
