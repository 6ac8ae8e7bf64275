#!/usr/bin/env python3
"""phantom-d: an independent synthetic PA chest-radiograph phantom generator.

Written from a written specification only ("outside team" generator).  Images
are built as a 2-D map of attenuation line integrals (soft tissue, lung air,
bone tubes with cortical rims, vessel trees, fractal parenchyma, projected
spherical nodules, nodule mimics), then pushed through a randomised
acquisition and vendor-processing chain (CR/DR look, grid lines, heel effect,
scatter, quantum + readout noise, detector blur, log, unsharp / multi-band
processing, tone curves, collimation).  Output: 16-bit PNG holding 12-bit
values (MONOCHROME2: more attenuation = brighter) with a pHYs chunk, 8-bit
lung masks and truth.json.

    python3 make_phantoms_d.py --count N --seed S --out DIR [--jobs J]
    python3 make_phantoms_d.py --series P --seed S --out DIR [--jobs J]
"""
import argparse
import datetime
import json
import math
import os
import struct
import sys
import time
import zlib

import numpy as np
import cv2

cv2.setNumThreads(1)
_DEBUG = {}  # verification hook: when _DEBUG["on"] is set, render_exam stores the noise-free nodule signal

GENERATOR = "phantom-d"
VERSION = 1
MU_T = 0.020      # soft tissue, 1/mm (effective energy, arbitrary but consistent)
MU_AIRGAIN = 0.016  # attenuation removed per mm of aerated lung replacing tissue


# ----------------------------------------------------------------------------
# small utilities
# ----------------------------------------------------------------------------
def U(rng, a, b):
    return float(rng.uniform(a, b))


def gblur(img, sigma):
    """Gaussian blur; large sigmas are done on a downsampled copy."""
    if sigma <= 0.3:
        return img
    if sigma < 6:
        return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    f = int(min(16, 2 ** int(math.log2(sigma / 2.5))))
    h, w = img.shape
    small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / f, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def bezier(pts, n):
    pts = np.asarray(pts, np.float64)
    t = np.linspace(0, 1, n)[:, None]
    m = len(pts) - 1
    out = np.zeros((n, 2))
    for i, p in enumerate(pts):
        out += math.comb(m, i) * (t ** i) * ((1 - t) ** (m - i)) * p
    return out


def png_with_phys(img, ppm):
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError("PNG encode failed")
    b = buf.tobytes()
    data = struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + b"pHYs" + data
    chunk += struct.pack(">I", zlib.crc32(b"pHYs" + data) & 0xFFFFFFFF)
    pos = 8 + 8 + 13 + 4  # signature + IHDR(len,type,data,crc)
    return b[:pos] + chunk + b[pos:]


def write_bytes(path, b):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b)


def fractal_noise(rng, H, W, hurst, fine_px, coarse_px):
    """Multi-octave (1/f-like) noise, unit-ish std, built coarse-to-fine."""
    levels = []
    k = fine_px
    while k <= coarse_px:
        levels.append(k)
        k *= 2
    levels = levels[::-1]
    f = None
    for k in levels:
        h, w = max(2, H // k), max(2, W // k)
        n = rng.standard_normal((h, w), dtype=np.float32) * float(k ** hurst)
        f = n if f is None else cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) + n
    f = cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR)
    f -= f[::7, ::7].mean()
    f /= f[::7, ::7].std() + 1e-6
    return f


def roi_of(points, pad, H, W):
    pts = np.asarray(points)
    x0 = int(max(0, math.floor(pts[:, 0].min() - pad)))
    x1 = int(min(W, math.ceil(pts[:, 0].max() + pad + 1)))
    y0 = int(max(0, math.floor(pts[:, 1].min() - pad)))
    y1 = int(min(H, math.ceil(pts[:, 1].max() + pad + 1)))
    return x0, y0, x1, y1


