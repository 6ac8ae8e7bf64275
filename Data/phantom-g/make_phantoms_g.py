#!/usr/bin/env python3
"""phantom-g: independent synthetic PA chest-radiograph phantom generator.

Usage:
  python3 make_phantoms_g.py --count N  --seed S --out DIR [--jobs J]
  python3 make_phantoms_g.py --series P --seed S --out DIR [--jobs J]

Dependencies: numpy, scipy, opencv-python-headless.
Output: 12-bit content in 16-bit grayscale PNG (sBIT=12, pHYs in px/m),
higher value = more attenuation.
"""
import argparse
import datetime as dt
import json
import math
import os
import struct
import sys
import zlib
from multiprocessing import Pool

import numpy as np
import cv2
from scipy import interpolate

GEN = "phantom-g"
VERSION = 1

MU_T = 0.020      # soft tissue linear attenuation, 1/mm (effective ~60 keV)
MU_BONE = 0.036   # cortical bone minus displaced soft tissue, 1/mm
MU_MARROW = 0.008 # cancellous bone minus displaced soft tissue, 1/mm
LUNG_AIR = 0.75   # fraction of tissue replaced by air in lung parenchyma


# ----------------------------------------------------------------------------
# PNG helpers
# ----------------------------------------------------------------------------
def _chunk(tag, data):
    c = struct.pack(">I", len(data)) + tag + data
    return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode_png16(img, ppm):
    assert img.dtype == np.uint16 and img.ndim == 2
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 4])
    assert ok
    b = bytes(buf)
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    # first chunk is IHDR (8 + 4 + 4 + 13 + 4)
    ihdr_end = 8 + 25
    assert b[12:16] == b"IHDR"
    # drop any existing sBIT / pHYs (OpenCV writes none, but be safe)
    out = [b[:ihdr_end]]
    out.append(_chunk(b"sBIT", bytes([12])))
    out.append(_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)))
    pos = ihdr_end
    while pos < len(b):
        ln = struct.unpack(">I", b[pos:pos + 4])[0]
        tag = b[pos + 4:pos + 8]
        end = pos + 12 + ln
        if tag not in (b"sBIT", b"pHYs"):
            out.append(b[pos:end])
        pos = end
    return b"".join(out)


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_mask(path, mask):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ok, buf = cv2.imencode(".png", mask.astype(np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    assert ok
    with open(path, "wb") as f:
        f.write(bytes(buf))


# ----------------------------------------------------------------------------
# small utilities
# ----------------------------------------------------------------------------
def smooth_closed(pts, n=400, s=0.0):
    pts = np.asarray(pts, float)
    x = np.r_[pts[:, 0], pts[0, 0]]
    y = np.r_[pts[:, 1], pts[0, 1]]
    tck, _ = interpolate.splprep([x, y], s=s, per=1, k=3)
    u = np.linspace(0, 1, n, endpoint=False)
    xx, yy = interpolate.splev(u, tck)
    return np.stack([xx, yy], 1)


def smooth_open(pts, n=200):
    pts = np.asarray(pts, float)
    k = min(3, len(pts) - 1)
    tck, _ = interpolate.splprep([pts[:, 0], pts[:, 1]], s=0, k=k)
    u = np.linspace(0, 1, n)
    xx, yy = interpolate.splev(u, tck)
    return np.stack([xx, yy], 1)


def fill_poly(shape, pts_px, sub=8):
    """Anti-aliased polygon fill (float 0..1)."""
    m = np.zeros(shape, np.uint8)
    p = np.round(np.asarray(pts_px) * sub).astype(np.int32)
    cv2.fillPoly(m, [p], 255, lineType=cv2.LINE_AA, shift=3)
    return m.astype(np.float32) / 255.0


def gblur(img, sigma_px):
    if sigma_px < 0.3:
        return img
    if sigma_px > 12:
        # blur on a downsampled grid for speed
        f = int(max(2, min(16, sigma_px // 4)))
        h, w = img.shape
        small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma_px / f, borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(img, (0, 0), sigma_px, borderType=cv2.BORDER_REPLICATE)


def loguniform(rng, a, b):
    return float(math.exp(rng.uniform(math.log(a), math.log(b))))


# ----------------------------------------------------------------------------
# anatomy (patient) parameters
# ----------------------------------------------------------------------------
def draw_geometry(rng):
    ppm = int(rng.integers(5000, 7143))           # px per metre
    sp = 1000.0 / ppm                              # mm/px (exact)
    landscape = rng.random() < 0.15
    if landscape:
        wmm, hmm = rng.uniform(400, 440), rng.uniform(345, 380)
    else:
        wmm, hmm = rng.uniform(335, 410), rng.uniform(370, 445)
    W = int(np.clip(round(wmm / sp), 1700, 2800))
    H = int(np.clip(round(hmm / sp), 1700, 2800))
    return dict(ppm=ppm, sp=sp, W=W, H=H)


def draw_patient(rng, geo):
    W_mm = geo["W"] * geo["sp"]
    H_mm = geo["H"] * geo["sp"]
    p = {}
    habitus = rng.uniform(0, 1)                    # 0 thin .. 1 large
    p["habitus"] = habitus
    Lw = rng.uniform(112, 150) + 12 * habitus      # one lung width (mm), outer
    Lh = H_mm * rng.uniform(0.64, 0.76)
    # fit into field with margins (series repositioning needs room)
    max_half = W_mm / 2 - 32
    mediast = rng.uniform(16, 26)                  # spine half-width to lung medial
    scale = min(1.0, max_half / (Lw + mediast))
    Lw *= scale
    Lh = min(Lh, H_mm - 80)
    p["Lw"], p["Lh"], p["med"] = Lw, Lh, mediast * scale
    p["cx"] = W_mm / 2 + rng.normal(0, 6)
    p["y_apex"] = float(np.clip(H_mm * rng.uniform(0.06, 0.13), 25, H_mm - Lh - 40))
    p["soft"] = rng.uniform(12, 28) + 45 * habitus ** 1.5   # lateral chest wall soft tissue
    p["depth"] = rng.uniform(175, 215) + 90 * habitus       # AP depth (mm)
    p["air_max"] = p["depth"] * rng.uniform(0.55, 0.7)      # lung AP thickness max
    p["right_dia_up"] = rng.uniform(5, 28)                  # right hemidiaphragm higher
    p["ctr"] = rng.uniform(0.38, 0.55)                      # cardio-thoracic ratio
    p["breast"] = rng.random() < 0.35
    p["breast_h"] = rng.uniform(8, 22) + 15 * habitus
    p["stomach"] = rng.random() < 0.65
    p["jit"] = rng.normal(0, 1, size=(2, 16, 2))
    p["rib_seed"] = int(rng.integers(1 << 30))
    p["vessel_seed"] = int(rng.integers(1 << 30))
    p["tex_seed"] = int(rng.integers(1 << 30))
    p["rib_space"] = rng.uniform(0.9, 1.12)
    p["rib_tilt"] = rng.uniform(0.7, 1.3)
    p["rib_w"] = rng.uniform(0.85, 1.2)
    p["bone_dens"] = rng.uniform(0.7, 1.25)
    p["tex_amp"] = rng.uniform(0.6, 1.5)
    p["vessel_amp"] = rng.uniform(0.8, 1.3)
    p["clav_y"] = rng.uniform(-8, 15)
    p["clav_tilt"] = rng.uniform(-0.05, 0.3)
    p["scapula"] = rng.uniform(0, 1)
    return p


def lung_outline(p, side):
    """Visible lung field outline (mm). side=-1: image left (patient right)."""
    s = side
    j = p["jit"][0 if s < 0 else 1] * 0.018
    ctr = p["ctr"]
    heart_half_total = ctr * (2 * (p["Lw"] + p["med"]))  # heart width
    if s < 0:   # patient right lung: heart border close to midline
        hb = 0.10 + 0.25 * (ctr - 0.38)
        dia_low = 0.0
        pts = [(0.52, 0.0), (0.80, 0.07), (0.94, 0.30), (0.99, 0.62), (1.0, 0.93),
               (0.985, 1.0), (0.80, 0.91), (0.55, 0.83), (0.30, 0.85),
               (hb * 0.6, 0.90), (hb, 0.72), (hb * 0.7, 0.52), (0.06, 0.38),
               (0.08, 0.2), (0.22, 0.05), (0.36, 0.0)]
        lowshift = -p["right_dia_up"] / p["Lh"]
    else:       # patient left lung: big heart border
        hb = 0.22 + 1.35 * (ctr - 0.38)
        pts = [(0.50, 0.0), (0.80, 0.07), (0.94, 0.30), (0.99, 0.62), (1.0, 0.96),
               (0.985, 1.03), (0.82, 0.95), (0.62, 0.90), (hb + 0.12, 0.93),
               (hb, 0.86), (hb * 0.8, 0.70), (0.12, 0.55), (0.07, 0.44), (0.13, 0.32),
               (0.08, 0.20), (0.20, 0.05), (0.34, 0.0)]
        lowshift = 0.0
    out = []
    for i, (xn, yn) in enumerate(pts):
        jj = j[i % 16]
        xn = xn + jj[0]
        yn = yn + jj[1] * (0.5 if yn < 0.05 else 1)
        if yn > 0.75:
            yn = yn + lowshift * min(1, (yn - 0.75) / 0.1)
        x = p["cx"] + s * (p["med"] + xn * p["Lw"])
        y = p["y_apex"] + yn * p["Lh"]
        out.append((x, y))
    return smooth_closed(out, 500, s=0.0)


def extended_outline(p, side):
    """Lung including the parts hidden behind heart and below the domes."""
    s = side
    pts = [(0.5, 0.0), (0.85, 0.08), (0.98, 0.35), (1.02, 0.75), (1.0, 1.12),
           (0.6, 1.1), (0.2, 1.05), (0.02, 0.95), (0.0, 0.5), (0.05, 0.1)]
    out = []
    for xn, yn in pts:
        out.append((p["cx"] + s * (p["med"] * 0.5 + xn * p["Lw"]), p["y_apex"] + yn * p["Lh"]))
    return smooth_closed(out, 300)


# ----------------------------------------------------------------------------
# rendering of anatomy on a working grid (mm -> px via scale)
# ----------------------------------------------------------------------------
class Grid:
    def __init__(self, H, W, sp):
        self.H, self.W, self.sp = H, W, sp   # sp: mm per px of this grid

    def px(self, pts_mm):
        # pixel centre 0 at coordinate 0: x_px = x_mm/sp - 0.5
        return np.asarray(pts_mm) / self.sp - 0.5

    def coords(self):
        y = (np.arange(self.H, dtype=np.float32) + 0.5) * self.sp
        x = (np.arange(self.W, dtype=np.float32) + 0.5) * self.sp
        return x, y


def tube_profile(d, a, b, c, n=4.0):
    """Projected thickness through a hollow super-ellipse tube.
    d: distance from axis (mm), a: half width, b: half depth, c: cortex (mm).
    Returns (cortex_path, marrow_path) in mm."""
    u = np.clip(np.abs(d) / a, 0, 1)
    outer = 2 * b * np.power(np.clip(1 - u ** n, 0, 1), 1 / n)
    ai, bi = np.maximum(a - c, 0.1), np.maximum(b - c, 0.1)
    ui = np.clip(np.abs(d) / ai, 0, 1)
    inner = 2 * bi * np.power(np.clip(1 - ui ** n, 0, 1), 1 / n) * (np.abs(d) < ai)
    return outer - inner, inner


def render_curve_bone(acc, g, curve_mm, half_w, half_d, cortex, dens, n_exp=4.0):
    """Render a bone along a centre curve into acc (attenuation). Arrays
    half_w/half_d/cortex/dens given per curve point."""
    P = g.px(curve_mm)
    pad = int(np.ceil(np.max(half_w) / g.sp)) + 3
    x0 = int(max(0, np.floor(P[:, 0].min()) - pad)); x1 = int(min(g.W, np.ceil(P[:, 0].max()) + pad + 1))
    y0 = int(max(0, np.floor(P[:, 1].min()) - pad)); y1 = int(min(g.H, np.ceil(P[:, 1].max()) + pad + 1))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    # densely resample curve
    seg = np.hypot(*np.diff(P, axis=0).T)
    L = np.r_[0, np.cumsum(seg)]
    nn = max(2, int(L[-1] * 2))
    tt = np.linspace(0, L[-1], nn)
    Px = np.interp(tt, L, P[:, 0]) - x0
    Py = np.interp(tt, L, P[:, 1]) - y0
    idx = np.interp(tt, L, np.arange(len(P)))
    img = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    ix = np.round(Px).astype(int); iy = np.round(Py).astype(int)
    ok = (ix >= 0) & (ix < x1 - x0) & (iy >= 0) & (iy < y1 - y0)
    img[iy[ok], ix[ok]] = 0
    if not ok.any():
        return None
    dist, lab = cv2.distanceTransformWithLabels(img, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    # map label -> curve index
    lab_map = np.zeros(lab.max() + 1, np.float32)
    zero_pts = np.argwhere(img == 0)  # row-major order == label order
    # labels are assigned to zero pixels in scan order starting at 1
    zi = np.full(img.shape, -1.0, np.float32)
    order = np.lexsort((ix[ok], iy[ok]))
    zi[iy[ok], ix[ok]] = idx[ok]
    lab_map[1:len(zero_pts) + 1] = zi[zero_pts[:, 0], zero_pts[:, 1]]
    t = lab_map[lab]
    ti = np.clip(t, 0, len(P) - 1)
    k = np.arange(len(P))
    hw = np.interp(ti, k, half_w); hd = np.interp(ti, k, half_d)
    co = np.interp(ti, k, cortex); de = np.interp(ti, k, dens)
    d_mm = dist * g.sp
    # suppress end caps: fade where nearest point is curve endpoint beyond the end
    cort, marrow = tube_profile(d_mm, hw, hd, co, n_exp)
    att = de * (MU_BONE * cort + MU_MARROW * marrow)
    # rounded ends: reduce at ends using distance along curve
    acc[y0:y1, x0:x1] += att.astype(np.float32)
    return (y0, y1, x0, x1, (cort + marrow) > 0.3)


def rib_curves(p, rng, side):
    """Return list of (curve_mm, kind, params) for one side."""
    s = side
    out = []
    cx, ya, Lw, Lh = p["cx"], p["y_apex"], p["Lw"], p["Lh"]
    spacing = Lh / 10.2 * p["rib_space"]
    for i in range(12):
        y0 = ya - 0.02 * Lh + i * spacing * (0.9 + 0.02 * i) + rng.normal(0, 1.5)
        x_sp = cx + s * rng.uniform(14, 20)
        lat = p["med"] + Lw * (0.55 + 0.45 * min(1, (i + 1.6) / 4.5)) + rng.uniform(4, 9)
        if i == 0:
            lat = p["med"] + Lw * 0.62
        hump = (6 + 8 * min(i, 4) / 4) * p["rib_tilt"]
        drop = (16 + 10 * min(i, 6) / 6) * p["rib_tilt"]
        tau = np.linspace(0, 1, 24)
        xs = x_sp + s * (lat - abs(x_sp - cx) + p["med"] * 0) * tau
        ys = y0 - hump * 4 * tau * (1 - tau) * 0.6 + (drop - 0.0) * tau ** 2.2 - hump * 0.3 * tau
        post = np.stack([xs, ys], 1)
        # lateral turn + anterior rib going medially and downward
        xl, yl = xs[-1], ys[-1]
        ant_end_x = cx + s * (p["med"] + Lw * rng.uniform(0.25, 0.45) * (1 if i > 0 else 0.3))
        ant_drop = (Lh * 0.2 + 3.0 * i) * rng.uniform(0.9, 1.15) * (1.0 if i > 0 else 0.5)
        ctrl = [(xl, yl), (xl + s * 4, yl + 0.25 * ant_drop + 6),
                (xl - s * 0.25 * abs(xl - ant_end_x), yl + 0.55 * ant_drop + 10),
                (ant_end_x, yl + ant_drop + 10)]
        ant = smooth_open(ctrl, 30)
        out.append((post, ant, i))
    return out


def render_ribs(acc, g, p, rng):
    bone = np.zeros((g.H, g.W), np.uint8)
    bd = p["bone_dens"]
    for side in (-1, 1):
        for post, ant, i in rib_curves(p, rng, side):
            if i >= 10:   # floating ribs: short posterior stubs only
                post = post[:int(len(post) * 0.6)]
                ant = ant[:0]
            curve = np.vstack([post, ant[1:]]) if len(ant) > 1 else post
            n1, n = len(post), len(curve)
            t = np.zeros(n)
            t[:n1] = np.linspace(0, 1, n1)
            hw = np.empty(n); de = np.empty(n); hd = np.empty(n); co = np.empty(n)
            wscale = p["rib_w"] * (0.8 if i == 0 else 1.0)
            hw[:n1] = (3.9 + 0.9 * t[:n1] + 0.15 * min(i, 6)) * wscale
            hd[:n1] = 2.8
            co[:n1] = 1.0
            de[:n1] = bd * (0.55 + 0.45 * np.clip(t[:n1] / 0.12, 0, 1)) * (1 + 0.35 * np.exp(-((1 - t[:n1]) / 0.1) ** 2))
            if n > n1:
                t2 = np.linspace(0, 1, n - n1 + 1)[1:]
                hw[n1:] = (5.0 + 1.2 * t2 + 0.15 * min(i, 6)) * wscale
                hd[n1:] = 2.2
                co[n1:] = 0.7
                fade = np.clip((1 - t2) / 0.2, 0, 1)
                lowfade = 1.0 if i < 6 else max(0.15, 1 - 0.2 * (i - 5))
                de[n1:] = bd * (0.62 - 0.12 * t2) * fade * lowfade * (1 + 0.3 * np.exp(-(t2 / 0.12) ** 2))
            if i >= 10:
                de *= np.clip((1 - t) / 0.3, 0, 1) * 0.8
            r = render_curve_bone(acc, g, curve, hw, hd, co, de + 1e-6)
            if r: bone[r[0]:r[1], r[2]:r[3]] |= (r[4] & (de.max() > 0.3)).astype(np.uint8)
    # clavicles
    cx, ya, Lw = p["cx"], p["y_apex"], p["Lw"]
    for side in (-1, 1):
        s = side
        yc = ya + 18 + p["clav_y"]
        pts = [(cx + s * 12, yc + 8), (cx + s * 0.25 * Lw, yc + 2),
               (cx + s * 0.55 * Lw, yc - 3 - 20 * p["clav_tilt"]),
               (cx + s * 0.85 * Lw, yc - 6 - 45 * p["clav_tilt"]),
               (cx + s * 1.15 * Lw, yc - 16 - 60 * p["clav_tilt"])]
        c = smooth_open(pts, 40)
        n = len(c)
        t = np.linspace(0, 1, n)
        hw = 7.5 - 2.0 * np.sin(np.pi * t) + 2.0 * t ** 3
        r = render_curve_bone(acc, g, c, hw, np.full(n, 5.0), np.full(n, 1.4), np.full(n, bd * 1.1))
        if r: bone[r[0]:r[1], r[2]:r[3]] |= r[4].astype(np.uint8)
    return bone


def render_spine(acc, g, p, rng):
    x, y = g.coords()
    cx, ya, Lh = p["cx"], p["y_apex"], p["Lh"]
    X, Y = np.meshgrid(x, y)
    # vertebral bodies along midline
    vh = Lh / 10.5
    ytop = ya - 2 * vh
    dx = (X - cx)
    hw = 20 + 6 * np.clip((Y - ya) / Lh, 0, 1.2)
    col = np.clip(1 - (dx / hw) ** 2, 0, 1) ** 0.5
    k = (Y - ytop) / vh
    frac = k - np.floor(k)
    disc = np.clip(np.minimum(frac, 1 - frac) / 0.09, 0, 1)
    endplate = 1 + 0.5 * np.exp(-(np.minimum(frac, 1 - frac) - 0.09) ** 2 / 0.0015)
    body = col * disc * endplate * (Y > ytop)
    acc += (p["bone_dens"] * 0.13 * body).astype(np.float32)
    # pedicles (ovals) and spinous process
    ped = np.zeros_like(X)
    for sgn in (-1, 1):
        ex = (X - (cx + sgn * hw * 0.75)) / 5.0
        ey = ((frac - 0.4) * vh) / 7.0
        r2 = ex ** 2 + ey ** 2
        ped += np.clip(1 - r2, 0, 1) ** 0.5 * (1 + 1.2 * np.exp(-((np.sqrt(r2) - 0.85) / 0.15) ** 2))
    sp_ = np.clip(1 - ((X - cx) / 4.0) ** 2 - (((frac - 0.75) * vh) / 6.0) ** 2, 0, 1) ** 0.5
    acc += (p["bone_dens"] * (0.05 * ped + 0.05 * sp_) * (Y > ytop)).astype(np.float32)


def render_vessels(g, p, lung_ext_px, rng):
    """Branching vessel trees from both hila; returns attenuation layer."""
    layers = [np.zeros((g.H, g.W), np.float32) for _ in range(4)]
    bounds = [0, 2.0, 3.8, 6.5, 99]
    dots = np.zeros((g.H, g.W), np.float32)
    segs = []
    cx, ya, Lw, Lh = p["cx"], p["y_apex"], p["Lw"], p["Lh"]
    inside = lung_ext_px

    def inl(x, y):
        c = int(x / g.sp); r = int(y / g.sp)
        return 0 <= r < g.H and 0 <= c < g.W and inside[r, c] > 0

    def grow(x, y, ang, d, depth):
        stack = [(x, y, ang, d, depth)]
        while stack:
            x, y, ang, d, depth = stack.pop()
            if d < 0.7 or depth > 13:
                continue
            L = d * rng.uniform(2.5, 5) + 3
            nsub = 3
            px, py = x, y
            for _ in range(nsub):
                ang += rng.normal(0, 0.16)
                nx = px + math.cos(ang) * L / nsub
                ny = py + math.sin(ang) * L / nsub
                if not inl(nx, ny):
                    break
                segs.append((px, py, nx, ny, d))
                px, py = nx, ny
            else:
                if rng.random() < 0.09 * (d > 1.6):
                    # vessel turning towards the beam: end-on dot
                    segs.append(("dot", px + math.cos(ang) * d, py + math.sin(ang) * d, d * 0.95,
                                 rng.uniform(8, 25)))
                r = rng.uniform(0.55, 0.8)
                d1 = d * (r ** 0.33) * 0.92
                d2 = d * ((1 - r) ** 0.33) * 0.92
                a1 = rng.uniform(0.25, 0.55)
                a2 = rng.uniform(0.35, 0.8)
                sgn = 1 if rng.random() < 0.5 else -1
                stack.append((px, py, ang + sgn * a1 * (1 - r), d1, depth + 1))
                stack.append((px, py, ang - sgn * a2 * r, d2, depth + 1))
                continue
            # stopped at the boundary: nothing more

    for s in (-1, 1):
        hx = cx + s * (p["med"] + Lw * rng.uniform(0.18, 0.28))
        hy = ya + Lh * rng.uniform(0.40, 0.48)
        # angles measured in image coords (y down); lateral = s*0
        roots = [(-100, 9), (-70, 7), (-30, 6.5), (10, 7), (45, 8), (75, 9), (100, 7), (130, 5)]
        for deg, d in roots:
            a = math.radians(deg + rng.normal(0, 8))
            ang = math.atan2(math.sin(a), s * math.cos(a))
            grow(hx, hy, ang, d * rng.uniform(0.85, 1.15), 0)
    for sg in segs:
        if sg[0] == "dot":
            _, x, y, d, L = sg
            c = (int(round((x / g.sp - 0.5) * 8)), int(round((y / g.sp - 0.5) * 8)))
            rr = max(1, int(round(d / 2 / g.sp * 8)))
            tmp = np.zeros((1, 1), np.float32)
            cv2.circle(dots, c, rr, float(MU_T * LUNG_AIR * L), -1, cv2.LINE_AA, 3)
            continue
        x0, y0, x1, y1, d = sg
        k = int(np.searchsorted(bounds, d) - 1)
        val = float(MU_T * LUNG_AIR * d * math.pi / 4 * 4.0)
        th = max(1, int(round(d / g.sp)))
        cv2.line(layers[k], (int(round((x0 / g.sp - 0.5) * 8)), int(round((y0 / g.sp - 0.5) * 8))),
                 (int(round((x1 / g.sp - 0.5) * 8)), int(round((y1 / g.sp - 0.5) * 8))),
                 val, th, cv2.LINE_AA, 3)
    out = np.zeros((g.H, g.W), np.float32)
    for k in range(4):
        dm = [1.4, 2.9, 5.0, 8.0][k]
        out += gblur(layers[k], 0.22 * dm / g.sp)
    out += gblur(dots, 0.5 / g.sp)
    return out


def texture(g, rng, amp):
    out = np.zeros((g.H, g.W), np.float32)
    for sig_mm, w in ((0.8, 0.5), (1.6, 0.8), (3.2, 1.0), (6.4, 1.0), (12.8, 0.6), (25, 0.4)):
        f = max(1, int(sig_mm / g.sp / 2))
        h, w_ = g.H // f + 2, g.W // f + 2
        n = rng.standard_normal((h, w_)).astype(np.float32)
        n = gblur(n, sig_mm / g.sp / f)
        n /= (n.std() + 1e-9)
        n = cv2.resize(n, (w_ * f, h * f), interpolation=cv2.INTER_CUBIC)[:g.H, :g.W]
        out += w * n
    return out * (0.0045 * amp)


def render_anatomy(p, geo, with_ribs=True):
    """Attenuation map (line integral) on a half-resolution grid plus masks."""
    f = 2
    Hh, Wh = (geo["H"] + f - 1) // f, (geo["W"] + f - 1) // f
    g = Grid(Hh, Wh, geo["sp"] * f)
    rng = np.random.default_rng(p["rib_seed"])
    x, y = g.coords()
    X, Y = np.meshgrid(x, y)
    cx, ya, Lw, Lh = p["cx"], p["y_apex"], p["Lw"], p["Lh"]
    # body outline half-width per row
    chest_hw = p["med"] + Lw + p["soft"] + 8
    ys = np.array([ya - 200, ya - 55, ya - 25, ya + 10, ya + 60, ya + Lh, ya + Lh + 200])
    hws = np.array([62, 64, chest_hw + 30 + 25 * p["habitus"], chest_hw + 20, chest_hw + 3,
                    chest_hw + 6 * p["habitus"], chest_hw + 25 * p["habitus"]])
    a = np.interp(y, ys, hws).astype(np.float32)
    a = cv2.GaussianBlur(a.reshape(-1, 1), (0, 0), 20 / g.sp).ravel()
    dp = np.interp(y, [ya - 200, ya - 40, ya + 20, ya + Lh], [110, 130, p["depth"] * 0.85, p["depth"]])
    u = (X - cx) / a[:, None]
    body = dp[:, None] * np.sqrt(np.clip(1 - u ** 2, 0, 1))
    A = MU_T * body
    # lungs
    vis = np.zeros((g.H, g.W), np.float32)
    ext = np.zeros((g.H, g.W), np.float32)
    outlines = {}
    for s in (-1, 1):
        ol = lung_outline(p, s)
        outlines[s] = ol
        vis = np.maximum(vis, fill_poly(vis.shape, g.px(ol)))
        ext = np.maximum(ext, fill_poly(ext.shape, g.px(extended_outline(p, s))))
    ext = np.maximum(ext, vis)
    vis_u8 = (vis > 0.5).astype(np.uint8)
    dvis = cv2.distanceTransform(vis_u8, cv2.DIST_L2, 5) * g.sp
    dext = cv2.distanceTransform((ext > 0.5).astype(np.uint8), cv2.DIST_L2, 5) * g.sp
    vert = np.clip((Y - ya) / (0.55 * Lh), 0, 1) ** 0.6 * 0.65 + 0.35
    air_vis = p["air_max"] * vert * (1 - np.exp(-dvis / 16.0)) * np.clip(vis * 1.5, 0, 1)
    air_vis = np.maximum(air_vis, vis * 0.0)
    air_ext = 0.2 * p["air_max"] * (1 - np.exp(-dext / 25.0)) * np.clip(vert, 0, 1)
    air = np.maximum(air_vis, air_ext)
    air = gblur(air.astype(np.float32), 1.2 / g.sp)
    A = A - MU_T * LUNG_AIR * air
    # trachea & main bronchi
    car_y = ya + 0.33 * Lh
    tw = rng.uniform(7, 10)
    tx = cx + rng.normal(0, 2) + 4 * np.clip((Y - car_y) / 80, -1, 0)
    tr = np.clip(1 - ((X - tx) / tw) ** 2, 0, 1) ** 0.5 * (Y < car_y) * (Y > ya - 120)
    for s in (-1, 1):
        bx = cx + s * (Y - car_y) * 0.75
        br = np.clip(1 - ((X - bx) / (tw * 0.8)) ** 2, 0, 1) ** 0.5 * (Y >= car_y) * (Y < car_y + 30)
        tr = np.maximum(tr, br)
    tr = gblur(tr.astype(np.float32), 1.5 / g.sp)
    A -= MU_T * 16 * tr
    # stomach bubble
    if p["stomach"]:
        sx = cx + Lw * rng.uniform(0.45, 0.75) + p["med"]
        sy = ya + Lh * 1.0 + rng.uniform(15, 35)
        r = ((X - sx) / rng.uniform(22, 40)) ** 2 + ((Y - sy) / rng.uniform(14, 24)) ** 2
        gb = np.clip(1 - r, 0, 1) ** 0.5 * (Y > sy - rng.uniform(5, 12))
        A -= MU_T * rng.uniform(20, 45) * gblur(gb.astype(np.float32), 1.0 / g.sp)
    # breast shadows
    if p["breast"]:
        for s in (-1, 1):
            bx = cx + s * (p["med"] + 0.6 * Lw)
            by = ya + 0.78 * Lh
            rx, ry = 0.55 * Lw + 25, 0.28 * Lh
            r2 = ((X - bx) / rx) ** 2 + ((Y - by) / ry) ** 2
            bs = np.sqrt(np.clip(1 - r2, 0, 1)) * np.clip((Y - (by - 0.9 * ry)) / (1.2 * ry), 0, 1) ** 1.5
            A += MU_T * p["breast_h"] * bs.astype(np.float32)
    # lung texture and vessels (only in lungs)
    trng = np.random.default_rng(p["tex_seed"])
    lungw = gblur(ext, 3 / g.sp)
    A += texture(g, trng, p["tex_amp"]) * np.clip(air / p["air_max"], 0, 1) * 2.0
    vrng = np.random.default_rng(p["vessel_seed"])
    ves = render_vessels(g, p, (ext > 0.5).astype(np.uint8), vrng) * p["vessel_amp"]
    A += ves * lungw * np.clip(air / p["air_max"] * 1.6, 0.15, 1)
    # spine & ribs
    bone_acc = np.zeros((g.H, g.W), np.float32)
    render_spine(bone_acc, g, p, rng)
    bone = render_ribs(bone_acc, g, p, rng)
    # humeral heads / scapular edges (soft lateral plates)
    for s in (-1, 1):
        hx = cx + s * (p["med"] + Lw + p["soft"] + rng.uniform(10, 30))
        hy = ya + rng.uniform(-5, 25)
        r2 = ((X - hx) / 26) ** 2 + ((Y - hy) / 28) ** 2
        hh = np.clip(1 - r2, 0, 1) ** 0.5
        shell = np.exp(-((np.sqrt(r2) - 0.95) / 0.06) ** 2) * (r2 < 1.1)
        bone_acc += p["bone_dens"] * (0.7 * hh + 0.5 * shell).astype(np.float32)
        # scapula: a broad plate, medial border curving over upper lateral lung
        sxm = cx + s * (p["med"] + Lw * (0.72 + 0.2 * p["scapula"]))
        bord = sxm + s * (Y - ya) * 0.18 + s * 0.0004 * (Y - ya - 0.3 * Lh) ** 2
        inside = (s * (X - bord) > 0) & (Y > ya - 10) & (Y < ya + 0.55 * Lh)
        edge = np.exp(-((X - bord) / 2.5) ** 2) * ((Y > ya) & (Y < ya + 0.5 * Lh))
        sc = inside * 0.12 + 0.18 * edge
        bone_acc += gblur((p["bone_dens"] * sc).astype(np.float32), 2 / g.sp)
    A += bone_acc
    return dict(A=A.astype(np.float32), vis=vis, bone=bone, g=g, air=air)


# ----------------------------------------------------------------------------
# nodules
# ----------------------------------------------------------------------------
def make_nodule_shape(rng, lobulated):
    """Return list of (dx, dy, r) spheres in unit coordinates + measured
    diameter scale, centroid (unit coords)."""
    sph = [(0.0, 0.0, 1.0)]
    if lobulated:
        nb = int(rng.integers(3, 7))
        for _ in range(nb):
            ang = rng.uniform(0, 2 * np.pi)
            r = rng.uniform(0.35, 0.65)
            dist = 1.0 - r * rng.uniform(0.15, 0.5)
            sph.append((dist * math.cos(ang), dist * math.sin(ang), r))
    # measure on a fine grid
    n = 241
    lin = np.linspace(-2, 2, n)
    X, Y = np.meshgrid(lin, lin)
    T = np.zeros_like(X)
    for dx, dy, r in sph:
        T = np.maximum(T, np.sqrt(np.clip(r * r - (X - dx) ** 2 - (Y - dy) ** 2, 0, None)))
    m = T > 0
    cyx = np.array([Y[m].mean(), X[m].mean()])
    ys, xs = np.nonzero(m)
    pts = np.stack([lin[xs], lin[ys]], 1).astype(np.float32)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    dd = ((hull[:, None, :] - hull[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(np.argmax(dd), dd.shape)
    v = hull[j] - hull[i]
    L = math.sqrt(dd[i, j]) + (lin[1] - lin[0])
    v = v / (np.linalg.norm(v) + 1e-12)
    w = np.array([-v[1], v[0]])
    proj = hull @ w
    Wd = proj.max() - proj.min() + (lin[1] - lin[0])
    meas = 0.5 * (L + Wd)
    rmax = max(math.hypot(dx - cyx[1], dy - cyx[0]) + r for dx, dy, r in sph)
    return dict(sph=sph, meas=meas, cx=float(cyx[1]), cy=float(cyx[0]), rmax=rmax)


def render_nodule(D_mm, shape, rot, xc, yc, sp, H, W, dens):
    """Attenuation patch for nodule of reported diameter D_mm centred (outline
    centroid) at pixel (xc, yc). Returns (slices, patch, disc-mask)."""
    k = D_mm / shape["meas"]            # mm per unit
    rpx = shape["rmax"] * k / sp + 3
    x0 = max(0, int(math.floor(xc - rpx))); x1 = min(W, int(math.ceil(xc + rpx)) + 1)
    y0 = max(0, int(math.floor(yc - rpx))); y1 = min(H, int(math.ceil(yc + rpx)) + 1)
    ss = 3  # supersampling
    xs = (np.arange(x0 * ss, x1 * ss) + 0.5) / ss - 0.5
    ys = (np.arange(y0 * ss, y1 * ss) + 0.5) / ss - 0.5
    Xp, Yp = np.meshgrid(xs, ys)
    # to unit coords (mm then /k), relative to centroid, rotated
    ux = (Xp - xc) * sp / k
    uy = (Yp - yc) * sp / k
    c, s_ = math.cos(-rot), math.sin(-rot)
    rx = c * ux - s_ * uy + shape["cx"]
    ry = s_ * ux + c * uy + shape["cy"]
    T = np.zeros_like(rx)
    for dx, dy, r in shape["sph"]:
        T = np.maximum(T, np.sqrt(np.clip(r * r - (rx - dx) ** 2 - (ry - dy) ** 2, 0, None)))
    T = 2 * T * k  # chord length mm
    T = T.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
    att = (MU_T * LUNG_AIR * dens * T).astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), att, T > 0.25 * 0 + 1e-6


# ----------------------------------------------------------------------------
# imaging chain
# ----------------------------------------------------------------------------
def draw_exposure(rng):
    e = {}
    e["N0"] = loguniform(rng, 1.2e4, 9e4)          # quanta / pixel unattenuated
    e["spr"] = rng.uniform(0.25, 0.9)
    e["scatter_sig"] = rng.uniform(25, 60)
    e["mtf_sig"] = rng.uniform(0.45, 0.9)          # px
    e["glare_w"] = rng.uniform(0.02, 0.08)
    e["glare_sig"] = rng.uniform(3, 8)             # mm
    e["elec"] = rng.uniform(1.0, 6.0)
    e["kv_hard"] = rng.uniform(0.85, 1.1)          # effective energy factor
    e["heel"] = rng.uniform(-0.08, 0.08)
    e["usm_gain"] = rng.uniform(0.0, 1.6)
    e["usm_sig"] = rng.uniform(1.5, 6.0)           # mm
    e["drc"] = rng.uniform(0.0, 0.45)
    e["drc_sig"] = rng.uniform(15, 45)             # mm
    e["gamma"] = rng.uniform(1.0, 1.6)
    e["sig_k"] = rng.uniform(0.0, 1.0)             # sigmoid blend
    e["lo_pct"] = rng.uniform(0.5, 3.0)
    e["hi_pct"] = rng.uniform(98.5, 99.9)
    e["out_lo"] = rng.uniform(0, 250)
    e["out_hi"] = rng.uniform(3600, 4095)
    e["collim"] = rng.random() < 0.25
    e["col_m"] = rng.uniform(10, 40, size=4)
    return e


def imaging_chain(A_list, e, rng, sp, lung_mask):
    """A_list: [A_with, A_without]. Returns noisy final, noise-free with and
    without, noise sigma."""
    H, W = A_list[0].shape
    yy = np.linspace(-1, 1, H, dtype=np.float32)[:, None]
    heel = (1 + e["heel"] * yy).astype(np.float32)
    N0 = e["N0"]
    outs_lin = []
    for A in A_list:
        prim = N0 * heel * np.exp(-A * e["kv_hard"])
        scat = e["spr"] * 0.35 * gblur(prim, e["scatter_sig"] / sp)
        outs_lin.append((prim + scat).astype(np.float32))
    z = rng.standard_normal((H, W), dtype=np.float32)
    ze = rng.standard_normal((H, W), dtype=np.float32)

    def detector(S, noisy):
        if noisy:
            S = S + np.sqrt(np.maximum(S, 0)) * z
        S = cv2.GaussianBlur(S, (0, 0), e["mtf_sig"], borderType=cv2.BORDER_REPLICATE)
        S = (1 - e["glare_w"]) * S + e["glare_w"] * gblur(S, e["glare_sig"] / sp)
        if noisy:
            S = S + e["elec"] * ze
        return -np.log(np.maximum(S, 0.5) / N0)

    P_noisy = detector(outs_lin[0], True)
    P_with = detector(outs_lin[0], False)
    P_wo = detector(outs_lin[1], False)

    def process(P):
        Q = P
        if e["drc"] > 0:
            Q = Q - e["drc"] * gblur(P, e["drc_sig"] / sp)
        if e["usm_gain"] > 0:
            Q = Q + e["usm_gain"] * (Q - gblur(Q, e["usm_sig"] / sp))
        return Q

    Qs = [process(P) for P in (P_noisy, P_with, P_wo)]
    ref = Qs[2][::7, ::7]
    lo = float(np.percentile(ref, e["lo_pct"]))
    hi = float(np.percentile(ref, e["hi_pct"]))
    res = []
    for Q in Qs:
        t = np.clip((Q - lo) / (hi - lo), -0.05, 1.05)
        t = np.clip(t, 0, 1) ** e["gamma"]
        sg = 1 / (1 + np.exp(-(t - 0.5) * 6))
        sg = (sg - 1 / (1 + math.exp(3))) / (1 / (1 + math.exp(-3)) - 1 / (1 + math.exp(3)))
        t = (1 - e["sig_k"]) * t + e["sig_k"] * sg
        v = e["out_lo"] + (e["out_hi"] - e["out_lo"]) * t
        res.append(v.astype(np.float32))
    if e["collim"]:
        m = e["col_m"] / sp
        cm = np.zeros((H, W), np.float32)
        cm[:int(m[0]), :] = 1; cm[H - int(m[1]):, :] = 1
        cm[:, :int(m[2])] = 1; cm[:, W - int(m[3]):] = 1
        cm = gblur(cm, 1.5)
        res = [r * (1 - cm) + cm * (e["out_hi"] * 0.97) for r in res]
    noisy = np.clip(np.round(res[0]), 0, 4095)
    nf_with = np.clip(res[1], 0, 4095)
    nf_wo = np.clip(res[2], 0, 4095)
    sigma = float(np.std((noisy - nf_with)[lung_mask]))
    return noisy.astype(np.uint16), nf_with, nf_wo, sigma


# ----------------------------------------------------------------------------
# one exam
# ----------------------------------------------------------------------------
def upsample(A, geo):
    H, W = geo["H"], geo["W"]
    Hh, Wh = A.shape
    up = cv2.resize(A, (Wh * 2, Hh * 2), interpolation=cv2.INTER_CUBIC)
    return up[:H, :W]


def place_nodules(rng, n, mask_full, bone_full, sp, geo, need_d=None):
    """Choose nodule centres with the whole disc inside the mask."""
    dist = cv2.distanceTransform(mask_full, cv2.DIST_L2, 5)
    out = []
    for i in range(n):
        for attempt in range(60):
            D = need_d[i] if need_d is not None else loguniform(rng, 5, 30)
            lob = rng.random() < 0.3
            shape = make_nodule_shape(rng, lob)
            rmax_px = shape["rmax"] * D / shape["meas"] / sp
            if need_d is not None:
                rmax_px *= 1.0
            cand = dist > rmax_px + 3
            # drop regions too close to previous nodules
            ys, xs = np.nonzero(cand[::4, ::4])
            if len(ys) == 0:
                if need_d is None:
                    continue
                need_d[i] *= 0.9
                continue
            k = int(rng.integers(len(ys)))
            yc = ys[k] * 4 + rng.uniform(-1.5, 1.5)
            xc = xs[k] * 4 + rng.uniform(-1.5, 1.5)
            if dist[int(round(yc)), int(round(xc))] <= rmax_px + 2:
                continue
            okk = True
            for o in out:
                if math.hypot(o["x"] - xc, o["y"] - yc) < (o["rpx"] + rmax_px) + 8 / sp:
                    okk = False
            if not okk:
                continue
            out.append(dict(x=float(xc), y=float(yc), D=float(D), lob=lob, shape=shape,
                            rot=float(rng.uniform(0, 2 * np.pi)), rpx=rmax_px,
                            dens=float(loguniform(rng, 0.22, 1.0))))
            break
    return out


def render_exam(anat_full, mask_full, bone_full, nods, geo, e, rng):
    """anat_full: attenuation (full res, in this exam's frame). nods: list of
    dicts with x, y (px), Dproj (mm drawn), shape, rot, dens."""
    A_wo = anat_full
    A_w = anat_full.copy()
    patches = []
    for nd in nods:
        sl, att, disc = render_nodule(nd["Dproj"], nd["shape"], nd["rot"], nd["x"], nd["y"],
                                      geo["sp"], geo["H"], geo["W"], nd["dens"])
        A_w[sl] += att
        patches.append((sl, disc))
    lung = mask_full > 0
    noisy, nf_w, nf_wo, sigma = imaging_chain([A_w, A_wo], e, rng, geo["sp"], lung)
    res = []
    for nd, (sl, disc) in zip(nods, patches):
        diff = (nf_w[sl] - nf_wo[sl])[disc]
        contrast = float(diff.max()) if diff.size else 0.0
        bsub = bone_full[sl][disc]
        frac = float(bsub.mean()) if bsub.size else 0.0
        ci, cj = int(round(nd["y"])), int(round(nd["x"]))
        on_rib = bool(bone_full[ci, cj] > 0) or frac >= 0.3
        res.append(dict(contrast=round(contrast, 2), on_rib=on_rib))
    return noisy, sigma, res


def anatomy_full(p, geo):
    an = render_anatomy(p, geo)
    A = upsample(an["A"], geo)
    vis = upsample(an["vis"], geo)
    bone = cv2.resize(an["bone"], (an["bone"].shape[1] * 2, an["bone"].shape[0] * 2),
                      interpolation=cv2.INTER_NEAREST)[:geo["H"], :geo["W"]]
    mask = ((vis > 0.5) * 255).astype(np.uint8)
    return A, mask, bone


def seq_rng(seed, *keys):
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def random_date(rng, lo=dt.date(2012, 1, 1), hi=dt.date(2025, 12, 31)):
    return lo + dt.timedelta(days=int(rng.integers(0, (hi - lo).days + 1)))


# ----------------------------------------------------------------------------
# single mode task
# ----------------------------------------------------------------------------
def single_task(args):
    seed, idx, out = args
    cv2.setNumThreads(1)
    rng = seq_rng(seed, 1, idx)
    geo = draw_geometry(rng)
    p = draw_patient(rng, geo)
    e = draw_exposure(rng)
    A, mask, bone = anatomy_full(p, geo)
    u = rng.random()
    n = 0 if u < 0.15 else int(rng.choice([1, 2, 3, 4], p=[0.35, 0.3, 0.2, 0.15]))
    nods = place_nodules(rng, n, mask, bone, geo["sp"], geo)
    for nd in nods:
        nd["Dproj"] = nd["D"]
    noisy, sigma, res = render_exam(A, mask, bone, nods, geo, e, seq_rng(seed, 2, idx))
    name = "g%04d" % idx
    write_bytes(os.path.join(out, "images", name + ".png"), encode_png16(noisy, geo["ppm"]))
    write_mask(os.path.join(out, ".masks", name + "_mask.png"), mask)
    nl = []
    for k, (nd, r) in enumerate(zip(nods, res)):
        nl.append(dict(id=k + 1, x=round(nd["x"], 3), y=round(nd["y"], 3),
                       diameter_mm=round(nd["D"], 3), on_rib=r["on_rib"], lobulated=nd["lob"],
                       contrast=r["contrast"], cnr=round(r["contrast"] / max(sigma, 1e-6), 3)))
    return dict(path="images/%s.png" % name, patient_id="PG-S-%04d" % idx,
                study_date=random_date(rng).isoformat(), width=geo["W"], height=geo["H"],
                pixel_spacing_mm=geo["sp"], lung_mask=".masks/%s_mask.png" % name,
                noise_sigma=round(sigma, 4), nodules=nl)


# ----------------------------------------------------------------------------
# series mode task
# ----------------------------------------------------------------------------
def fwd_matrix(geo, tx_mm, ty_mm, rot_deg, scale):
    """Reference (col,row) -> exam (col,row): p' = s R (p - c) + c + t."""
    c = np.array([(geo["W"] - 1) / 2, (geo["H"] - 1) / 2])
    th = math.radians(rot_deg)
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]]) * scale
    t = np.array([tx_mm, ty_mm]) / geo["sp"]
    b = c + t - R @ c
    return np.hstack([R, b[:, None]])


def inv_affine(M):
    R = M[:, :2]; b = M[:, 2]
    Ri = np.linalg.inv(R)
    return np.hstack([Ri, (-Ri @ b)[:, None]])


def series_task(args):
    seed, pidx, out = args
    cv2.setNumThreads(1)
    rng = seq_rng(seed, 3, pidx)
    geo = draw_geometry(rng)
    p = draw_patient(rng, geo)
    nex = int(rng.integers(2, 6))
    gaps = [int(rng.integers(30, 241)) for _ in range(nex - 1)]
    span = sum(gaps)
    first = random_date(rng, dt.date(2012, 1, 1), dt.date(2025, 12, 31) - dt.timedelta(days=span))
    dates = [first]
    for gdays in gaps:
        dates.append(dates[-1] + dt.timedelta(days=gdays))
    tdays = [(d - first).days for d in dates]
    A_ref, mask_ref, bone_ref = anatomy_full(p, geo)
    # nodules
    n = int(rng.choice([0, 1, 2, 3, 4], p=[0.08, 0.3, 0.3, 0.2, 0.12]))
    specs = []
    for k in range(n):
        u = rng.random()
        status = "growing" if u < 0.45 else "stable" if u < 0.78 else "shrinking" if u < 0.9 else "new"
        ref_day = 0
        vdt = None
        if status == "growing":
            vmin = max(40.0, span / (3 * math.log2(29.0 / 5.5)) * 1.02) if span > 0 else 40.0
            vdt = loguniform(rng, vmin, 800) if vmin < 800 else 800.0
            g = 2 ** (span / (3 * vdt))
            D0 = loguniform(rng, 5.2, max(5.3, 29.5 / g))
        elif status == "shrinking":
            vmin = max(40.0, span / (3 * math.log2(29.0 / 5.5)) * 1.02) if span > 0 else 40.0
            vdt = -(loguniform(rng, vmin, 800) if vmin < 800 else 800.0)
            g = 2 ** (span / (3 * -vdt))
            D0 = loguniform(rng, min(29.0, 5.5 * g), 29.5)
        elif status == "stable":
            D0 = loguniform(rng, 5, 30)
        else:
            D0 = loguniform(rng, 5, 30)
            k_ex = int(rng.integers(1, nex))
            lo_d = tdays[k_ex - 1] + 1
            ref_day = int(rng.integers(lo_d, tdays[k_ex] + 1))
        def diam(t, D0=D0, vdt=vdt, ref_day=ref_day, status=status):
            if status == "new":
                return D0 if t >= ref_day else None
            if vdt is None:
                return D0
            return D0 * 2 ** ((t - ref_day) / (3 * vdt))
        specs.append(dict(status=status, vdt=vdt, D0=D0, ref_day=ref_day, diam=diam))
    maxd = [max(sp_["diam"](t) or 0 for t in tdays) * 1.035 for sp_ in specs]
    nods = place_nodules(rng, n, mask_ref, bone_ref, geo["sp"], geo, need_d=list(maxd))
    # if clearance forced a smaller size, rescale D0 accordingly
    for sp_, nd, md in zip(specs, nods, maxd):
        f = nd["D"] / md
        if f < 0.999:
            sp_["D0"] *= f
            old = sp_["diam"]
            sp_["diam"] = (lambda t, old=old, f=f: (None if old(t) is None else old(t) * f))
    specs = specs[:len(nods)]
    images = []
    for ei, (d, t) in enumerate(zip(dates, tdays)):
        erng = seq_rng(seed, 4, pidx, ei)
        e = draw_exposure(erng)
        if ei == 0:
            tx = ty = rot = 0.0; sc = 1.0
        else:
            tx, ty = erng.uniform(-12, 12, size=2)
            rot = erng.uniform(-3, 3); sc = erng.uniform(0.97, 1.03)
        M = fwd_matrix(geo, tx, ty, rot, sc)       # ref -> exam
        Minv = inv_affine(M)                        # exam -> ref
        if ei == 0:
            A, mask, bone = A_ref, mask_ref, bone_ref
        else:
            A = cv2.warpAffine(A_ref, M, (geo["W"], geo["H"]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            mask = cv2.warpAffine(mask_ref, M, (geo["W"], geo["H"]), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            mask = ((mask > 127) * 255).astype(np.uint8)
            bone = cv2.warpAffine(bone_ref, M, (geo["W"], geo["H"]), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        present = []
        for k, (sp_, nd) in enumerate(zip(specs, nods)):
            D = sp_["diam"](t)
            if D is None:
                continue
            xe, ye = M @ np.array([nd["x"], nd["y"], 1.0])
            present.append(dict(id=k + 1, x=float(xe), y=float(ye), D=float(D), Dproj=float(D * sc),
                                shape=nd["shape"], rot=nd["rot"] + math.radians(rot), dens=nd["dens"],
                                lob=nd["lob"], spec=sp_))
        noisy, sigma, res = render_exam(A, mask, bone, present, geo, e, seq_rng(seed, 5, pidx, ei))
        pid = "PG-%04d" % pidx
        ds = d.isoformat()
        write_bytes(os.path.join(out, pid, ds, "pa.png"), encode_png16(noisy, geo["ppm"]))
        write_mask(os.path.join(out, ".masks", pid, ds, "pa_mask.png"), mask)
        nl = []
        for nd, r in zip(present, res):
            sp_ = nd["spec"]
            nl.append(dict(id=nd["id"], x=round(nd["x"], 3), y=round(nd["y"], 3),
                           diameter_mm=round(nd["D"], 3), projected_diameter_mm=round(nd["Dproj"], 3),
                           on_rib=r["on_rib"], lobulated=nd["lob"], contrast=r["contrast"],
                           cnr=round(r["contrast"] / max(sigma, 1e-6), 3), status=sp_["status"],
                           vdt_days=(round(sp_["vdt"], 1) if sp_["vdt"] is not None else None)))
        images.append(dict(path="%s/%s/pa.png" % (pid, ds), patient_id=pid, study_date=ds,
                           width=geo["W"], height=geo["H"], pixel_spacing_mm=geo["sp"],
                           lung_mask=".masks/%s/%s/pa_mask.png" % (pid, ds),
                           noise_sigma=round(sigma, 4), nodules=nl,
                           transform_to_reference=dict(
                               tx_mm=round(float(tx), 4), ty_mm=round(float(ty), 4),
                               rotation_deg=round(float(rot), 4), scale=round(float(sc), 6),
                               reference=images[0]["path"] if images else "%s/%s/pa.png" % (pid, ds),
                               pixel_affine=[[float(v) for v in row] for row in Minv])))
    pinfo = dict(patient_id="PG-%04d" % pidx, exams=[d.isoformat() for d in dates],
                 nodules=[dict(id=k + 1, status=sp_["status"],
                               vdt_days=(round(sp_["vdt"], 1) if sp_["vdt"] is not None else None),
                               d0_mm=round(sp_["diam"](sp_["ref_day"]), 3),
                               d0_date=(first + dt.timedelta(days=sp_["ref_day"])).isoformat(),
                               lobulated=nd["lob"])
                          for k, (sp_, nd) in enumerate(zip(specs, nods))])
    return images, pinfo


# ----------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--count", type=int)
    g.add_argument("--series", type=int)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    truth = dict(generator=GEN, version=VERSION, seed=a.seed,
                 mode="single" if a.count is not None else "series", images=[])
    if a.count is not None:
        tasks = [(a.seed, i + 1, a.out) for i in range(a.count)]
        fn = single_task
    else:
        tasks = [(a.seed, i + 1, a.out) for i in range(a.series)]
        fn = series_task
    if a.jobs > 1:
        with Pool(a.jobs) as pool:
            results = list(pool.imap(fn, tasks, chunksize=1))
    else:
        results = [fn(t) for t in tasks]
    if a.count is not None:
        truth["images"] = results
    else:
        truth["patients"] = []
        for imgs, pinfo in results:
            truth["images"].extend(imgs)
            truth["patients"].append(pinfo)
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    print("wrote %d images to %s" % (len(truth["images"]), a.out))


if __name__ == "__main__":
    main()
