#!/usr/bin/env python3
"""Makes the bundled sample radiographs in Data/samples/ (synthetic, no patient data).

The phantoms are crude but shaped like PA chest radiographs: a body outline,
two lung fields, a mediastinum and heart shadow, curved ribs and clavicles,
and a few spherical nodules whose true centres and diameters are written to
`Data/samples/truth.csv`. High sample values are dense (MONOCHROME2).

Files (layout <root>/<patient>/<YYYY-MM-DD>/<image>, which the batch pipeline reads):
  PHANTOM-001/2026-01-12/pa.png   16-bit PNG, 12 bits stored (sBIT), 0.35 mm (pHYs)
  PHANTOM-001/2026-05-04/pa.png   the same patient 112 days later; nodule A has grown
  PHANTOM-002/2026-03-02/pa.jpg   8-bit JPEG, JFIF density 72.57 dpi = 0.35 mm
  jsrt-style/PHANTOM-003.img      raw 1024x1024 big-endian 16-bit words, 12 bits (JSRT layout)

Run:  python3 Data/make_samples.py        (numpy, pypng, pillow)
"""
import csv
import io
import os
import struct
import zlib

import numpy as np
import png
from PIL import Image

N = 1024
SPACING = 0.35  # mm per pixel
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples")


def phantom(seed, nodules, shift=(0.0, 0.0)):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:N, 0:N].astype(np.float64)
    x = x - shift[1]
    y = y - shift[0]
    cx, cy = N / 2, N / 2
    # Attenuation "thickness" map in arbitrary units; larger = denser.
    body = ((x - cx) / (0.46 * N)) ** 2 + ((y - cy - 20) / (0.52 * N)) ** 2 < 1
    t = np.where(body, 1.0, 0.0)
    lung_l = ((x - cx + 0.2 * N) / (0.15 * N)) ** 2 + ((y - cy + 0.02 * N) / (0.33 * N)) ** 2 < 1
    lung_r = ((x - cx - 0.2 * N) / (0.15 * N)) ** 2 + ((y - cy + 0.02 * N) / (0.33 * N)) ** 2 < 1
    lungs = lung_l | lung_r
    t = t - 0.55 * lungs
    heart = ((x - cx - 0.05 * N) / (0.16 * N)) ** 2 + ((y - cy - 0.14 * N) / (0.15 * N)) ** 2 < 1
    mediastinum = (np.abs(x - cx) < 0.06 * N) & (y > 0.12 * N) & body
    t = t + 0.45 * (heart | mediastinum) * lungs + 0.35 * mediastinum
    # Ribs: curved bands with bright cortical edges.
    for k in range(10):
        for side in (-1, 1):
            y0 = 0.22 * N + k * 0.058 * N
            curve = y0 + 0.00055 * (x - cx - side * 0.08 * N) ** 2 * 0.9 - 0.06 * N
            dist = np.abs(y - curve)
            on_side = (side * (x - cx) > 0.05 * N)
            t = t + 0.22 * ((dist < 0.011 * N) & on_side & body) + 0.08 * ((np.abs(dist - 0.011 * N) < 2) & on_side & body)
    # Clavicles.
    for side in (-1, 1):
        curve = 0.16 * N - 0.0003 * (x - cx) ** 2 * -0.5
        t = t + 0.25 * ((np.abs(y - curve) < 0.012 * N) & (side * (x - cx) > 0.03 * N) & (side * (x - cx) < 0.3 * N))
    # Nodules: projected spheres, thickness ∝ chord length.
    for (ny, nx, d_mm, contrast) in nodules:
        r = d_mm / SPACING / 2
        d2 = (x - nx) ** 2 + (y - ny) ** 2
        t = t + contrast * np.sqrt(np.clip(1 - d2 / r ** 2, 0, None))
    # Soft blur (scatter) + quantum noise, then 12-bit detector values.
    from scipy.ndimage import gaussian_filter
    t = gaussian_filter(t, 2.0)
    img = 400 + 2600 * t + rng.normal(0, 18, size=t.shape)
    return np.clip(img, 0, 4095).astype(np.uint16)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def write_png16(path, img, spacing_mm, bits):
    buf = io.BytesIO()
    png.Writer(width=img.shape[1], height=img.shape[0], greyscale=True, bitdepth=16, compression=9).write(buf, img.tolist())
    data = buf.getvalue()
    i = data.index(b"IDAT") - 4
    ppm = round(1000 / spacing_mm)
    extra = chunk(b"sBIT", bytes([bits])) + chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data[:i] + extra + data[i:])


def main():
    truth = []
    # Patient 1: nodule A grows from 12.0 to 14.0 mm over 112 days (VDT ≈ 168 d); B is stable.
    exams = [("PHANTOM-001", "2026-01-12", 11, {"A": 12.0, "B": 9.0}, (0, 0)),
             ("PHANTOM-001", "2026-05-04", 12, {"A": 14.0, "B": 9.0}, (6, -4))]
    where = {"A": (380, 300, 0.30), "B": (600, 700, 0.25)}
    for patient, date, seed, sizes, shift in exams:
        nods = [(where[k][0] + shift[0], where[k][1] + shift[1], sizes[k], where[k][2]) for k in sizes]
        img = phantom(seed, nods, shift)
        write_png16(os.path.join(HERE, patient, date, "pa.png"), img, SPACING, 12)
        for k in sizes:
            truth.append([f"{patient}/{date}/pa.png", k, where[k][1] + shift[1], where[k][0] + shift[0], sizes[k]])
    # Patient 2: JPEG with a physical JFIF density.
    nods = [(450, 720, 16.0, 0.3)]
    img8 = (phantom(21, nods) >> 4).astype(np.uint8)
    path = os.path.join(HERE, "PHANTOM-002", "2026-03-02", "pa.jpg")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(img8, "L").save(path, quality=92, dpi=(25.4 / SPACING, 25.4 / SPACING))
    truth.append(["PHANTOM-002/2026-03-02/pa.jpg", "A", 720, 450, 16.0])
    # JSRT-style raw: headerless big-endian 16-bit words, 12 bits used.
    nods = [(520, 330, 20.0, 0.3)]
    raw = phantom(31, nods)
    path = os.path.join(HERE, "jsrt-style", "PHANTOM-003.img")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    raw.astype(">u2").tofile(path)
    truth.append(["jsrt-style/PHANTOM-003.img", "A", 330, 520, 20.0])
    with open(os.path.join(HERE, "truth.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "nodule", "x_px", "y_px", "diameter_mm", "pixel_spacing_mm"])
        w.writerows(row + [SPACING] for row in truth)
    print("wrote", len(truth), "truth rows")


if __name__ == "__main__":
    main()