# ----------------------------------------------------------------------------
# tubes (ribs, clavicles, trachea): nearest-centreline Voronoi + chord profile
# ----------------------------------------------------------------------------
def render_tubes(A, tubes, spacing, H, W, mask_out=None):
    """tubes: list of dict(pts Nx2 px, R Nx (px), cort N (px), muc N, mum N, eps).
    Adds eps*(muc*outer_chord - (muc-mum)*inner_chord)*spacing to A."""
    if not tubes:
        return
    allp = np.concatenate([t["pts"] for t in tubes])
    rmax = max(float(np.max(t["R"])) for t in tubes)
    x0, y0, x1, y1 = roi_of(allp, rmax + 3, H, W)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    h, w = y1 - y0, x1 - x0
    canvas = np.full((h, w), 255, np.uint8)
    idimg = np.zeros((h, w), np.float32)
    attrs = [(0, 0, 0, 0, 0)]
    for t in tubes:
        p = np.round(t["pts"] - [x0, y0]).astype(np.int32)
        for i in range(len(p) - 1):
            k = len(attrs)
            attrs.append((0.5 * (t["R"][i] + t["R"][i + 1]), t["cort"][i], t["muc"][i], t["mum"][i], t["eps"]))
            a, b = tuple(int(v) for v in p[i]), tuple(int(v) for v in p[i + 1])
            cv2.line(canvas, a, b, 0, 1)
            cv2.line(idimg, a, b, float(k), 1)
    d, lab = cv2.distanceTransformWithLabels(canvas, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    zr, zc = np.nonzero(canvas == 0)
    seg = np.zeros(len(zr) + 1, np.int64)
    seg[1:] = idimg[zr, zc].astype(np.int64)
    attrs = np.asarray(attrs, np.float32)
    sel = np.nonzero(d < rmax)
    dd = d[sel]
    at = attrs[seg[lab[sel]]]
    R, cort, muc, mum, eps = at[:, 0], at[:, 1], at[:, 2], at[:, 3], at[:, 4]
    outer = 2 * np.sqrt(np.maximum(R * R - dd * dd, 0))
    Ri = np.maximum(R - cort, 0)
    inner = 2 * np.sqrt(np.maximum(Ri * Ri - dd * dd, 0))
    val = eps * (muc * outer - (muc - mum) * inner) * spacing
    sub = A[y0:y1, x0:x1]
    sub[sel] += val.astype(np.float32)
    if mask_out is not None:
        m = mask_out[y0:y1, x0:x1]
        m[sel] |= (dd < R) & (val > 0)


# ----------------------------------------------------------------------------
# patient (anatomy) parameters
# ----------------------------------------------------------------------------
def draw_geometry(rng):
    """Image geometry: integer pixels-per-metre so pHYs is exact."""
    for _ in range(100):
        fov_w = U(rng, 340, 440)
        fov_h = fov_w * (U(rng, 1.0, 1.25) if rng.random() < 0.8 else U(rng, 0.86, 1.0))
        lo = max(0.14, fov_w / 2600, fov_h / 2600)
        hi = min(0.20, fov_w / 1800, fov_h / 1800)
        if lo < hi:
            s = U(rng, lo, hi)
            ppm = int(round(1000.0 / s))
            s = 1000.0 / ppm
            W = int(round(fov_w / s))
            H = int(round(fov_h / s))
            if 1800 <= W <= 2600 and 1800 <= H <= 2600:
                return H, W, ppm, s
    return 2200, 2000, 5882, 1000.0 / 5882


def draw_patient(rng, H, W, s):
    """All anatomical random draws in mm, converted later."""
    P = {}
    fov_w, fov_h = W * s, H * s
    P["female"] = rng.random() < 0.45
    P["habitus"] = U(rng, -1, 1)  # thin .. obese
    P["x_m"] = fov_w / 2 + rng.normal(0, 8)
    P["tilt"] = rng.normal(0, 0.015)
    scale = U(rng, 0.85, 1.12)
    P["y_apex"] = U(rng, 0.10, 0.20) * fov_h
    Hl = U(rng, 205, 285) * scale
    Hl = min(Hl, fov_h - P["y_apex"] - 60)
    P["H_l"] = Hl
    base_w = U(rng, 105, 150) * scale
    lungs = {}
    small = rng.random() < 0.12
    small_side = 1 if rng.random() < 0.5 else -1
    for side in (-1, 1):
        L = {}
        f = U(rng, 0.92, 1.08)
        if small and side == small_side:
            f *= U(rng, 0.72, 0.88)
        L["W"] = base_w * f
        L["med"] = U(rng, 14, 26)
        L["ap_frac"] = U(rng, 0.3, 0.5)
        L["u_w"] = U(rng, 0.5, 0.8)
        L["gexp"] = U(rng, 0.55, 0.9)
        L["taper"] = U(rng, 0.0, 0.12)
        h = Hl * (U(rng, 0.93, 0.99) if side == -1 else U(rng, 0.98, 1.04))
        if small and side == small_side:
            h *= U(rng, 0.82, 0.95)
        L["H"] = h
        L["dome_h"] = U(rng, 12, 38)
        L["v_peak"] = U(rng, 0.25, 0.55)
        L["q"] = U(rng, 0.35, 1.5)
        L["m0"] = U(rng, 0.45, 0.85)
        L["wig"] = [(U(rng, -1, 1) * 4, int(rng.integers(2, 6)), U(rng, 0, 6.28)) for _ in range(3)]
        L["hilum"] = (U(rng, 50, 72), U(rng, 0.32, 0.42) * h - (8 if side == 1 else 0))
        lungs[side] = L
    room = fov_w / 2 - abs(P["x_m"] - fov_w / 2) - 12
    need = max(lungs[sd]["med"] + lungs[sd]["W"] for sd in (-1, 1)) + 12 + U(rng, 12, 30) + 18 * max(0, P["habitus"])
    if need > room:
        f = (room - (need - max(lungs[sd]["med"] + lungs[sd]["W"] for sd in (-1, 1)))) / \
            max(lungs[sd]["med"] + lungs[sd]["W"] for sd in (-1, 1))
        for sd in (-1, 1):
            lungs[sd]["W"] *= f
            lungs[sd]["med"] *= f
    P["lungs"] = lungs
    # heart
    rb = min(U(rng, 28, 52), 0.42 * (lungs[-1]["med"] + lungs[-1]["W"]))
    lb = min(U(rng, 65, 115) * scale, U(rng, 0.5, 0.66) * (lungs[1]["med"] + lungs[1]["W"]))
    P["heart"] = dict(hw=(rb + lb) / 2, hx=(lb - rb) / 2, hh=U(rng, 52, 75) * scale,
                      ang=U(rng, 5, 35), yoff=U(rng, 0.15, 0.45),
                      wr=U(rng, 18, 30), wl=U(rng, 20, 40))
    P["knob"] = dict(r=U(rng, 12, 20), x=U(rng, 18, 28), y=U(rng, 0.2, 0.3))
    P["carina_u"] = U(rng, 0.26, 0.34)
    fat = U(rng, 12, 30) + 18 * max(0, P["habitus"])
    ribc = max(lungs[sd]["med"] + lungs[sd]["W"] for sd in (-1, 1)) + 12
    fat = min(fat, max(4.0, room - ribc)) if rng.random() < 0.7 else fat
    P["body"] = dict(T0=U(rng, 185, 250) + 35 * P["habitus"], fat=fat,
                     neck=U(rng, 48, 66), sh_drop=U(rng, 5, 35), arms=rng.random() < 0.35,
                     arm_w=U(rng, 40, 55), waist=U(rng, -0.08, 0.08))
    P["lung_frac"] = U(rng, 0.76, 0.9)
    P["depth_lambda"] = U(rng, 18, 40)
    P["recess"] = U(rng, 15, 45)
    P["retro"] = U(rng, 0.04, 0.12)
    P["rib_pitch"] = U(rng, 0.92, 1.08)
    P["rib_w"] = U(rng, 0.85, 1.15)
    P["rib_density"] = U(rng, 0.7, 1.3)
    P["rib_seed"] = int(rng.integers(1 << 30))
    P["vessel_seed"] = int(rng.integers(1 << 30))
    P["tex_seed"] = int(rng.integers(1 << 30))
    P["mimic_seed"] = int(rng.integers(1 << 30))
    P["tex_amp"] = U(rng, 0.025, 0.06)
    P["tex_hurst"] = U(rng, 0.1, 0.5)
    P["ret_amp"] = U(rng, 0.0, 0.035) if rng.random() < 0.7 else U(rng, 0.03, 0.06)
    P["vessel_mu"] = U(rng, 0.02, 0.03)
    P["vessel_budget"] = int(rng.integers(3000, 6000))
    P["spine"] = dict(w=U(rng, 36, 50), scol=rng.normal(0, 5), dens=U(rng, 0.05, 0.1))
    P["gastric"] = rng.random() < 0.6
    P["breast"] = P["female"] and rng.random() < 0.9
    return P


# ----------------------------------------------------------------------------
# anatomy renderer (reference frame)
# ----------------------------------------------------------------------------
def lung_polygon(side, P, s):
    L = P["lungs"][side]
    x_m = P["x_m"] / s
    ya = P["y_apex"] / s
    Hh, Wd, med = L["H"] / s, L["W"] / s, L["med"] / s
    x_ap = med + L["ap_frac"] * Wd
    X = med + Wd
    n = 70
    u = np.linspace(0, 1, n)
    g = np.sin(np.pi / 2 * np.minimum(u / L["u_w"], 1)) ** L["gexp"]
    g *= 1 - L["taper"] * np.clip((u - L["u_w"]) / (1 - L["u_w"]), 0, 1)
    wig = sum(a / s * np.sin(k * np.pi * u + ph) for a, k, ph in L["wig"]) * np.sin(np.pi * u)
    lat_off = x_ap + (X - x_ap) * g + wig
    lat = np.stack([x_m + side * lat_off, ya + u * Hh], 1)
    y_cp = ya + Hh
    Xcp = lat_off[-1]
    dome = L["dome_h"] / s
    v = np.linspace(1, 0, 50)
    vp = L["v_peak"]
    bump = np.where(v >= vp, np.sin(np.pi / 2 * np.clip((1 - v) / (1 - vp), 0, 1)) ** L["q"],
                    1 - (1 - L["m0"]) * ((vp - v) / vp) ** 2)
    medb = med * 1.1
    dia = np.stack([x_m + side * (medb + (Xcp - medb) * v), y_cp - dome * bump], 1)
    y_mb = y_cp - dome * L["m0"]
    um = np.linspace(1, 0, 50)
    ym = ya + um * (y_mb - ya)
    moff = medb + (x_ap - medb) * (1 - np.sin(np.pi / 2 * np.minimum(um / 0.22, 1)) ** 0.55)
    medl = np.stack([x_m + side * moff, ym], 1)
    return np.concatenate([lat, dia[1:], medl[1:]]), dia


def render_anatomy(P, H, W, s):
    """Returns dict with A (float32 attenuation), lung mask, rib mask, landmarks."""
    yy = np.arange(H, dtype=np.float32)
    xx = np.arange(W, dtype=np.float32)
    x_m = P["x_m"] / s
    ya = P["y_apex"] / s
    B = P["body"]
    Hl = P["H_l"] / s
    # ---- body outline (per-row half widths) ----
    ribcage = max(P["lungs"][sd]["med"] + P["lungs"][sd]["W"] for sd in (-1, 1)) + 12
    torso = (ribcage + B["fat"]) / s
    neck = B["neck"] / s
    y_sh = ya - (B["sh_drop"] + 10) / s
    t = np.clip((yy - y_sh) / (60 / s), 0, 1)
    half = neck + (torso - neck) * np.sqrt(smoothstep(t))
    half *= 1 + B["waist"] * np.clip((yy - ya - Hl) / (120 / s), 0, 1)
    T0 = (B["T0"] * (0.55 + 0.45 * smoothstep(t))).astype(np.float32)
    xc = x_m + P["tilt"] * (yy - H / 2)
    rel = (xx[None, :] - xc[:, None]) / half[:, None]
    prof = np.sqrt(np.clip(1 - rel * rel, 0, 1))
    T = T0[:, None] * prof
    if B["arms"]:
        aw = B["arm_w"] / s
        for sd in (-1, 1):
            ac = xc + sd * (half + aw * 1.15)
            r2 = (xx[None, :] - ac[:, None]) / aw
            T += (2 * B["arm_w"] * 0.9) * np.sqrt(np.clip(1 - r2 * r2, 0, 1)) * (yy[:, None] > y_sh + 30 / s)
    T = T.astype(np.float32)
    A = (MU_T * T).astype(np.float32)
    body_mask = T > 1.0
    # ---- lungs ----
    polys, dias = {}, {}
    full = np.zeros((H, W), np.uint8)
    under = np.zeros((H, W), np.uint8)
    for side in (-1, 1):
        poly, dia = lung_polygon(side, P, s)
        polys[side], dias[side] = poly, dia
        cv2.fillPoly(full, [np.round(poly).astype(np.int32)], 255)
        rec = poly.copy()
        n_lat = 70
        # recess: push diaphragm points down
        low = rec[:, 1] > (ya + 0.6 * P["lungs"][side]["H"] / s)
        rec[low, 1] += P["recess"] / s * np.clip((rec[low, 1] - ya) / (P["lungs"][side]["H"] / s), 0, 1)
        cv2.fillPoly(under, [np.round(rec).astype(np.int32)], 255)
    mask = full.copy()
    Hh = P["heart"]
    ybase = ya + min(P["lungs"][-1]["H"], P["lungs"][1]["H"]) / s - 25 / s
    hc = (x_m + Hh["hx"] / s, ybase - Hh["yoff"] * Hh["hh"] / s)
    heart_ax = (Hh["hw"] / s, Hh["hh"] / s)
    cv2.ellipse(mask, (int(hc[0]), int(hc[1])), (int(heart_ax[0]), int(heart_ax[1])), Hh["ang"], 0, 360, 0, -1)
    kn = P["knob"]
    knob_c = (int(x_m + kn["x"] / s), int(ya + kn["y"] * Hl))
    # superior mediastinum (widening downwards)
    y_car = ya + P["carina_u"] * Hl
    bot = np.array([[x_m + 20 / s, y_car + 5 / s], [x_m - 22 / s, y_car + 10 / s]])
    med_poly = np.array([[x_m - 16 / s, ya - 40 / s], [x_m + 14 / s, ya - 40 / s]])
    knp = cv2.ellipse2Poly(knob_c, (int(kn["r"] / s),) * 2, 0, 0, 360, 10)
    up = cv2.convexHull(np.concatenate([np.round(med_poly), np.round(bot), knp]).astype(np.int32))
    cv2.fillPoly(mask, [up.reshape(-1, 2)], 0)
    ell = cv2.ellipse2Poly((int(hc[0]), int(hc[1])), (int(heart_ax[0]), int(heart_ax[1])), int(Hh["ang"]), 0, 360, 5)
    hy = max(y_car + 25 / s, ya + 0.45 * Hl)
    waist = np.array([[x_m - Hh["wr"] / s, hy], [x_m + Hh["wl"] / s, hy + 10 / s]])
    hull = cv2.convexHull(np.concatenate([ell, np.round(waist), np.round(bot)]).astype(np.int32))
    cv2.fillPoly(mask, [hull.reshape(-1, 2)], 0)
    mask[~body_mask] = 0
    lam = P["depth_lambda"]
    dmain = cv2.distanceTransform(mask, cv2.DIST_L2, 5) * s
    dund = cv2.distanceTransform(under, cv2.DIST_L2, 5) * s
    yfac = (0.82 + 0.18 * np.clip((yy - ya) / Hl, 0, 1.2)).astype(np.float32)[:, None]
    Tl = np.maximum(T, 0.6 * T0[:, None])
    depth = P["lung_frac"] * Tl * yfac * np.tanh(1.4 * np.sqrt(dmain / lam))
    depth2 = P["lung_frac"] * Tl * P["retro"] * yfac * np.tanh(np.sqrt(dund / lam))
    depth = np.maximum(depth, depth2)
    depth = np.minimum(depth, 0.92 * T)
    A -= (MU_T - 0.004) * depth
    lungw = (depth / (P["lung_frac"] * T0[:, None] + 1e-6)).astype(np.float32)
    # ---- parenchymal texture + interstitial markings ----
    trng = np.random.default_rng(P["tex_seed"])
    F = fractal_noise(trng, H, W, P["tex_hurst"], 2, 64)
    h2, w2 = H // 2, W // 2
    nb = trng.standard_normal((h2 // 3, w2 // 3), dtype=np.float32)
    nb = cv2.resize(cv2.GaussianBlur(nb, (0, 0), 1.2), (w2, h2), interpolation=cv2.INTER_CUBIC)
    nb /= nb.std() + 1e-6
    ret = np.exp(-(nb / 0.22) ** 2)
    ret = cv2.resize(ret, (W, H), interpolation=cv2.INTER_LINEAR)
    zone = (0.5 + 0.5 * np.clip((yy - ya) / Hl, 0, 1)).astype(np.float32)[:, None]
    A += lungw * (P["tex_amp"] * F + P["ret_amp"] * zone * (ret - 0.25))
    # ---- trachea / main bronchi (air) ----
    car = np.array([x_m + 2 / s, y_car])
    tr = [dict(pts=np.array([[x_m + P["tilt"] * 0, 0.0], [x_m, ya], car]), R=np.full(3, 8.5 / s),
               cort=np.full(3, 100.0), muc=np.full(3, -MU_AIRGAIN), mum=np.full(3, -MU_AIRGAIN), eps=1.0)]
    for side in (-1, 1):
        hx, hy = P["lungs"][side]["hilum"]
        end = np.array([x_m + side * (hx - 15) / s, ya + hy / s + 5 / s])
        pts = bezier([car, car + [side * 10 / s, 12 / s], end], 12)
        tr.append(dict(pts=pts, R=np.linspace(6.5, 4.5, 12) / s, cort=np.full(12, 100.0),
                       muc=np.full(12, -MU_AIRGAIN), mum=np.full(12, -MU_AIRGAIN), eps=0.9))
    render_tubes(A, tr, s, H, W)
    # ---- spine ----
    sp = P["spine"]
    x0s, x1s = int(max(0, x_m - 90 / s)), int(min(W, x_m + 90 / s))
    sc = np.zeros((H, x1s - x0s), np.float32)
    y = ya - 70 / s
    lev = 0
    while y < H:
        hv = (17 + 1.0 * lev) / s
        wv = (sp["w"] + 1.2 * lev) / s
        cx = x_m - x0s + sp["scol"] / s * math.sin((y - ya) / (H * 0.5) * math.pi)
        body = cv2.ellipse2Poly((int(cx), int(y + hv / 2)), (int(wv / 2), int(hv / 2)), 0, 0, 360, 10)
        rr = np.array([[cx - wv / 2, y], [cx + wv / 2, y], [cx + wv / 2, y + hv], [cx - wv / 2, y + hv]])
        cv2.fillPoly(sc, [np.round(rr).astype(np.int32)], sp["dens"])
        cv2.polylines(sc, [np.round(rr).astype(np.int32)], True, sp["dens"] * 1.6, max(1, int(1.2 / s)))
        for sd in (-1, 1):
            cv2.ellipse(sc, (int(cx + sd * wv * 0.36), int(y + hv * 0.35)), (int(4 / s), int(6 / s)), 0, 0, 360,
                        sp["dens"] * 1.9, max(1, int(1.5 / s)))
        cv2.ellipse(sc, (int(cx), int(y + hv * 0.8)), (int(4 / s), int(7 / s)), 0, 0, 360, sp["dens"] * 0.8, -1)
        del body
        y += hv + (4 + 0.15 * lev) / s
        lev += 1
    sc = gblur(sc, 1.0 / s)
    A[:, x0s:x1s] += sc * (0.6 + 0.4 * prof[:, x0s:x1s])
    # ---- ribs and clavicles ----
    rrng = np.random.default_rng(P["rib_seed"])
    bone = np.zeros((H, W), bool)
    post, ant, clav = [], [], []
    pitch = P["rib_pitch"] * (Hl + 25 / s) / 9.3
    def lat_at(side, yv):
        poly = polys[side]
        lp = poly[:70]
        k = int(np.clip(np.searchsorted(lp[:, 1], yv), 0, 69))
        return abs(lp[k, 0] - x_m) + 7 / s
    dens = P["rib_density"]
    for side in (-1, 1):
        for k in range(12):
            yk = ya - 8 / s + k * pitch + rrng.normal(0, 1.5) / s
            X = lat_at(side, yk + 30 / s) + rrng.normal(0, 2) / s
            X = max(X, 40 / s)
            rise = (14 + 1.5 * k + rrng.normal(0, 2)) / s
            drop = (24 + 2.0 * k) / s
            p0 = [x_m + side * 14 / s, yk]
            c1 = [x_m + side * 0.55 * X, yk - rise]
            p2 = [x_m + side * X, yk + drop]
            p3 = [x_m + side * (X - 3 / s), yk + drop + 28 / s]
            pts = np.concatenate([bezier([p0, c1, [x_m + side * 0.95 * X, yk - rise * 0.3], p2], 36),
                                  bezier([p2, [x_m + side * (X + 2 / s), yk + drop + 14 / s], p3], 10)[1:]])
            n = len(pts)
            wv = (P["rib_w"] * (8.5 + 0.25 * k) + rrng.normal(0, 0.5)) / s
            Rr = 0.5 * wv * (0.75 + 0.25 * np.minimum(np.linspace(0, 4, n), 1))
            yb = ya + P["lungs"][side]["H"] / s - P["lungs"][side]["dome_h"] / s
            low = 1 - 0.45 * smoothstep((pts[:, 1] - yb) / (30 / s))
            post.append(dict(pts=pts, R=Rr, cort=np.full(n, U(rrng, 0.9, 1.5) / s),
                             muc=0.042 * dens * low, mum=0.008 * dens * low, eps=U(rrng, 0.65, 0.85)))
            if k < 7:
                ad = (32 + 3.0 * k + rrng.normal(0, 3)) / s
                medx = (U(rrng, 28, 45) + 2 * k) / s
                e = [x_m + side * medx, p3[1] + ad]
                apts = bezier([p3, [x_m + side * (X - 6 / s), p3[1] + 0.15 * ad],
                               [x_m + side * (medx + 0.35 * (X - medx)), e[1] - 0.15 * ad], e], 30)
                n = len(apts)
                fade = np.clip(np.linspace(1.4, 0, n) * 1.3, 0, 1)
                aw = (P["rib_w"] * (9.5 + 0.3 * k)) / s
                ant.append(dict(pts=apts, R=np.full(n, aw / 2), cort=np.full(n, 0.7 / s),
                                muc=0.03 * dens * fade, mum=0.005 * dens * fade, eps=0.5))
                if k < 5:
                    P.setdefault("_cc", []).append((side, k, e))
        # clavicle
        cy0 = ya + U(rrng, 0, 18) / s
        X = (ribcage + 15) / s
        pts = bezier([[x_m + side * 22 / s, cy0 + 8 / s], [x_m + side * 0.35 * X, cy0 + 14 / s],
                      [x_m + side * 0.6 * X, cy0 - 25 / s], [x_m + side * X, cy0 - U(rrng, 5, 35) / s]], 40)
        n = len(pts)
        clav.append(dict(pts=pts, R=np.linspace(9, 7, n) / s, cort=np.full(n, 1.8 / s),
                         muc=np.full(n, 0.045 * dens), mum=np.full(n, 0.01 * dens), eps=0.8))
    # scapulae and humeral heads (thin plates with rims)
    scap = np.zeros((H, W), np.float32)
    for side in (-1, 1):
        rc = (P["lungs"][side]["med"] + P["lungs"][side]["W"] + 10) / s
        lat = U(rrng, 0.0, 25) / s
        sup = [x_m + side * (0.55 * rc + lat), ya - U(rrng, 0, 15) / s]
        inf = [x_m + side * (0.78 * rc + lat), ya + U(rrng, 0.45, 0.62) * Hl]
        gle = [x_m + side * (rc + 8 / s + lat * 0.3), ya + U(rrng, 0, 15) / s]
        poly = np.round(np.array([sup, gle, inf])).astype(np.int32)
        dv = U(rrng, 0.05, 0.1) * dens
        cv2.fillPoly(scap, [poly], dv)
        cv2.line(scap, tuple(int(v) for v in gle), tuple(int(v) for v in inf), 2.2 * dv, max(1, int(5 / s)))
        cv2.line(scap, tuple(int(v) for v in sup), tuple(int(v) for v in inf), 1.6 * dv, max(1, int(2 / s)))
        hr = U(rrng, 21, 27) / s
        hcx, hcy = gle[0] + side * (hr * 0.9), gle[1] - hr * 0.1
        cv2.circle(scap, (int(hcx), int(hcy)), int(hr), 0.12 * dens, -1)
        cv2.circle(scap, (int(hcx), int(hcy)), int(hr), 0.22 * dens, max(1, int(1.5 / s)))
        cv2.rectangle(scap, (int(hcx - hr * 0.8), int(hcy)), (int(hcx + hr * 0.8), int(hcy + 150 / s)), 0.14 * dens, -1)
    scap = gblur(scap, 1.5 / s)
    A += scap * (T > 20)
    render_tubes(A, post, s, H, W, bone)
    render_tubes(A, ant, s, H, W, bone)
    render_tubes(A, clav, s, H, W, bone)
    # ---- soft tissue extras: breasts, pectoral, gastric bubble ----
    if P["breast"]:
        br = np.random.default_rng(P["mimic_seed"] + 1)
        R0 = U(br, 50, 85) / s
        t0 = U(br, 12, 38)
        ycb = ya + U(br, 0.55, 0.78) * Hl
        for side in (-1, 1):
            cx = x_m + side * (U(br, 75, 110) / s)
            cyb = ycb + br.normal(0, 6) / s
            x0, y0, x1, y1 = roi_of([[cx, cyb]], R0 * 1.5, H, W)
            gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            r = np.sqrt(((gx - cx) / (R0 * 1.4)) ** 2 + ((gy - cyb) / R0) ** 2)
            th = t0 * np.sqrt(np.clip(1 - r * r, 0, 1)) * smoothstep((gy - (cyb - 0.9 * R0)) / (1.3 * R0))
            A[y0:y1, x0:x1] += MU_T * th
    if P["gastric"]:
        gr = np.random.default_rng(P["mimic_seed"] + 2)
        L = P["lungs"][1]
        gx0 = x_m + U(gr, 40, 90) / s
        gy0 = ya + L["H"] / s - L["dome_h"] / s * 0.7 + U(gr, 12, 25) / s
        ax = (int(U(gr, 12, 30) / s), int(U(gr, 7, 16) / s))
        gm = np.zeros((H, W), np.float32)
        cv2.ellipse(gm, (int(gx0), int(gy0)), ax, 0, 180, 360, 1.0, -1)
        cv2.rectangle(gm, (int(gx0 - ax[0]), int(gy0)), (int(gx0 + ax[0]), int(gy0 + 1)), 1.0, -1)
        gm = gblur(gm, 1.5 / s)
        A -= MU_AIRGAIN * U(gr, 15, 45) * gm * (mask == 0)
    return dict(A=A, mask=mask, bone=bone, polys=polys, dias=dias, under=under, lungw=lungw,
                hc=hc, heart_ax=heart_ax, body=body_mask)


# ----------------------------------------------------------------------------
# vessels
# ----------------------------------------------------------------------------
def render_vessels(P, ana, H, W, s):
    rng = np.random.default_rng(P["vessel_seed"])
    A = ana["A"]
    under = ana["under"]
    x_m, ya = P["x_m"] / s, P["y_apex"] / s
    mu = P["vessel_mu"]
    segs = []  # (x0,y0,x1,y1,r_mm)
    dots = []
    for side in (-1, 1):
        hx, hy = P["lungs"][side]["hilum"]
        hpt = np.array([x_m + side * hx / s, ya + hy / s])
        import heapq
        heap = []
        nt = int(rng.integers(4, 7))
        for i in range(nt):
            a = -80 + 175 * (i + rng.uniform(0.2, 0.8)) / nt
            ang = math.radians(a)
            d = np.array([side * math.cos(ang), math.sin(ang)])
            r = U(rng, 3.2, 6.0) * (1.1 if a > 20 else 1.0)
            heapq.heappush(heap, (-r, rng.random(), tuple(hpt), tuple(d), r, 0))
        budget = P["vessel_budget"]
        while heap and budget > 0:
            _, _, p, d, r, gen = heapq.heappop(heap)
            p = np.array(p)
            d = np.array(d)
            L = U(rng, 0.6, 1.4) * (5 + 3 * r) / s
            # two sub-segments with curvature
            q = p
            for _k in range(2):
                th = rng.normal(0, 0.2)
                c, sn = math.cos(th), math.sin(th)
                d = np.array([c * d[0] - sn * d[1], sn * d[0] + c * d[1]])
                q2 = q + d * L / 2
                segs.append((q[0], q[1], q2[0], q2[1], r))
                q = q2
            budget -= 1
            xi, yi = int(q[0]), int(q[1])
            inside = 0 <= xi < W and 0 <= yi < H and under[yi, xi] > 0
            if gen >= 2 and not inside:
                continue
            if 0.7 < r < 2.6 and rng.random() < 0.06:
                perp = np.array([-d[1], d[0]]) * (U(rng, 1.5, 3.0) * r / s) * (1 if rng.random() < 0.5 else -1)
                dots.append((q[0] + perp[0], q[1] + perp[1], r * U(rng, 0.9, 1.25), U(rng, 1.8, 3.5)))
            if r < 0.45:
                continue
            f = U(rng, 0.25, 0.75)
            r1, r2 = r * f ** (1 / 3) * 0.92, r * (1 - f) ** (1 / 3) * 0.92
            if rng.random() < 0.2:  # side twig only
                r1, r2 = r * 0.93, r * U(rng, 0.3, 0.5)
            out = q - (hpt)
            out = out / (np.linalg.norm(out) + 1e-6)
            for rc, sgn in ((r1, 1), (r2, -1)):
                ang = math.radians(U(rng, 12, 40)) * sgn * (r / (rc + 1e-6)) ** 0.5 * 0.6
                c, sn = math.cos(ang), math.sin(ang)
                nd = np.array([c * d[0] - sn * d[1], sn * d[0] + c * d[1]])
                nd = nd + 0.1 * out
                nd /= np.linalg.norm(nd)
                heapq.heappush(heap, (-rc, rng.random(), tuple(q), tuple(nd), rc, gen + 1))
    if not segs:
        return
    segs = np.array(segs)
    allp = np.concatenate([segs[:, :2], segs[:, 2:4]])
    x0, y0, x1, y1 = roi_of(allp, 40, H, W)
    sub = A[y0:y1, x0:x1]
    bins = [0, 0.8, 1.3, 2.0, 3.0, 4.5, 6.5, 9.5, 14, 20, 1e9]
    rpx = segs[:, 4] / s
    for bi in range(len(bins) - 1):
        sel = (rpx >= bins[bi]) & (rpx < bins[bi + 1])
        if not sel.any():
            continue
        can = np.zeros((y1 - y0, x1 - x0), np.float32)
        rr = np.sqrt(bins[bi] * min(bins[bi + 1], 40)) if bi > 0 else 0.6
        for sx0, sy0, sx1, sy1, r in segs[sel]:
            rp = r / s
            th = max(1, int(round(2 * rp)))
            val = mu * (math.pi / 2) * r * (2 * rp / th if th == 1 else 1.0)
            cv2.line(can, (int((sx0 - x0) * 8), int((sy0 - y0) * 8)), (int((sx1 - x0) * 8), int((sy1 - y0) * 8)),
                     float(val), th, cv2.LINE_8, 3)
        sub += gblur(can, max(0.6, 0.35 * rr))
    # end-on vessels: small bright dots
    for cx, cy, r, k in dots:
        R = r / s
        xa, ya0, xb, yb = roi_of([[cx, cy]], R + 3, H, W)
        gy, gx = np.mgrid[ya0:yb, xa:xb].astype(np.float32)
        rho2 = (gx - cx) ** 2 + (gy - cy) ** 2
        A[ya0:yb, xa:xb] += mu * k * 2 * np.sqrt(np.maximum(R * R - rho2, 0)) * s


# ----------------------------------------------------------------------------
# nodules
# ----------------------------------------------------------------------------
def nodule_lobes(rng, lobulated):
    if not lobulated:
        return []
    n = int(rng.integers(3, 7))
    base = rng.uniform(0, 2 * math.pi)
    lobes = []
    for i in range(n):
        ang = base + 2 * math.pi * i / n + rng.normal(0, 0.25)
        rl = U(rng, 0.35, 0.55)
        lobes.append((ang, 1.0 - rl, rl))  # angle, centre offset (frac R), radius frac R
    return lobes


def nodule_signal(cx, cy, Rpx, lobes, rot, core, H, W):
    """Projected thickness (px) map patch of a (lobulated) sphere; returns (y0,x0,patch)."""
    x0, y0, x1, y1 = roi_of([[cx, cy]], Rpx + 2, H, W)
    ss = 2
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    acc = np.zeros(gy.shape, np.float32)
    for oy in (-0.25, 0.25):
        for ox in (-0.25, 0.25):
            X, Y = gx + ox - cx, gy + oy - cy
            r0 = Rpx * (core if lobes else 1.0)
            th = 2 * np.sqrt(np.maximum(r0 * r0 - X * X - Y * Y, 0))
            for ang, off, rl in lobes:
                lx, ly = math.cos(ang + rot) * off * Rpx, math.sin(ang + rot) * off * Rpx
                r = rl * Rpx
                th = np.maximum(th, 2 * np.sqrt(np.maximum(r * r - (X - lx) ** 2 - (Y - ly) ** 2, 0)))
            acc += th
    return y0, x0, acc / (ss * ss)


def place_nodules(rng, n, ana, H, W, s, dmax_list, avoid=()):
    """Choose centres (ref frame) for nodules with given max diameters (mm)."""
    mask = ana["mask"]
    bone = ana["bone"]
    out = []
    for dm in dmax_list:
        Rpx = dm / 2 / s
        er = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(2 * Rpx * 1.1) + 3,) * 2))
        want_rib = rng.random() < 0.35
        cand = er > 0
        if want_rib:
            c2 = cand & bone
            if c2[::4, ::4].any():
                cand = c2
        ys, xs = np.nonzero(cand[::3, ::3])
        if len(ys) == 0:
            out.append(None)
            continue
        pos = None
        for _ in range(60):
            i = int(rng.integers(len(ys)))
            cx, cy = xs[i] * 3 + rng.uniform(-1, 1), ys[i] * 3 + rng.uniform(-1, 1)
            ok = all(math.hypot(cx - ox, cy - oy) > (Rpx + orr + 15 / s) for ox, oy, orr in list(avoid) +
                     [(o[0], o[1], o[2]) for o in out if o is not None])
            if ok and er[int(round(cy)), int(round(cx))] > 0:
                pos = (float(cx), float(cy), Rpx)
                break
        out.append(pos)
    return out


