#!/usr/bin/env python3
"""Makes the ScaleSpace reference arrays with scipy.ndimage (independent of NoduleKit).

Every output is a little-endian, C-order float32 `.npy` file (shape rows x columns).
All filtering is done in float64 on the float32 input, then cast to float32.
Border handling is scipy's mode='reflect' (half-sample symmetric: d c b a | a b c d),
kernels are truncated at truncate=4.0, i.e. radius = int(4.0 * sigma + 0.5).
`manifest.json` lists every file with the exact scipy call that made it.

Run from this folder:  python3 make_fixtures.py   (numpy, scipy)
The committed outputs are what the tests use; Python is not needed to test.
"""
import json
import os

import numpy as np
import scipy
import scipy.ndimage as ndi

HERE = os.path.dirname(os.path.abspath(__file__))
SIGMAS = [1.0, 2.5, 4.0]
DERIV_SIGMA = 2.5
DERIV_ORDERS = [(0, 1), (1, 0), (0, 2), (2, 0), (1, 1)]  # (rows, cols): o01 = d/dx (along columns)
DOG_SIGMA, DOG_K = 2.5, 1.6
MODE, TRUNCATE = "reflect", 4.0

files = {}


def save(name, array, **facts):
    a = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
    assert np.isfinite(a).all(), name
    np.save(os.path.join(HERE, name), a)
    files[name] = {"shape": list(a.shape), "dtype": "float32", **facts}


def make_input_a(rng):
    """48x64: smooth random field (values ~100..900) plus white noise, clipped to 0..1000."""
    h, w = 48, 64
    field = ndi.gaussian_filter(rng.standard_normal((h, w)), 5.0, mode="wrap")
    field = (field - field.min()) / (field.max() - field.min())
    img = 100.0 + 800.0 * field + rng.normal(0.0, 25.0, (h, w))
    return np.clip(img, 0.0, 1000.0).astype(np.float32)


def make_input_b(rng):
    """57x33: a few bright Gaussian blobs (nodule-like) on a diagonal gradient plus noise."""
    h, w = 57, 33
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 150.0 + 6.0 * y + 3.0 * x  # gradient, ~150..585
    for cy, cx, r, amp in [(12.0, 8.0, 2.0, 350.0), (30.5, 22.0, 3.5, 250.0),
                           (46.0, 10.0, 5.0, 200.0), (3.0, 29.0, 1.5, 300.0)]:  # last one touches a border
        img += amp * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2.0 * r * r))
    img += rng.normal(0.0, 15.0, (h, w))
    return np.clip(img, 0.0, 1000.0).astype(np.float32)


def main():
    rng = np.random.default_rng(20261125)
    inputs = {"a": make_input_a(rng), "b": make_input_b(rng)}
    kw = f"mode='{MODE}', truncate={TRUNCATE}"
    for key, img in inputs.items():
        src = f"input-{key}.npy"
        save(src, img, input=src, filter="input", sigma=None, order=None, call=None)
        x = img.astype(np.float64)
        for s in SIGMAS:
            save(f"{key}-gaussian-s{s}.npy", ndi.gaussian_filter(x, s, mode=MODE, truncate=TRUNCATE),
                 input=src, filter="gaussian", sigma=s, order=[0, 0], radius=int(TRUNCATE * s + 0.5),
                 call=f"scipy.ndimage.gaussian_filter(x, {s}, {kw})")
            save(f"{key}-log-s{s}.npy", s * s * ndi.gaussian_laplace(x, s, mode=MODE, truncate=TRUNCATE),
                 input=src, filter="log-normalised", sigma=s, order=None, radius=int(TRUNCATE * s + 0.5),
                 call=f"{s}**2 * scipy.ndimage.gaussian_laplace(x, {s}, {kw})")
        s = DERIV_SIGMA
        for oy, ox in DERIV_ORDERS:
            save(f"{key}-d-s{s}-o{oy}{ox}.npy",
                 ndi.gaussian_filter(x, s, order=(oy, ox), mode=MODE, truncate=TRUNCATE),
                 input=src, filter="gaussian-derivative", sigma=s, order=[oy, ox],
                 radius=int(TRUNCATE * s + 0.5),
                 call=f"scipy.ndimage.gaussian_filter(x, {s}, order=({oy}, {ox}), {kw})")
        s, k = DOG_SIGMA, DOG_K
        s2 = s * k
        dog = (ndi.gaussian_filter(x, s2, mode=MODE, truncate=TRUNCATE)
               - ndi.gaussian_filter(x, s, mode=MODE, truncate=TRUNCATE))
        save(f"{key}-dog-s{s}-k{k}.npy", dog, input=src, filter="dog", sigma=s, k=k, sigma2=s2, order=None,
             radius=[int(TRUNCATE * s + 0.5), int(TRUNCATE * s2 + 0.5)],
             call=(f"scipy.ndimage.gaussian_filter(x, {s}*{k}, {kw})"
                   f" - scipy.ndimage.gaussian_filter(x, {s}, {kw})"))

    manifest = {
        "generator": "make_fixtures.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "x": "np.load(input).astype(np.float64); every result is cast to float32",
        "mode": MODE,
        "border": "half-sample symmetric: d c b a | a b c d",
        "truncate": TRUNCATE,
        "radius": "int(truncate * sigma + 0.5)",
        "axis_order": "(rows, cols); order (oy, ox); o01 = d/dx along columns",
        "files": files,
    }
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