def on_rib(bone, cx, cy, Rpx):
    H, W = bone.shape
    if bone[int(round(cy)), int(round(cx))]:
        return True
    x0, y0, x1, y1 = roi_of([[cx, cy]], Rpx, H, W)
    gy, gx = np.mgrid[y0:y1, x0:x1]
    disc = (gx - cx) ** 2 + (gy - cy) ** 2 <= Rpx * Rpx
    return bool(disc.sum() > 0 and bone[y0:y1, x0:x1][disc].mean() >= 0.3)


# ----------------------------------------------------------------------------
# mimics
# ----------------------------------------------------------------------------
def add_disc(A, cx, cy, R, val, H, W, kind="flat", edge=0.6):
    x0, y0, x1, y1 = roi_of([[cx, cy]], R + 4, H, W)
    if x1 <= x0 or y1 <= y0:
        return
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    rho = np.sqrt((gx - cx) ** 2 + (gy - cy) ** 2)
    if kind == "flat":
        v = val * np.clip((R - rho) / edge + 0.5, 0, 1)
    elif kind == "ring":
        w = max(1.0, R * 0.25)
        v = val * np.clip((R - rho) / edge + 0.5, 0, 1) * np.clip((rho - (R - w)) / edge + 0.5, 0, 1)
    else:  # dome
        v = val * np.sqrt(np.clip(1 - (rho / R) ** 2, 0, 1))
    A[y0:y1, x0:x1] += v


def anatomy_mimics(P, ana, H, W, s, avoid):
    """Patient-fixed mimics: nipple shadows, costochondral calcification."""
    rng = np.random.default_rng(P["mimic_seed"])
    A = ana["A"]
    x_m, ya = P["x_m"] / s, P["y_apex"] / s
    info = []
    def clear(cx, cy, R):
        return all(math.hypot(cx - ox, cy - oy) > R + orr + 8 / s for ox, oy, orr in avoid)
    if rng.random() < (0.5 if P["female"] else 0.35):
        bil = rng.random() < 0.7
        R = U(rng, 4, 8) / s
        val = U(rng, 0.03, 0.09)
        ybase = ya + U(rng, 0.62, 0.85) * P["H_l"] / s
        xo = U(rng, 60, 100) / s
        sides = (-1, 1) if bil else (int(rng.choice([-1, 1])),)
        for sd in sides:
            cx = x_m + sd * (xo + rng.normal(0, 4) / s)
            cy = ybase + rng.normal(0, 5) / s
            if not clear(cx, cy, R):
                continue
            x0, y0, x1, y1 = roi_of([[cx, cy]], R * 2.2, H, W)
            gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            X, Y = gx - cx, gy - cy
            rho = np.sqrt(X * X + Y * Y)
            ang = np.arctan2(Y, X * sd)
            sharp = 0.5 + 0.5 * np.cos(ang - 0.6)  # sharper infero-lateral edge
            edge = R * (0.08 + 0.35 * (1 - sharp))
            core = val * np.clip((R - rho) / edge + 0.5, 0, 1) * np.sqrt(np.clip(1 - (rho / (1.3 * R)) ** 2, 0, 1))
            areola = 0.2 * val * np.clip(1 - rho / (2.2 * R), 0, 1)
            A[y0:y1, x0:x1] += core + areola
            info.append(("nipple", cx, cy))
    if rng.random() < 0.4:
        amount = U(rng, 0.3, 1.0)
        for side, k, e in P.get("_cc", []):
            if rng.random() > amount * (1.0 if k == 0 else 0.7):
                continue
            tgt = np.array([x_m + side * 12 / s, e[1] + (8 + 3 * k) / s])
            path = bezier([e, (e + tgt) / 2 + [0, -4 / s], tgt], 12)
            for i in range(int(rng.integers(3, 12))):
                p = path[int(rng.integers(len(path)))] + rng.normal(0, 2.5 / s, 2)
                if not clear(p[0], p[1], 3 / s):
                    continue
                add_disc(A, p[0], p[1], U(rng, 0.8, 2.8) / s, U(rng, 0.04, 0.18), H, W, "dome")
            info.append(("costochondral", float(e[0]), float(e[1])))
    return info


def exam_overlays(rng, A, mask, H, W, s, x_m, avoid):
    """Per-exam external objects: ECG electrodes + wires, buttons, L/R marker."""
    info = []
    def clear(cx, cy, R):
        return all(math.hypot(cx - ox, cy - oy) > R + orr + 6 / s for ox, oy, orr in avoid)
    if rng.random() < 0.4:
        ne = int(rng.integers(2, 7))
        for _ in range(ne):
            for _t in range(20):
                cx, cy = U(rng, 0.1, 0.9) * W, U(rng, 0.08, 0.75) * H
                Rp = U(rng, 14, 22) / s
                if clear(cx, cy, Rp):
                    break
            else:
                continue
            add_disc(A, cx, cy, Rp, U(rng, 0.015, 0.045), H, W, "flat", 1.0)
            rs = U(rng, 3, 5.5) / s
            add_disc(A, cx, cy, rs, U(rng, 0.5, 1.4), H, W, "ring" if rng.random() < 0.5 else "flat", 0.8)
            add_disc(A, cx, cy, rs * 0.35, U(rng, 0.3, 0.8), H, W, "flat", 0.8)
            info.append(("electrode", cx, cy))
            if rng.random() < 0.8:
                ex = W * (0 if rng.random() < 0.5 else 1)
                ey = U(rng, 0, H)
                if rng.random() < 0.5:
                    ex, ey = U(rng, 0, W), H * (0 if rng.random() < 0.3 else 1)
                c1 = [cx + rng.normal(0, 150 / s), cy + rng.normal(0, 150 / s)]
                c2 = [ex + rng.normal(0, 150 / s), ey + rng.normal(0, 150 / s)]
                pts = bezier([[cx, cy], c1, c2, [ex, ey]], 80)
                can = np.zeros((H, W), np.uint8)
                wpx = max(1, int(round(U(rng, 1.0, 2.2) / s)))
                cv2.polylines(can, [np.round(pts * 4).astype(np.int32)], False, 255, wpx, cv2.LINE_AA, 2)
                ys, xs = np.nonzero(can)
                if len(ys):
                    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
                    A[y0:y1, x0:x1] += can[y0:y1, x0:x1].astype(np.float32) * (U(rng, 0.15, 0.45) / 255.0)
    if rng.random() < 0.15:
        nb = int(rng.integers(2, 6))
        bx = x_m + rng.normal(0, 25 / s)
        by = U(rng, 0.15, 0.35) * H
        step = U(rng, 60, 90) / s
        for i in range(nb):
            cx, cy = bx + rng.normal(0, 3 / s), by + i * step
            R = U(rng, 5, 8) / s
            if cy > H - R or not clear(cx, cy, R):
                continue
            add_disc(A, cx, cy, R, U(rng, 0.05, 0.16), H, W, "flat", 0.8)
            nh = 2 if rng.random() < 0.5 else 4
            for j in range(nh):
                a = 2 * math.pi * j / nh + 0.3
                add_disc(A, cx + 0.35 * R * math.cos(a), cy + 0.35 * R * math.sin(a), 0.15 * R, -0.06, H, W)
            info.append(("button", cx, cy))
    if rng.random() < 0.75:
        letter = "L" if rng.random() < 0.5 else "R"
        hpx = U(rng, 12, 22) / s
        fs = hpx / 22.0
        th = max(2, int(round(fs * U(rng, 2.5, 4.5))))
        dil = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (int(40 / s),) * 2))
        for _t in range(30):
            cx = U(rng, 0.04, 0.25) * W if rng.random() < 0.5 else U(rng, 0.75, 0.96) * W
            cy = U(rng, 0.04, 0.3) * H
            x0, y0 = int(cx - hpx), int(cy - hpx)
            x1, y1 = int(cx + hpx * 1.2), int(cy + hpx * 1.2)
            if x0 < 0 or y0 < 0 or x1 >= W or y1 >= H or dil[y0:y1, x0:x1].any():
                continue
            can = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.putText(can, letter, (int(hpx * 0.3), int(hpx * 1.8)), cv2.FONT_HERSHEY_SIMPLEX, fs, 255, th,
                        cv2.LINE_AA)
            if rng.random() < 0.5:
                cv2.rectangle(can, (1, 1), (x1 - x0 - 2, y1 - y0 - 2), 90, max(1, th // 3))
            A[y0:y1, x0:x1] += can.astype(np.float32) * (U(rng, 1.0, 2.5) / 255.0)
            info.append(("marker_" + letter, cx, cy))
            break
    return info


# ----------------------------------------------------------------------------
# acquisition + processing
# ----------------------------------------------------------------------------
def draw_acquisition(rng, prev=None):
    Q = {}
    Q["cr"] = rng.random() < 0.4
    Q["blur"] = U(rng, 0.9, 1.6) if Q["cr"] else U(rng, 0.45, 0.9)
    Q["lung_noise"] = U(rng, 0.018, 0.055) * (1.2 if Q["cr"] else 1.0)  # relative (log) noise in lungs pre-blur
    Q["readout"] = U(rng, 0.001, 0.004)
    Q["grid"] = rng.random() < 0.35
    Q["grid_f"] = U(rng, 0.1, 0.25) if rng.random() < 0.5 else U(rng, 0.3, 0.48)
    Q["grid_a"] = U(rng, 0.01, 0.04)
    Q["grid_vert"] = rng.random() < 0.7
    Q["spr"] = U(rng, 0.3, 1.0) if (Q["grid"] or rng.random() < 0.6) else U(rng, 1.0, 3.0)
    Q["heel"] = U(rng, -0.15, 0.15)
    Q["heel_vert"] = rng.random() < 0.75
    Q["vign"] = U(rng, 0.0, 0.15)
    Q["struct"] = U(rng, 0.003, 0.012) if Q["cr"] else U(rng, 0.0, 0.003)
    Q["rowstripe"] = U(rng, 0.0, 0.004) if Q["cr"] and rng.random() < 0.5 else 0.0
    Q["t_l"] = U(rng, 0.22, 0.42)
    Q["t_m"] = U(rng, 0.8, 0.97)
    Q["p_hi"] = U(rng, 96.0, 99.5)
    Q["o_lo"] = U(rng, 0.02, 0.12)
    Q["o_hi"] = U(rng, 0.86, 1.0)
    if prev is not None and rng.random() < 0.5:
        for k in ("proc", "proc_p", "tone", "tone_p"):
            Q[k] = prev[k]
    else:
        Q["proc"] = str(rng.choice(["none", "unsharp", "band"], p=[0.3, 0.35, 0.35]))
        if Q["proc"] == "unsharp":
            Q["proc_p"] = dict(sig=U(rng, 2, 9), k=U(rng, 0.3, 1.2))
        elif Q["proc"] == "band":
            Q["proc_p"] = dict(s1=U(rng, 1.0, 2.5), s2=U(rng, 4, 12), s3=U(rng, 25, 70), g0=U(rng, 0.8, 1.3),
                               g1=U(rng, 1.1, 2.0), g2=U(rng, 1.0, 1.6), c=U(rng, 0.45, 0.9))
        else:
            Q["proc_p"] = {}
        Q["tone"] = str(rng.choice(["linear", "gamma", "sigmoid", "lut"]))
        if Q["tone"] == "gamma":
            Q["tone_p"] = dict(g=U(rng, 0.75, 1.3))
        elif Q["tone"] == "sigmoid":
            Q["tone_p"] = dict(k=U(rng, 1.5, 4.0), m=U(rng, 0.42, 0.58))
        elif Q["tone"] == "lut":
            kn = np.sort(rng.uniform(0.05, 0.95, 4))
            vals = np.sort(rng.uniform(0.0, 1.0, 4))
            vals = 0.3 * vals + 0.7 * kn
            Q["tone_p"] = dict(x=[0.0] + kn.tolist() + [1.0], y=[0.0] + vals.tolist() + [1.0])
        else:
            Q["tone_p"] = {}
    # collimation
    Q["coll"] = []
    if rng.random() < 0.5:
        for side in ("l", "r", "t", "b"):
            if rng.random() < 0.55:
                Q["coll"].append((side, U(rng, 0.01, 0.07)))
    Q["coll_bright"] = rng.random() < 0.5
    return Q


def tone(v, Q):
    t = Q["tone"]
    p = Q["tone_p"]
    v = np.clip(v, 0, 1)
    if t == "gamma":
        return np.power(v, p["g"], dtype=np.float32)
    if t == "sigmoid":
        a = np.tanh(p["k"] * (0 - p["m"]))
        b = np.tanh(p["k"] * (1 - p["m"]))
        return (np.tanh(p["k"] * (v - p["m"])) - a) / (b - a)
    if t == "lut":
        return np.interp(v, p["x"], p["y"]).astype(np.float32)
    return v


class Chain:
    def __init__(self, Q, s, H, W, lung_mask, rng_seed, body=None):
        self.Q, self.s, self.H, self.W = Q, s, H, W
        yy = (np.arange(H, dtype=np.float32) / H - 0.5)[:, None] * 2
        xx = (np.arange(W, dtype=np.float32) / W - 0.5)[None, :] * 2
        heel = 1 + Q["heel"] * (yy if Q["heel_vert"] else xx)
        self.gain = (heel * (1 - Q["vign"] * (xx * xx + yy * yy) / 2)).astype(np.float32)
        if Q["grid"]:
            ax = np.arange(W if Q["grid_vert"] else H, dtype=np.float32)
            g = 1 + Q["grid_a"] * np.cos(2 * np.pi * Q["grid_f"] * ax)
            self.gain = self.gain * (g[None, :] if Q["grid_vert"] else g[:, None])
        self.lung = lung_mask > 0
        self.seed = rng_seed
        self.norm = None
        self.body = body

    def expose(self, A):
        P = np.exp(-A)
        S = self.Q["spr"] * gblur(P, 25.0 / self.s) * 0.8
        return ((P + S) * self.gain).astype(np.float32)

    def run(self, E, noisy):
        Q = self.Q
        if noisy:
            rng = np.random.default_rng(self.seed)
            lungE = float(np.median(E[::8, ::8][self.lung[::8, ::8]])) if self.lung.any() else float(E.mean())
            N0 = 1.0 / (Q["lung_noise"] ** 2 * lungE)  # quanta per unit E
            E = E + np.sqrt(np.maximum(E, 1e-6) / N0) * rng.standard_normal(E.shape, dtype=np.float32)
            if Q["struct"] > 0:
                st = rng.standard_normal((self.H // 2, self.W // 2), dtype=np.float32)
                st = cv2.resize(st, (self.W, self.H), interpolation=cv2.INTER_LINEAR)
                E = E * (1 + Q["struct"] * st)
            if Q["rowstripe"] > 0:
                E = E * (1 + Q["rowstripe"] * rng.standard_normal((self.H, 1), dtype=np.float32))
        E = gblur(E, Q["blur"])
        if noisy:
            E = E + (Q["readout"] * lungE) * rng.standard_normal(E.shape, dtype=np.float32)
        L = -np.log(np.maximum(E, 1e-5))
        if self.norm is None:
            smp = L[::4, ::4]
            if self.body is not None and self.body[::4, ::4].any():
                smp = smp[self.body[::4, ::4]]
            lm = L[::4, ::4][self.lung[::4, ::4]]
            lmed = float(np.median(lm)) if lm.size else float(np.percentile(smp, 20))
            hi = float(np.percentile(smp, Q["p_hi"]))
            self.norm = (lmed, max(hi, lmed + 0.5))
        lmed, hi = self.norm
        v = Q["t_l"] + (L - lmed) * ((Q["t_m"] - Q["t_l"]) / (hi - lmed))
        pp = Q["proc_p"]
        if Q["proc"] == "unsharp":
            v = v + pp["k"] * (v - gblur(v, pp["sig"] / self.s))
        elif Q["proc"] == "band":
            g1 = gblur(v, pp["s1"])
            g2 = gblur(g1, pp["s2"] / self.s * 0.5)
            g3 = gblur(g2, pp["s3"] / self.s)
            m = float(g3[::8, ::8].mean())
            v = (m + (g3 - m) * pp["c"]) + pp["g2"] * (g2 - g3) + pp["g1"] * (g1 - g2) + pp["g0"] * (v - g1)
        out = (Q["o_lo"] + (Q["o_hi"] - Q["o_lo"]) * tone(v, Q)) * 4095.0
        return out.astype(np.float32)

    def collimate(self, out, rng=None):
        Q = self.Q
        if not Q["coll"]:
            return out
        H, W = self.H, self.W
        inside = np.ones((H, W), np.float32)
        for side, f in Q["coll"]:
            if side == "l":
                inside[:, :int(f * W)] = 0
            elif side == "r":
                inside[:, W - int(f * W):] = 0
            elif side == "t":
                inside[:int(f * H), :] = 0
            else:
                inside[H - int(f * H):, :] = 0
        inside = gblur(inside, 2.5)
        val = U(np.random.default_rng(self.seed + 7), 3500, 4050) if Q["coll_bright"] else \
            U(np.random.default_rng(self.seed + 7), 0, 250)
        bg = np.float32(val)
        if rng is not None:
            bg = bg + 12 * rng.standard_normal((H, W), dtype=np.float32)
        return out * inside + bg * (1 - inside)


def safe_collimation(Q, mask, H, W):
    ys, xs = np.nonzero(mask[::4, ::4])
    if len(ys) == 0:
        return
    x0, x1, y0, y1 = xs.min() * 4, xs.max() * 4, ys.min() * 4, ys.max() * 4
    keep = []
    for side, f in Q["coll"]:
        lim = {"l": x0 / W, "r": 1 - x1 / W, "t": y0 / H, "b": 1 - y1 / H}[side] - 0.03
        if lim > 0.01:
            keep.append((side, min(f, lim)))
    Q["coll"] = keep


# ----------------------------------------------------------------------------
# one exam
# ----------------------------------------------------------------------------
def render_exam(A_base, mask, nods, Q, s, H, W, seed, x_m):
    """nods: list of dicts with cx, cy, Rpx, lobes, rot, core, dmu(1/mm). Returns image, truth extras."""
    rng = np.random.default_rng(seed)
    A0 = A_base.copy()
    avoid = [(n["cx"], n["cy"], n["Rpx"]) for n in nods]
    ov = exam_overlays(rng, A0, mask, H, W, s, x_m, avoid)
    A1 = A0.copy()
    for n in nods:
        y0, x0, th = nodule_signal(n["cx"], n["cy"], n["Rpx"], n["lobes"], n["rot"], n["core"], H, W)
        A1[y0:y0 + th.shape[0], x0:x0 + th.shape[1]] += th * (n["dmu"] * s)
    safe_collimation(Q, mask, H, W)
    ch = Chain(Q, s, H, W, mask, seed + 1, A_base > 0.6)
    E1 = ch.expose(A1)
    clean = ch.run(E1, False)
    noisy = ch.run(E1, True)
    del E1
    lungsel = mask[::2, ::2] > 0
    diff = (noisy - clean)[::2, ::2][lungsel]
    sigma = float(diff.std()) if diff.size else float((noisy - clean).std())
    contrasts = []
    if nods:
        bg = ch.run(ch.expose(A0), False)
        if _DEBUG.get("on"):
            _DEBUG.setdefault("signal", []).append(clean - bg)
        for n in nods:
            x0, y0, x1, y1 = roi_of([[n["cx"], n["cy"]]], n["Rpx"], H, W)
            gy, gx = np.mgrid[y0:y1, x0:x1]
            disc = (gx - n["cx"]) ** 2 + (gy - n["cy"]) ** 2 <= n["Rpx"] ** 2
            d = (clean[y0:y1, x0:x1] - bg[y0:y1, x0:x1])[disc]
            contrasts.append(float(d.max()) if d.size else 0.0)
    out = ch.collimate(noisy, rng)
    img = np.clip(np.round(out), 0, 4095).astype(np.uint16)
    return img, sigma, contrasts, ov


# ----------------------------------------------------------------------------
# patient-level build
# ----------------------------------------------------------------------------
def build_anatomy(P, H, W, s):
    ana = render_anatomy(P, H, W, s)
    render_vessels(P, ana, H, W, s)
    return ana


def draw_nodule_count(rng):
    return int(rng.choice([0, 1, 2, 3, 4], p=[0.18, 0.34, 0.26, 0.14, 0.08]))


def draw_diameter(rng):
    return float(np.clip(math.exp(U(rng, math.log(5), math.log(30))) * (1 if rng.random() < 0.7 else 1), 5, 30))


def draw_dmu(rng):
    # attenuation excess of nodule over aerated lung, 1/mm: ground-glass-ish .. solid
    return U(rng, 0.004, 0.010) if rng.random() < 0.35 else U(rng, 0.008, 0.018)


def rot_mat(theta_deg):
    t = math.radians(theta_deg)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def job_single(args):
    seed, idx, outdir = args
    t0 = time.time()
    rng = np.random.default_rng([seed, idx, 11])
    H, W, ppm, s = draw_geometry(rng)
    P = draw_patient(rng, H, W, s)
    ana = build_anatomy(P, H, W, s)
    nn = draw_nodule_count(rng)
    diams = [draw_diameter(rng) for _ in range(nn)]
    pos = place_nodules(rng, nn, ana, H, W, s, diams)
    nods = []
    for d, p in zip(diams, pos):
        if p is None:
            continue
        lob = rng.random() < 0.3
        nods.append(dict(cx=p[0], cy=p[1], Rpx=d / 2 / s, d=d, lobes=nodule_lobes(rng, lob), lob=lob,
                         rot=0.0, core=U(rng, 0.72, 0.85), dmu=draw_dmu(rng)))
    am = anatomy_mimics(P, ana, H, W, s, [(n["cx"], n["cy"], n["Rpx"]) for n in nods])
    Q = draw_acquisition(rng)
    img, sigma, con, ov = render_exam(ana["A"], ana["mask"], nods, Q, s, H, W,
                                      int(rng.integers(1 << 30)), P["x_m"] / s)
    name = "d%04d" % (idx + 1)
    write_bytes(os.path.join(outdir, "images", name + ".png"), png_with_phys(img, ppm))
    write_bytes(os.path.join(outdir, ".masks", name + "_mask.png"), cv2.imencode(".png", ana["mask"])[1].tobytes())
    rec = dict(path="images/%s.png" % name, patient_id=None, study_date=None, width=W, height=H,
               pixel_spacing_mm=s, lung_mask=".masks/%s_mask.png" % name, noise_sigma=round(sigma, 4), nodules=[])
    for i, (n, c) in enumerate(zip(nods, con)):
        rec["nodules"].append(dict(id="N%d" % (i + 1), x=round(n["cx"], 3), y=round(n["cy"], 3),
                                   diameter_mm=round(n["d"], 3), on_rib=on_rib(ana["bone"], n["cx"], n["cy"], n["Rpx"]),
                                   lobulated=bool(n["lob"]), contrast=round(c, 3),
                                   cnr=round(c / max(sigma, 1e-6), 3)))
    rec["_meta"] = dict(acq=Q["proc"] + "/" + Q["tone"] + ("/CR" if Q["cr"] else "/DR") + ("/grid" if Q["grid"] else ""),
                        mimics=[m[0] for m in am + ov], secs=round(time.time() - t0, 2))
    return rec


STATUS_P = [("growing", 0.45), ("stable", 0.35), ("shrinking", 0.08), ("new", 0.12)]


def job_series(args):
    seed, idx, outdir = args
    t0 = time.time()
    rng = np.random.default_rng([seed, idx, 23])
    H, W, ppm, s = draw_geometry(rng)
    P = draw_patient(rng, H, W, s)
    ana = build_anatomy(P, H, W, s)
    pid = "PD-%04d" % (idx + 1)
    ne = int(rng.integers(2, 5))
    start = datetime.date(2016, 1, 1) + datetime.timedelta(days=int(rng.integers(0, 3000)))
    days = [0]
    for _ in range(ne - 1):
        days.append(days[-1] + int(rng.integers(30, 241)))
    dates = [start + datetime.timedelta(days=d) for d in days]
    # nodules with temporal behaviour
    nn = int(rng.choice([0, 1, 2, 3, 4], p=[0.05, 0.35, 0.3, 0.18, 0.12]))
    specs = []
    for i in range(nn):
        st = str(rng.choice([a for a, _ in STATUS_P], p=[b for _, b in STATUS_P]))
        for _ in range(200):
            first = 0 if st != "new" else int(rng.integers(1, ne))
            if st == "stable":
                vdt = None
                d0 = draw_diameter(rng)
            elif st == "shrinking":
                vdt = -U(rng, 60, 900)
                d0 = U(rng, 8, 30)
            else:
                vdt = U(rng, 60, 900)
                d0 = U(rng, 5, 14) if st == "new" else draw_diameter(rng)
            t_ref = days[first]
            ds = [d0 * 2 ** ((days[j] - t_ref) / (3 * vdt)) if vdt else d0 for j in range(first, ne)]
            if min(ds) >= 5 and max(ds) <= 30:
                break
        specs.append(dict(id="N%d" % (i + 1), status=st, vdt=vdt, d0=d0, first=first, d0_day=days[first],
                          dmax=max(ds), lob=bool(rng.random() < 0.3), dmu=draw_dmu(rng), core=U(rng, 0.72, 0.85)))
        specs[-1]["lobes"] = nodule_lobes(rng, specs[-1]["lob"])
    pos = place_nodules(rng, len(specs), ana, H, W, s, [sp["dmax"] for sp in specs])
    specs = [dict(sp, cx=p[0], cy=p[1]) for sp, p in zip(specs, pos) if p is not None]
    am = anatomy_mimics(P, ana, H, W, s, [(sp["cx"], sp["cy"], sp["dmax"] / 2 / s) for sp in specs])
    c = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    recs = []
    prevQ = None
    for j in range(ne):
        if j == 0:
            tx = ty = rot = 0.0
            sc = 1.0
        else:
            tx, ty = U(rng, -12, 12), U(rng, -12, 12)
            rot, sc = U(rng, -3, 3), U(rng, 0.97, 1.03)
        Rm = sc * rot_mat(rot)
        tvec = c + np.array([tx, ty]) / s - Rm @ c
        M = np.hstack([Rm, tvec[:, None]])  # ref -> this
        if j == 0:
            A = ana["A"]
            mask = ana["mask"]
        else:
            A = cv2.warpAffine(ana["A"], M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            mask = (cv2.warpAffine(ana["mask"], M, (W, H), flags=cv2.INTER_LINEAR) > 127).astype(np.uint8) * 255
        Minv = cv2.invertAffineTransform(M)
        nods = []
        for sp in specs:
            if j < sp["first"]:
                continue
            dt = days[j] - sp["d0_day"]
            d = sp["d0"] * 2 ** (dt / (3 * sp["vdt"])) if sp["vdt"] else sp["d0"]
            p = M @ np.array([sp["cx"], sp["cy"], 1.0])
            nods.append(dict(cx=float(p[0]), cy=float(p[1]), Rpx=d / 2 / s * sc, d=d, lobes=sp["lobes"],
                             rot=math.radians(rot), core=sp["core"], dmu=sp["dmu"], sp=sp))
        Q = draw_acquisition(rng, prevQ)
        prevQ = Q
        img, sigma, con, ov = render_exam(A, mask, nods, Q, s, H, W, int(rng.integers(1 << 30)), P["x_m"] / s)
        ds = dates[j].isoformat()
        rel = "%s/%s/pa.png" % (pid, ds)
        mrel = ".masks/%s/%s/pa_mask.png" % (pid, ds)
        write_bytes(os.path.join(outdir, rel), png_with_phys(img, ppm))
        write_bytes(os.path.join(outdir, mrel), cv2.imencode(".png", mask)[1].tobytes())
        rec = dict(path=rel, patient_id=pid, study_date=ds, width=W, height=H, pixel_spacing_mm=s, lung_mask=mrel,
                   noise_sigma=round(sigma, 4), nodules=[])
        for n, cc in zip(nods, con):
            sp = n["sp"]
            rec["nodules"].append(dict(
                id=sp["id"], x=round(n["cx"], 4), y=round(n["cy"], 4), diameter_mm=round(n["d"], 3),
                on_rib=on_rib(ana["bone"], sp["cx"], sp["cy"], n["d"] / 2 / s), lobulated=sp["lob"],
                contrast=round(cc, 3), cnr=round(cc / max(sigma, 1e-6), 3), status=sp["status"],
                vdt_days=None if sp["vdt"] is None else round(sp["vdt"], 1)))
        rec["transform_to_reference"] = dict(
            tx_mm=round(tx, 4), ty_mm=round(ty, 4), rotation_deg=round(rot, 5), scale=round(sc, 6),
            reference="%s/%s/pa.png" % (pid, dates[0].isoformat()),
            pixel_affine=[[float(v) for v in Minv[0]], [float(v) for v in Minv[1]]])
        rec["_meta"] = dict(acq=Q["proc"] + "/" + Q["tone"] + ("/CR" if Q["cr"] else "/DR"),
                            mimics=[m[0] for m in am + ov])
        recs.append(rec)
    prec = dict(patient_id=pid, exams=[d.isoformat() for d in dates],
                nodules=[dict(id=sp["id"], status=sp["status"], vdt_days=None if sp["vdt"] is None else round(sp["vdt"], 1),
                              d0_mm=round(sp["d0"], 3), d0_date=dates[sp["first"]].isoformat(), lobulated=sp["lob"])
                         for sp in specs])
    recs[0]["_meta"]["secs"] = round(time.time() - t0, 2)
    return recs, prec


# ----------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description="phantom-d synthetic PA chest radiograph generator (16-bit PNG, "
                                             "12-bit content, pHYs spacing, lung masks, truth.json).")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--count", type=int, help="number of single images")
    g.add_argument("--series", type=int, help="number of patients with 2-4 longitudinal exams")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--only", type=int, default=None, help="(debug) generate only this 0-based index")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    n = a.count if a.count is not None else a.series
    idxs = [a.only] if a.only is not None else list(range(n))
    fn = job_single if a.count is not None else job_series
    tasks = [(a.seed, i, a.out) for i in idxs]
    t0 = time.time()
    if a.jobs > 1 and len(tasks) > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(min(a.jobs, 2)) as pool:
            results = list(pool.imap(fn, tasks, chunksize=1))
    else:
        results = [fn(t) for t in tasks]
    truth = dict(generator=GENERATOR, version=VERSION, seed=a.seed, images=[])
    meta = []
    if a.count is not None:
        for r in results:
            meta.append(dict(path=r["path"], **r.pop("_meta")))
            truth["images"].append(r)
    else:
        truth["patients"] = []
        for recs, prec in results:
            for r in recs:
                meta.append(dict(path=r["path"], **r.pop("_meta")))
                truth["images"].append(r)
            truth["patients"].append(prec)
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    with open(os.path.join(a.out, ".gen_log.json"), "w") as f:
        json.dump(meta, f, indent=0)
    print("wrote %d images to %s in %.1f s" % (len(truth["images"]), a.out, time.time() - t0))


if __name__ == "__main__":
    main()
