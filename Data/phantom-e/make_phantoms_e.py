#!/usr/bin/env python3
"""phantom-e: independent synthetic PA chest-radiograph phantom generator.

Written from a written specification only (outside-team generator).

Model: a coarse 3-D voxel thorax (soft tissue, textured lung parenchyma, trachea,
spine, sternum, heart, stomach gas, optional breasts/arms) is ray-summed along the
beam; fine structures (ribs with cortical shells, clavicles, vessel trees, end-on
vessels, nodules, tubes/lines/devices) are added analytically to the line
integral at full resolution.  The line integral goes through an exposure chain:
transmission + scatter -> detector blur -> quantum noise -> log -> detail
enhancement -> window/LUT -> 12-bit.

    python3 make_phantoms_e.py --count N --seed S --out DIR [--jobs J] [--format png|dicom]
    python3 make_phantoms_e.py --series P --seed S --out DIR [--jobs J] [--format png|dicom]
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
from scipy import ndimage

GEN = "phantom-e"
MU_ST = 0.020  # soft tissue linear attenuation, 1/mm (effective)


# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------
def rng_for(*keys):
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def U(rng, a, b):
    return float(rng.uniform(a, b))


def bezier(ctrl, n=40):
    ctrl = np.asarray(ctrl, dtype=np.float64)
    t = np.linspace(0.0, 1.0, n)[:, None]
    k = len(ctrl) - 1
    out = np.zeros((n, 2))
    for i, p in enumerate(ctrl):
        out += math.comb(k, i) * (t ** i) * ((1 - t) ** (k - i)) * p
    return out


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


# ----------------------------------------------------------------------------
# anatomy parameters (all in mm, origin at image centre, x right, y down)
# ----------------------------------------------------------------------------
def make_anatomy(rng, W, H, sp):
    A = {"W": W, "H": H, "sp": sp}
    fx, fy = W * sp, H * sp
    A["fov"] = (fx, fy)
    A["vox"] = U(rng, 2.4, 3.0)
    hw = min(U(rng, 135, 170), fx * 0.47)
    A["th_hw"] = hw                               # thorax half-width at lung base
    A["b"] = U(rng, 95, 125)                      # half AP depth
    A["apex_y"] = -fy / 2 + U(rng, 30, 65)
    A["lung_h"] = min(U(rng, 0.62, 0.72) * fy, 300.0)
    A["neck_y"] = A["apex_y"] - U(rng, 5, 30)
    A["neck_hw"] = U(rng, 50, 68)
    A["shoulder_hw"] = hw + U(rng, 10, 40)
    A["rot"] = float(rng.uniform(-1, 1)) if rng.random() < 0.25 else float(rng.uniform(-0.15, 0.15))
    A["scol_amp"] = float(rng.uniform(8, 22) * rng.choice([-1, 1])) if rng.random() < 0.2 else U(rng, -3, 3)
    A["scol_phase"] = U(rng, 0, 2 * math.pi)
    A["scol_per"] = U(rng, 1.2, 2.2)
    A["xb"] = U(rng, -10, 10)
    A["spine_x0"] = A["xb"] + 9 * A["rot"]
    A["lung_rho"] = U(rng, 0.17, 0.30)
    A["tex_amp"] = U(rng, 0.25, 0.55)
    # lungs: per side s=-1 (image left, patient right), s=+1
    lungs = {}
    base_y = A["apex_y"] + A["lung_h"]
    for s in (-1, 1):
        L = {}
        L["w"] = hw * U(rng, 0.80, 0.90) * (1 - 0.07 * s * A["rot"])
        L["med_x"] = A["xb"] + s * U(rng, 12, 28) + 6 * A["rot"]
        L["apex_x"] = A["xb"] + s * U(rng, 40, 60)
        L["apex_y"] = A["apex_y"] + U(rng, -6, 6)
        L["base_y"] = base_y + (U(rng, -22, -5) if s == -1 else U(rng, -3, 10))
        L["dome_h"] = U(rng, 14, 32)
        L["dome_c"] = U(rng, 0.35, 0.6)
        L["med_end"] = U(rng, 0.45, 0.8)
        L["apex_pow"] = U(rng, 1.8, 3.2)
        L["wob"] = rng.normal(0, 1, 6).tolist()
        lungs[s] = L
    A["lungs"] = lungs
    A["heart"] = dict(x=A["xb"] + U(rng, 12, 26) + 8 * A["rot"], y=base_y - U(rng, 45, 62),
                      rx=U(rng, 50, 68), ry=U(rng, 45, 60), ang=U(rng, -30, -10))
    A["aorta"] = dict(x=A["xb"] + U(rng, 25, 38), y=A["apex_y"] + U(rng, 70, 100), r=U(rng, 14, 22))
    A["trachea_x"] = A["xb"] + U(rng, -6, 6)
    A["carina_y"] = A["apex_y"] + U(rng, 75, 110)
    A["vert_h"] = U(rng, 22, 28)
    A["vert_ph"] = U(rng, 0, 1)
    A["breasts"] = rng.random() < 0.35
    A["arms"] = False
    A["bubble"] = rng.random() < 0.7
    # ribs
    A["rib_gap"] = U(rng, 19, 25) * A["lung_h"] / 250
    A["rib1_y"] = A["apex_y"] + U(rng, -8, 6)
    A["rib_drop"] = U(rng, 22, 38)
    A["rib_hw"] = U(rng, 4.2, 5.5)
    A["rib_mu"] = U(rng, 0.045, 0.07)
    A["rib_ct"] = U(rng, 0.8, 1.3)
    A["ant_drop"] = U(rng, 28, 48)
    A["ant_mu"] = U(rng, 0.025, 0.045)
    A["clav_y"] = A["apex_y"] + U(rng, 8, 30)
    A["clav_tilt"] = U(rng, -25, 5)
    # vessels
    A["vessel_mu"] = U(rng, 0.016, 0.024)
    # devices
    A["ng"] = rng.random() < 0.15
    A["cvc"] = rng.random() < 0.18
    A["pacer"] = rng.random() < 0.12
    A["ecg"] = rng.random() < 0.2
    return A


def spine_x(A, y):
    t = (np.asarray(y) - A["apex_y"]) / (A["lung_h"] * A["scol_per"])
    return A["spine_x0"] + A["scol_amp"] * np.sin(2 * math.pi * t + A["scol_phase"])


def thorax_hw(A, y):
    y = np.asarray(y, dtype=np.float64)
    t = np.clip((y - A["apex_y"]) / A["lung_h"], -1, 1.5)
    th = A["th_hw"] * (0.80 + 0.2 * smoothstep(t * 1.4))
    sh = smoothstep((y - A["neck_y"]) / 45.0)
    top = A["neck_hw"] + (A["shoulder_hw"] - A["neck_hw"]) * sh
    blend = smoothstep((y - (A["apex_y"] + 50)) / 60.0)
    return np.where(y < A["neck_y"], A["neck_hw"], top * (1 - blend) + th * blend)


def lung_polygon(A, s):
    """Outline of one lung field (mm)."""
    L = A["lungs"][s]
    wob = L["wob"]
    n = 60
    t = np.linspace(0, 1, n)
    ya, yb = L["apex_y"], L["base_y"]
    xm_top = L["apex_x"]
    lat_x = L["med_x"] + s * L["w"]
    # lateral border: apex -> costophrenic angle
    prof = (1 - (1 - t) ** L["apex_pow"]) ** 0.5
    xl = xm_top + (lat_x - xm_top) * prof + s * 3 * wob[0] * np.sin(np.pi * t)
    yl = ya + (yb - ya) * t
    # dome: lateral (u=0) -> medial (u=1)
    u = np.linspace(0, 1, n)
    xd = lat_x + (L["med_x"] - lat_x) * u
    dome = np.sin(np.clip(u / L["dome_c"], 0, 1) * np.pi / 2) ** 0.7
    dome = np.where(u > L["dome_c"], 1 - 0.25 * ((u - L["dome_c"]) / (1 - L["dome_c"])) ** 2, dome)
    yd = yb - L["dome_h"] * dome - 4 * (1 - np.exp(-u * 8)) * 0 + 2 * wob[1] * np.sin(np.pi * u)
    y_med_end = yd[-1]
    # medial border: bottom -> apex
    tm = np.linspace(1, 0, n)
    ym = ya + (y_med_end - ya) * tm
    pm = (1 - (1 - tm) ** 3) ** 0.5
    xmed = xm_top + (L["med_x"] - xm_top) * pm + s * 2 * wob[2] * np.sin(np.pi * tm)
    pts = np.concatenate([np.stack([xl, yl], 1), np.stack([xd, yd], 1)[1:], np.stack([xmed, ym], 1)[1:]])
    return pts


def to_px(A, pts):
    pts = np.asarray(pts, dtype=np.float64)
    return np.stack([pts[:, 0] / A["sp"] + (A["W"] - 1) / 2.0, pts[:, 1] / A["sp"] + (A["H"] - 1) / 2.0], 1)


def lung_mask(A, W, H, scale_sp):
    """Lung-field mask on a grid of W x H with pixel size scale_sp (mm)."""
    m = np.zeros((H, W), np.uint8)
    cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    for s in (-1, 1):
        p = lung_polygon(A, s)
        q = np.stack([p[:, 0] / scale_sp + cx, p[:, 1] / scale_sp + cy], 1)
        cv2.fillPoly(m, [np.round(q * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
    h = A["heart"]
    cv2.ellipse(m, (int(round((h["x"] / scale_sp + cx) * 16)), int(round((h["y"] / scale_sp + cy) * 16))),
                (int(h["rx"] / scale_sp * 16), int(h["ry"] / scale_sp * 16)), h["ang"], 0, 360, 0, -1, cv2.LINE_8, 4)
    a = A["aorta"]
    cv2.circle(m, (int(round((a["x"] / scale_sp + cx) * 16)), int(round((a["y"] / scale_sp + cy) * 16))),
               int(a["r"] / scale_sp * 16), 0, -1, cv2.LINE_8, 4)
    return m


# ----------------------------------------------------------------------------
# coarse 3-D volume and ray sum
# ----------------------------------------------------------------------------
def volume_projection(A, rng):
    fx, fy = A["fov"]
    v = A["vox"]
    nx, ny = int(round(fx / v)), int(round(fy / v))
    vx, vy = fx / nx, fy / ny
    b = A["b"]
    z0 = -50.0
    nz = int(math.ceil((2 * b + 70) / v))
    x = ((np.arange(nx) + 0.5) * vx - fx / 2).astype(np.float32)
    y = ((np.arange(ny) + 0.5) * vy - fy / 2).astype(np.float32)
    z = (z0 + (np.arange(nz) + 0.5) * v).astype(np.float32)
    X = x[None, :, None]
    Y = y[:, None, None]
    Z = z[None, None, :]
    zb = b  # body centre depth (anterior surface at z~0)
    ahw = thorax_hw(A, y).astype(np.float32)[:, None, None]
    by = (b * (0.55 + 0.45 * smoothstep((y - A["neck_y"]) / 60.0))).astype(np.float32)[:, None, None]
    xb = A["xb"]
    body = ((X - xb) / ahw) ** 2 + ((Z - zb) / by) ** 2 <= 1.0
    mu = body.astype(np.float32) * MU_ST
    if A["arms"]:
        for s in (-1, 1):
            ax = xb + s * (A["th_hw"] + U(rng, 28, 45))
            arm = (((X - ax) / 40.0) ** 2 + ((Z - zb) / 45.0) ** 2 <= 1.0) & (Y < A["apex_y"] + 140) & (Y > A["neck_y"] + 20)
            mu[arm] = MU_ST
    if A["breasts"]:
        r = (U(rng, 55, 80), U(rng, 50, 70), U(rng, 30, 50))
        for s in (-1, 1):
            c = (xb + s * U(rng, 60, 90), A["apex_y"] + A["lung_h"] - U(rng, 20, 60), 5.0)
            e = ((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + ((Z - c[2]) / r[2]) ** 2 <= 1
            mu[e] = MU_ST
    # heart slightly denser
    h = A["heart"]
    he = ((X - h["x"]) / h["rx"]) ** 2 + ((Y - h["y"]) / h["ry"]) ** 2 + ((Z - zb * 0.75) / (b * 0.6)) ** 2 <= 1
    mu[he & body] = MU_ST * 1.05
    # lungs
    lm = lung_mask(A, nx, ny, vx) > 0
    dist = cv2.distanceTransform(lm.astype(np.uint8), cv2.DIST_L2, 5) * vx
    hd = (0.82 * by[:, :, 0] * (1 - np.exp(-dist / U(rng, 10, 20)))).astype(np.float32)
    zl = zb + 0.12 * by[:, :, 0]
    inl = (np.abs(Z - zl[:, :, None]) <= hd[:, :, None]) & lm[:, :, None] & body
    tex = rng.standard_normal((ny, nx, nz), dtype=np.float32)
    tex = ndimage.gaussian_filter(tex, U(rng, 0.6, 1.0), truncate=2.0)
    tex /= max(float(tex.std()), 1e-6)
    coarse = rng.standard_normal((ny // 4 + 2, nx // 4 + 2, nz // 4 + 2), dtype=np.float32)
    coarse = ndimage.gaussian_filter(coarse, 0.8)
    coarse /= max(float(coarse.std()), 1e-6)
    coarse = ndimage.zoom(coarse, (ny / coarse.shape[0], nx / coarse.shape[1], nz / coarse.shape[2]), order=1)
    coarse = coarse[:ny, :nx, :nz]
    grad = 1.0 + 0.15 * ((Y - A["apex_y"]) / A["lung_h"])  # denser toward bases
    lungmu = MU_ST * A["lung_rho"] * grad * np.clip(1 + A["tex_amp"] * tex + 0.25 * coarse, 0.2, 3.0)
    mu = np.where(inl, lungmu, mu)
    # trachea and main bronchi (air)
    tx, cy = A["trachea_x"], A["carina_y"]
    zt = zb - 0.2 * b
    tr = (((X - tx) ** 2 + (Z - zt) ** 2) <= 8.5 ** 2) & (Y < cy)
    mu[tr & body] = 0.0
    for s in (-1, 1):
        ang = math.radians(U(rng, 30, 50) if s == 1 else U(rng, 20, 35))
        d = np.array([s * math.sin(ang), math.cos(ang)])
        px, py = X - tx, Y - cy
        tproj = np.clip(px * d[0] + py * d[1], 0, 45)
        dd = (px - tproj * d[0]) ** 2 + (py - tproj * d[1]) ** 2 + (Z - zt) ** 2
        mu[(dd <= 6.0 ** 2) & body] = 0.0
    # stomach gas bubble
    if A["bubble"]:
        L = A["lungs"][1]
        c = (L["med_x"] + 0.5 * L["w"], L["base_y"] - 0.3 * L["dome_h"] + U(rng, 18, 30), zb - 10)
        r = (U(rng, 18, 35), U(rng, 10, 18), U(rng, 15, 30))
        e = ((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + ((Z - c[2]) / r[2]) ** 2 <= 1
        e &= (Y >= c[1] - 0.2 * r[1])  # air-fluid level: flat bottom
        e = ((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + ((Z - c[2]) / r[2]) ** 2 <= 1
        e &= (Y <= c[1] + 0.3 * r[1])
        mu[e & body & ~inl] = 0.0
    # spine: vertebral bodies, pedicles, spinous processes
    sx = spine_x(A, y).astype(np.float32)[:, None, None]
    zs = zb + 0.55 * b
    ph = np.mod((Y - A["vert_ph"] * A["vert_h"]) / A["vert_h"], 1.0)
    vb = ((X - sx) / 19.0) ** 2 + ((Z - zs) / 15.0) ** 2
    active = Y > A["neck_y"] - 80
    mu = np.where((vb <= 1) & (ph < 0.80) & active, np.where(vb > 0.65, 0.036, 0.028), mu)
    mu = np.where((vb <= 1) & (ph >= 0.80) & active, MU_ST * 1.1, mu)
    for s in (-1, 1):
        pe = ((X - sx - s * 15) / 5.0) ** 2 + ((Z - zs - 18) / 8.0) ** 2 <= 1
        mu = np.where(pe & (ph > 0.08) & (ph < 0.45) & active, 0.055, mu)
    spn = ((X - sx) / 4.5) ** 2 + ((Z - zs - 45) / 12.0) ** 2 <= 1
    mu = np.where(spn & (ph > 0.35) & (ph < 0.85) & active & body, 0.045, mu)
    # sternum
    st = (((X - xb - 6 * A["rot"]) / 14.0) ** 2 + ((Z - 8) / 5.0) ** 2 <= 1) & (Y > A["apex_y"] + 40) & (Y < A["apex_y"] + 200)
    mu[st & body] = 0.04
    proj = mu.sum(axis=2) * v  # line integral (ny, nx)
    proj = cv2.GaussianBlur(proj.astype(np.float32), (0, 0), 0.75)  # partial-volume / penumbra
    return proj


# ----------------------------------------------------------------------------
# analytic full-resolution structures
# ----------------------------------------------------------------------------
def draw_tube(Lf, A, pts_mm, hw_mm, prof, fade=None, mask=None, mask_hw=None):
    """Add a tube along a polyline; prof(d_mm) gives line integral vs distance."""
    H, W = Lf.shape
    sp = A["sp"]
    p = to_px(A, pts_mm)
    pad = hw_mm / sp + 3
    x0 = int(max(0, math.floor(p[:, 0].min() - pad)))
    x1 = int(min(W, math.ceil(p[:, 0].max() + pad)))
    y0 = int(max(0, math.floor(p[:, 1].min() - pad)))
    y1 = int(min(H, math.ceil(p[:, 1].max() + pad)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    img = np.ones((y1 - y0, x1 - x0), np.uint8)
    q = np.round((p - [x0, y0]) * 16).astype(np.int32)
    cv2.polylines(img, [q], False, 0, 1, cv2.LINE_8, 4)
    d = cv2.distanceTransform(img, cv2.DIST_L2, 5)
    step = 4.0
    n = int((hw_mm / sp + 2) * step) + 2
    dd = np.arange(n) / step * sp
    lut = prof(dd).astype(np.float32)
    lut[-1] = 0
    if img.min() > 0:
        return
    val = lut[np.minimum(d * step, n - 1).astype(np.int32)]
    if fade is not None:
        xs = (np.arange(x0, x1) - (W - 1) / 2.0) * sp
        val *= fade(xs)[None, :].astype(np.float32)
    Lf[y0:y1, x0:x1] += val
    if mask is not None:
        mask[y0:y1, x0:x1] |= (d * sp < (mask_hw or hw_mm)).astype(np.uint8)


def shell_profile(a, c, t, mu_c, mu_m):
    def f(d):
        o = 2 * c * np.sqrt(np.clip(1 - (d / a) ** 2, 0, None))
        ai, ci = max(a - t, 0.1), max(c - t, 0.1)
        i = 2 * ci * np.sqrt(np.clip(1 - (d / ai) ** 2, 0, None))
        return mu_c * (o - i) + mu_m * i
    return f


def add_bones(Lf, A, rng, bone):
    sp = A["sp"]
    for s in (-1, 1):
        Lg = A["lungs"][s]
        for k in range(11):
            yk = A["rib1_y"] + k * A["rib_gap"] * (1 + 0.03 * k) + U(rng, -2, 2)
            sx = float(spine_x(A, yk))
            x0 = sx + s * 11
            drop = A["rib_drop"] * (0.6 + 0.09 * k) + U(rng, -4, 4)
            yL = yk + drop
            xL = A["xb"] + s * (float(thorax_hw(A, yL)) - U(rng, 6, 12)) - 6 * A["rot"]
            if k == 0:
                xL = sx + s * (Lg["w"] * 0.45 + 20)
            ctrl = [(x0, yk), (x0 + 0.35 * (xL - x0), yk - U(rng, 8, 16)),
                    (xL - s * U(rng, 2, 10), yL - 0.65 * drop), (xL, yL)]
            hw = A["rib_hw"] * (0.7 if k == 0 else 1.0) * U(rng, 0.9, 1.1)
            prof = shell_profile(hw, hw * 0.65, A["rib_ct"], A["rib_mu"], 0.009)
            draw_tube(Lf, A, bezier(ctrl, 50), hw, prof, mask=bone)
            if k < 9:
                xm = A["xb"] + s * (U(rng, 25, 40) + 0.3 * Lg["w"]) - 4 * A["rot"]
                if k == 0:
                    xm = A["xb"] + s * U(rng, 22, 32)
                ym = yL + A["ant_drop"] * (0.7 + 0.06 * k) + U(rng, -4, 4)
                if k == 0:
                    ym = A["clav_y"] + U(rng, 5, 18)
                ctrl = [(xL, yL), (xL - s * 25, yL + U(rng, 0, 12)), (xm + s * 30, ym - U(rng, 5, 12)), (xm, ym)]
                ahw = hw * U(rng, 1.15, 1.45)
                prof = shell_profile(ahw, ahw * 0.45, 0.6, A["ant_mu"], 0.005)
                xf0, xf1 = xm, xm + s * 0.5 * abs(xL - xm)

                def fade(xs, xf0=xf0, xf1=xf1):
                    return smoothstep((xs - xf0) / (xf1 - xf0))
                draw_tube(Lf, A, bezier(ctrl, 50), ahw, prof, fade=fade, mask=bone)
        # clavicle
        cy = A["clav_y"] + U(rng, -4, 4)
        xm = A["xb"] + s * U(rng, 18, 30) + 10 * A["rot"]
        xl = A["xb"] + s * (A["th_hw"] + U(rng, -15, 8))
        tilt = math.tan(math.radians(A["clav_tilt"]))
        yl = cy + tilt * abs(xl - xm)
        ctrl = [(xm, cy), (xm + 0.3 * (xl - xm), cy + 8), (xm + 0.7 * (xl - xm), yl - 10), (xl, yl)]
        hw = U(rng, 6, 8)
        draw_tube(Lf, A, bezier(ctrl, 60), hw, shell_profile(hw, hw * 0.8, 1.6, 0.065, 0.012), mask=bone)
    # scapular medial borders (faint, lateral upper fields)
    for s in (-1, 1):
        if rng.random() < 0.6:
            xs_ = A["xb"] + s * A["th_hw"] * U(rng, 0.62, 0.8)
            ctrl = [(xs_ + s * 30, A["clav_y"] + 10), (xs_ - s * 8, A["clav_y"] + 70), (xs_ + s * 20, A["clav_y"] + 140)]
            draw_tube(Lf, A, bezier(ctrl, 40), 4.0, shell_profile(4.0, 10, 1.0, 0.02, 0.005))


def add_vessels(Lf, A, rng, lmask_small, small_sp):
    """Branching vessel trees from each hilum plus end-on dots."""
    sp = A["sp"]
    H, W = Lf.shape
    la = np.zeros_like(Lf)
    lb = np.zeros_like(Lf)
    mu = A["vessel_mu"]
    hh, ww = lmask_small.shape

    def inside(x, y, margin=0):
        i = int(round(y / small_sp + (hh - 1) / 2))
        j = int(round(x / small_sp + (ww - 1) / 2))
        return 0 <= i < hh and 0 <= j < ww and lmask_small[i, j] > 0

    segs = []

    def grow(x, y, ang, d, ln, depth):
        for _ in range(3):
            ang += rng.normal(0, 0.12)
            nx_ = x + math.cos(ang) * ln / 3
            ny_ = y + math.sin(ang) * ln / 3
            if depth > 1 and not inside(nx_, ny_):
                return
            segs.append((x, y, nx_, ny_, d))
            x, y = nx_, ny_
        if d < 0.9 or depth > 8:
            return
        spread = U(rng, 0.3, 0.7)
        r = U(rng, 0.65, 0.85)
        grow(x, y, ang + spread * U(rng, 0.4, 1.0), d * r, ln * U(rng, 0.65, 0.85), depth + 1)
        grow(x, y, ang - spread * U(rng, 0.4, 1.0), d * (1.45 - r), ln * U(rng, 0.65, 0.85), depth + 1)

    for s in (-1, 1):
        Lg = A["lungs"][s]
        hx = Lg["med_x"] + s * U(rng, 8, 20)
        hy = Lg["apex_y"] + (Lg["base_y"] - Lg["apex_y"]) * U(rng, 0.38, 0.48)
        for phi in (-70, -35, 0, 30, 60, 85):
            phi_r = math.radians(phi + U(rng, -12, 12))
            ang = math.atan2(math.sin(phi_r), s * math.cos(phi_r))
            grow(hx, hy, ang, U(rng, 5.5, 9.0), U(rng, 30, 50), 1)
    for (x0, y0, x1, y1, d) in segs:
        p0 = ((x0 / sp + (W - 1) / 2) * 16, (y0 / sp + (H - 1) / 2) * 16)
        p1 = ((x1 / sp + (W - 1) / 2) * 16, (y1 / sp + (H - 1) / 2) * 16)
        p0 = (int(round(p0[0])), int(round(p0[1])))
        p1 = (int(round(p1[0])), int(round(p1[1])))
        t = max(1, int(round(d / sp)))
        peak = mu * d
        cv2.line(la, p0, p1, 0.6 * peak, t, cv2.LINE_8, 4)
        cv2.line(lb, p0, p1, 0.4 * peak, max(1, int(round(0.55 * d / sp))), cv2.LINE_8, 4)
    v = la + lb
    # end-on vessels: small bright dots, denser toward the hila
    ndots = int(rng.integers(25, 80))
    for _ in range(ndots):
        for _try in range(20):
            s = int(rng.choice([-1, 1]))
            Lg = A["lungs"][s]
            x = Lg["med_x"] + s * Lg["w"] * (rng.random() ** 1.4)
            y = U(rng, Lg["apex_y"], Lg["base_y"])
            if inside(x, y):
                break
        r = U(rng, 0.8, 2.8) * (1.0 - 0.5 * abs(x - Lg["med_x"]) / Lg["w"])
        r = max(r, 0.7)
        length = r * U(rng, 3, 7)
        c = (int(round((x / sp + (W - 1) / 2) * 16)), int(round((y / sp + (H - 1) / 2) * 16)))
        rp = r / sp
        cv2.circle(v, c, int(rp * 16), mu * length * 0.5, -1, cv2.LINE_8, 4)
        cv2.circle(v, c, int(rp * 0.6 * 16), mu * length * 0.5, -1, cv2.LINE_8, 4)
    v = cv2.GaussianBlur(v, (0, 0), max(0.8, 0.35 / sp))
    soft = cv2.GaussianBlur(lmask_small.astype(np.float32) / 255.0, (0, 0), 3.0 / small_sp * 1.0)
    soft = cv2.resize(soft, (W, H), interpolation=cv2.INTER_LINEAR)
    Lf += v * np.clip(soft * 1.3, 0, 1)


def add_devices(Lf, A, rng):
    """Tubes, lines, pacemaker, ECG electrodes: non-nodule distractors."""
    fx, fy = A["fov"]
    top = -fy / 2 - 5
    xb = A["xb"]
    if A["ng"]:
        xe = xb + U(rng, 5, 15)
        Ll = A["lungs"][1]
        ctrl = [(xe - 5, top), (xe, A["carina_y"]), (xe + 5, Ll["base_y"] - 10),
                (Ll["med_x"] + 0.4 * Ll["w"], Ll["base_y"] + U(rng, 20, 50))]
        pts = bezier(ctrl, 80)
        draw_tube(Lf, A, pts, 2.6, shell_profile(2.6, 2.6, 0.5, 0.03, 0.0))
        draw_tube(Lf, A, pts + [1.2, 0], 0.6, shell_profile(0.6, 0.6, 0.6, 0.25, 0.0))
    if A["cvc"]:
        s = int(rng.choice([-1, 1]))
        xs_ = xb + s * U(rng, 60, 110)
        ctrl = [(xs_, top), (xs_ - s * 20, A["clav_y"] + 5), (xb - U(rng, 12, 22), A["clav_y"] + 25),
                (xb - U(rng, 15, 25), A["carina_y"] + U(rng, 5, 30))]
        draw_tube(Lf, A, bezier(ctrl, 80), 1.2, shell_profile(1.2, 1.2, 0.4, 0.12, 0.02))
    if A["pacer"]:
        s = int(rng.choice([-1, 1], p=[0.25, 0.75]))
        cx = xb + s * U(rng, 70, 110)
        cy = A["clav_y"] + U(rng, 25, 50)
        H, W = Lf.shape
        sp = A["sp"]
        can = np.zeros((int(70 / sp), int(70 / sp)), np.float32)
        cc = (can.shape[1] // 2, can.shape[0] // 2)
        cv2.ellipse(can, cc, (int(U(rng, 22, 28) / sp), int(U(rng, 17, 22) / sp)), U(rng, -30, 30), 0, 360, 2.2, -1)
        cv2.ellipse(can, cc, (int(15 / sp), int(11 / sp)), 0, 0, 360, 2.8, -1)
        can = cv2.GaussianBlur(can, (0, 0), 0.5 / sp)
        px, py = to_px(A, [(cx, cy)])[0]
        x0, y0 = int(px) - cc[0], int(py) - cc[1]
        xa, ya = max(0, x0), max(0, y0)
        xe_, ye_ = min(W, x0 + can.shape[1]), min(H, y0 + can.shape[0])
        if xe_ > xa and ye_ > ya:
            Lf[ya:ye_, xa:xe_] += can[ya - y0:ye_ - y0, xa - x0:xe_ - x0]
        h = A["heart"]
        for j in range(int(rng.integers(1, 3))):
            tgt = (h["x"] + U(rng, -20, 30), h["y"] + U(rng, 0, 35))
            ctrl = [(cx, cy), (cx - s * 30, cy + U(rng, -20, 0)), (xb - 15 + 10 * j, A["carina_y"] + 20), tgt]
            draw_tube(Lf, A, bezier(ctrl, 90), 1.0, shell_profile(1.0, 1.0, 0.3, 0.5, 0.3))
    if A["ecg"]:
        for _ in range(int(rng.integers(2, 5))):
            s = int(rng.choice([-1, 1]))
            x = xb + s * U(rng, 30, A["th_hw"])
            y = U(rng, A["clav_y"], A["apex_y"] + A["lung_h"])
            t = np.linspace(0, 2 * math.pi, 40)
            r = U(rng, 8, 12)
            ring = np.stack([x + r * np.cos(t), y + r * np.sin(t)], 1)
            draw_tube(Lf, A, ring, 0.8, shell_profile(0.8, 0.8, 0.8, 0.05, 0.0))
            draw_tube(Lf, A, np.array([(x - 0.5, y), (x + 0.5, y)]), 2.2, shell_profile(2.2, 2.2, 0.5, 0.3, 0.1))


def render_anatomy(A, rng):
    """Full-resolution nodule-free line integral, lung mask and bone mask (ref frame)."""
    W, H, sp = A["W"], A["H"], A["sp"]
    proj = volume_projection(A, rng)
    Lf = cv2.resize(proj, (W, H), interpolation=cv2.INTER_CUBIC)
    bone = np.zeros((H, W), np.uint8)
    add_bones(Lf, A, rng, bone)
    small_sp = 1.0
    ws, hs = int(round(W * sp / small_sp)), int(round(H * sp / small_sp))
    small_sp = W * sp / ws
    lms = lung_mask(A, ws, hs, small_sp)
    add_vessels(Lf, A, rng, lms, small_sp)
    add_devices(Lf, A, rng)
    mask = lung_mask(A, W, H, sp)
    return Lf, mask, bone


# ----------------------------------------------------------------------------
# nodules
# ----------------------------------------------------------------------------
def new_nodule(rng):
    lob = bool(rng.random() < 0.3)
    return dict(lobulated=lob, k=int(rng.integers(3, 7)), amp=U(rng, 0.12, 0.25) if lob else 0.0,
                phi=U(rng, 0, 2 * math.pi), amp2=U(rng, 0.0, 0.08) if lob else 0.0,
                dmu=MU_ST * U(rng, 0.7, 0.9) * (U(rng, 0.25, 1.0) ** 1.3 + 0.12))


def place_nodules(A, rng, nods, dmax, mask, bone):
    """Assign positions (px, ref frame) inside lungs; roughly 35 % over bone."""
    H, W = mask.shape
    sp = A["sp"]
    ys, xs = np.nonzero(mask[::8, ::8])
    placed = []
    for nd, dm in zip(nods, dmax):
        r = dm / 2 / sp
        want_bone = rng.random() < 0.35
        best = None
        for tr in range(400):
            i = int(rng.integers(len(ys)))
            cx = xs[i] * 8 + U(rng, 0, 8)
            cy = ys[i] * 8 + U(rng, 0, 8)
            th = np.linspace(0, 2 * math.pi, 24, endpoint=False)
            rr = r + 2.0 / sp
            px = np.clip(np.round(cx + rr * np.cos(th)).astype(int), 0, W - 1)
            py = np.clip(np.round(cy + rr * np.sin(th)).astype(int), 0, H - 1)
            if not np.all(mask[py, px] > 0):
                continue
            if any(math.hypot(cx - p[0], cy - p[1]) < r + p[2] + 10 / sp for p in placed):
                continue
            onb = bone[int(round(cy)), int(round(cx))] > 0
            best = (cx, cy)
            if onb == want_bone or tr > 200:
                break
        if best is None:
            return None
        placed.append((best[0], best[1], r))
        nd["cx"], nd["cy"] = best
    return nods


def nodule_patch(nd, diam, sp):
    """Return (x0, y0, patch) line-integral patch of a projected (lobulated) sphere."""
    r = diam / 2.0
    rp = r / sp
    x0 = int(math.floor(nd["cx"] - rp - 2))
    y0 = int(math.floor(nd["cy"] - rp - 2))
    n = int(math.ceil(2 * rp + 5))
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    dx = (xx + x0 - nd["cx"]) * sp
    dy = (yy + y0 - nd["cy"]) * sp
    rho2 = dx * dx + dy * dy
    if nd["lobulated"]:
        th = np.arctan2(dy, dx)
        R = r * (1 - nd["amp"] * 0.5 * (1 - np.cos(nd["k"] * (th - nd["phi"])))
                 - nd["amp2"] * 0.5 * (1 - np.cos((nd["k"] + 2) * th + 1.3 * nd["phi"])))
    else:
        R = r
    chord = 2 * np.sqrt(np.clip(R * R - rho2, 0, None))
    return x0, y0, (chord * nd["dmu"]).astype(np.float32)


def add_patch(img, x0, y0, p):
    H, W = img.shape
    xa, ya = max(0, x0), max(0, y0)
    xb_, yb_ = min(W, x0 + p.shape[1]), min(H, y0 + p.shape[0])
    if xb_ > xa and yb_ > ya:
        img[ya:yb_, xa:xb_] += p[ya - y0:yb_ - y0, xa - x0:xb_ - x0]


def on_rib(nd, diam, sp, bone):
    H, W = bone.shape
    cx, cy = nd["cx"], nd["cy"]
    if bone[int(round(cy)), int(round(cx))]:
        return True
    rp = diam / 2 / sp
    n = int(math.ceil(rp)) + 1
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1]
    ins = (xx ** 2 + yy ** 2) <= rp * rp
    px = np.clip(np.round(cx).astype(int) + xx, 0, W - 1)
    py = np.clip(np.round(cy).astype(int) + yy, 0, H - 1)
    return bool(bone[py, px][ins].mean() >= 0.3)


# ----------------------------------------------------------------------------
# exposure chain
# ----------------------------------------------------------------------------
def exam_params(rng, sp):
    return dict(I0=U(rng, 2500, 16000), sf=U(rng, 0.05, 0.35), scat_mm=U(rng, 30, 60),
                blur_mm=U(rng, 0.12, 0.25), ncorr=U(rng, 0.4, 0.8), k=U(rng, 0.2, 1.0),
                lp_mm=U(rng, 12, 40), g=U(rng, 1.0, 3.0), c=U(rng, 0.4, 0.62),
                out_lo=U(rng, 0.0, 0.04), out_hi=U(rng, 0.95, 1.0), plo=U(rng, 0.2, 2.0), phi=U(rng, 99.0, 99.9),
                elec=U(rng, 0.5, 3.0), lo_pad=U(rng, 0.0, 0.6))


def lowpass(img, sigma_mm, sp, f=8):
    H, W = img.shape
    small = cv2.resize(img, (max(2, W // f), max(2, H // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma_mm / (sp * f)))
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)


def detector(L, P, sp):
    T = np.exp(-L)
    S = lowpass(T, P["scat_mm"], sp)
    E = P["I0"] * (T + P["sf"] * S)
    return cv2.GaussianBlur(E, (0, 0), P["blur_mm"] / sp)


def process(Eb, P, sp, lp=None, win=None, wmask=None):
    D = -np.log(np.maximum(Eb, 1e-3) / P["I0"])
    if lp is None:
        lp = lowpass(D, P["lp_mm"], sp)
    Pp = D + P["k"] * (D - lp)
    if win is None:
        small = cv2.resize(Pp, (Pp.shape[1] // 8, Pp.shape[0] // 8), interpolation=cv2.INTER_AREA)
        ms = cv2.resize(wmask, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        vals = small[ms] if ms.sum() > 100 else small.ravel()
        lo = float(np.percentile(vals, P["plo"]))
        hi = float(np.percentile(small, P["phi"]))
        win = (lo - 0.25 * (hi - lo) * P["lo_pad"], hi)
    u = np.clip((Pp - win[0]) / (win[1] - win[0]), 0, 1)
    g, c = P["g"], P["c"]
    t0, t1 = math.tanh(-g * c), math.tanh(g * (1 - c))
    f = (np.tanh(g * (u - c)) - t0) / (t1 - t0)
    out = 4095.0 * (P["out_lo"] + (P["out_hi"] - P["out_lo"]) * f)
    return out.astype(np.float32), lp, win


def render_exam(L_base, nod_list, P, sp, rng, M=None, wmask=None):
    """nod_list: [(nd, diam)] in ref frame.  M: 2x3 this->ref pixel affine or None."""
    H, W = L_base.shape
    Ln = np.zeros_like(L_base)
    for nd, diam in nod_list:
        add_patch(Ln, *nodule_patch(nd, diam, sp))
    Lw = L_base + Ln
    Lb = L_base
    if M is not None:
        fl = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        Lw = cv2.warpAffine(Lw, M, (W, H), flags=fl, borderMode=cv2.BORDER_REPLICATE)
        Lb = cv2.warpAffine(Lb, M, (W, H), flags=fl, borderMode=cv2.BORDER_REPLICATE)
    Ew = detector(Lw, P, sp)
    clean_w, lp, win = process(Ew, P, sp, wmask=wmask)
    Eb = detector(Lb, P, sp) if nod_list else Ew
    clean_b, _, _ = process(Eb, P, sp, lp=None, win=win) if nod_list else (clean_w, None, None)
    noise = rng.standard_normal((H, W), dtype=np.float32)
    sig = P["ncorr"]
    noise = cv2.GaussianBlur(noise, (0, 0), sig)
    noise *= 1.0 / (float(noise[::7, ::7].std()) + 1e-9)
    En = Ew + noise * np.sqrt(np.maximum(Ew, 0)) + P["elec"] * rng.standard_normal((H, W), dtype=np.float32)
    noisy, _, _ = process(En, P, sp, lp=lp, win=win)
    out = np.clip(np.round(noisy), 0, 4095).astype(np.uint16)
    return out, clean_w, clean_b


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------
def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png16(path, img, sp):
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    b = buf.tobytes()
    ppm = int(round(1000.0 / sp))
    extra = png_chunk(b"sBIT", bytes([12])) + png_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    i = 8 + 8 + 13 + 4  # after IHDR
    with open(path, "wb") as f:
        f.write(b[:i] + extra + b[i:])


def write_mask(path, m):
    cv2.imwrite(path, m, [cv2.IMWRITE_PNG_COMPRESSION, 3])


def write_dicom(path, img, sp, pid, date, key, mono1):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    sop_class = "1.2.840.10008.5.1.4.1.1.1.1"
    sop_uid = generate_uid(entropy_srcs=[GEN, key, "sop"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid(entropy_srcs=[GEN, "impl"])
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[GEN, pid, date, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[GEN, key, "series"])
    ds.Modality = "DX"
    ds.PatientID = pid
    ds.PatientName = "PHANTOM^" + pid
    ds.StudyDate = date.replace("-", "")
    ds.SeriesDate = ds.StudyDate
    ds.ContentDate = ds.StudyDate
    ds.ViewPosition = "PA"
    ds.BodyPartExamined = "CHEST"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = "phantom-e synthetic"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.Rows, ds.Columns = img.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [f"{sp:.6f}", f"{sp:.6f}"]
    ds.ImagerPixelSpacing = [f"{sp:.6f}", f"{sp:.6f}"]
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    arr = (4095 - img) if mono1 else img
    ds.PixelData = np.ascontiguousarray(arr.astype("<u2")).tobytes()
    ds.save_as(path, enforce_file_format=True)


# ----------------------------------------------------------------------------
# jobs
# ----------------------------------------------------------------------------
def choose_geometry(rng):
    sp = round(U(rng, 0.14, 0.20), 4)
    fovx, fovy = U(rng, 340, 440), U(rng, 350, 450)
    W = int(np.clip(round(fovx / sp), 1800, 2600))
    H = int(np.clip(round(fovy / sp), 1800, 2600))
    return W, H, sp


def nodule_truth(nd, diam, x, y, clean_w, clean_b, mask_this, sigma, sp, bone, scale):
    rp = diam / 2 / sp * scale
    n = int(math.ceil(rp)) + 1
    H, W = clean_w.shape
    xi, yi = int(round(x)), int(round(y))
    ya, yb_, xa, xb_ = max(0, yi - n), min(H, yi + n + 1), max(0, xi - n), min(W, xi + n + 1)
    yy, xx = np.mgrid[ya:yb_, xa:xb_]
    ins = (xx - x) ** 2 + (yy - y) ** 2 <= rp * rp
    diff = (clean_w[ya:yb_, xa:xb_] - clean_b[ya:yb_, xa:xb_])[ins]
    c = float(diff.max()) if diff.size else 0.0
    return dict(id=nd["id"], x=round(float(x), 2), y=round(float(y), 2), diameter_mm=round(float(diam), 2),
                on_rib=on_rib(nd, diam, sp, bone), lobulated=nd["lobulated"], contrast=round(c, 2),
                cnr=round(c / sigma, 3) if sigma > 0 else None)


def noise_sigma(out, clean, mask):
    d = out[::3, ::3].astype(np.float32) - clean[::3, ::3]
    m = mask[::3, ::3] > 0
    return float(d[m].std()) if m.any() else float(d.std())


def job_single(args):
    seed, idx, outdir, fmt = args
    cv2.setNumThreads(1)
    rng = rng_for(seed, idx, 1)
    W, H, sp = choose_geometry(rng)
    A = make_anatomy(rng, W, H, sp)
    L, mask, bone = render_anatomy(A, rng_for(seed, idx, 2))
    nrng = rng_for(seed, idx, 3)
    nn = int(nrng.choice([0, 1, 1, 2, 2, 3, 4]))
    nods, diams = [], []
    for i in range(nn):
        nd = new_nodule(nrng)
        nd["id"] = f"N{i + 1}"
        nods.append(nd)
        diams.append(float(np.exp(nrng.uniform(math.log(5), math.log(30)))))
    if nods and place_nodules(A, nrng, nods, diams, mask, bone) is None:
        nods, diams = [], []
    P = exam_params(rng_for(seed, idx, 4), sp)
    out, cw, cb = render_exam(L, list(zip(nods, diams)), P, sp, rng_for(seed, idx, 5), wmask=mask)
    sig = noise_sigma(out, cw, mask)
    name = f"e{idx:04d}"
    pid, date = None, None
    if fmt == "dicom":
        pid = f"E-{idx:04d}"
        d0 = dt.date(2016, 1, 1) + dt.timedelta(days=int(rng_for(seed, idx, 6).integers(0, 3000)))
        date = d0.isoformat()
        rel = f"images/{name}.dcm"
        mono1 = rng_for(seed, idx, 7).random() < 0.3
        write_dicom(os.path.join(outdir, rel), out, sp, pid, date, f"{seed}-{idx}", mono1)
    else:
        rel = f"images/{name}.png"
        write_png16(os.path.join(outdir, rel), out, sp)
    mrel = f".masks/{name}_mask.png"
    write_mask(os.path.join(outdir, mrel), mask)
    tn = [nodule_truth(nd, d, nd["cx"], nd["cy"], cw, cb, mask, sig, sp, bone, 1.0) for nd, d in zip(nods, diams)]
    return dict(path=rel, patient_id=pid, study_date=date, width=W, height=H, pixel_spacing_mm=sp,
                lung_mask=mrel, noise_sigma=round(sig, 3), nodules=tn)


def job_patient(args):
    seed, p, outdir, fmt = args
    cv2.setNumThreads(1)
    pid = f"PE-{p:04d}"
    rng = rng_for(seed, 10000 + p, 1)
    W, H, sp = choose_geometry(rng)
    A = make_anatomy(rng, W, H, sp)
    L, mask, bone = render_anatomy(A, rng_for(seed, 10000 + p, 2))
    nrng = rng_for(seed, 10000 + p, 3)
    n_ex = int(nrng.integers(2, 5))
    start = dt.date(2015, 1, 1) + dt.timedelta(days=int(nrng.integers(0, 3000)))
    offs = [0]
    for _ in range(n_ex - 1):
        offs.append(offs[-1] + int(nrng.integers(30, 241)))
    dates = [start + dt.timedelta(days=o) for o in offs]
    nn = int(nrng.choice([0, 1, 1, 2, 2, 3, 3, 4]))
    nods, pn = [], []
    for i in range(nn):
        nd = new_nodule(nrng)
        nd["id"] = f"N{i + 1}"
        st = str(nrng.choice(["growing", "stable", "shrinking", "new"], p=[0.45, 0.35, 0.08, 0.12]))
        if st == "new" and n_ex < 2:
            st = "growing"
        first = int(nrng.integers(1, n_ex)) if st == "new" else 0
        for _try in range(200):
            d0 = float(np.exp(nrng.uniform(math.log(5), math.log(26 if st != "shrinking" else 30))))
            if st == "stable":
                vdt = None
            else:
                vdt = float(np.exp(nrng.uniform(math.log(60), math.log(900))))
                if st == "shrinking":
                    vdt = -vdt
            ds_ = [d0 * (2 ** ((offs[e] - offs[first]) / (3 * vdt)) if vdt else 1) for e in range(first, n_ex)]
            if min(ds_) >= 5 and max(ds_) <= 30:
                break
        else:
            st, vdt, ds_ = "stable", None, [d0] * (n_ex - first)
        nd.update(status=st, vdt=vdt, d0=d0, first=first, diams=[None] * first + ds_)
        nods.append(nd)
        pn.append(dict(id=nd["id"], status=st, vdt_days=round(vdt, 1) if vdt else None, d0_mm=round(d0, 2),
                       d0_date=dates[first].isoformat(), lobulated=nd["lobulated"]))
    if nods:
        dmax = [max(d for d in nd["diams"] if d) for nd in nods]
        if place_nodules(A, nrng, nods, dmax, mask, bone) is None:
            nods, pn = [], []
    images = []
    c = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    mono1 = rng_for(seed, 10000 + p, 7).random() < 0.3
    for e in range(n_ex):
        er = rng_for(seed, 10000 + p, 100 + e)
        if e == 0:
            tx = ty = rot = 0.0
            sc = 1.0
        else:
            tx, ty, rot, sc = U(er, -12, 12), U(er, -12, 12), U(er, -3, 3), 1 + U(er, -0.03, 0.03)
        th = math.radians(rot)
        R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        F = sc * R                                   # ref -> this linear part
        tpx = np.array([tx, ty]) / sp
        Fi = np.linalg.inv(F)
        # p_ref = c + Fi (p_this - c - t)
        Mi = np.hstack([Fi, (c - Fi @ (c + tpx))[:, None]])
        P = exam_params(er, sp)
        present = [(nd, nd["diams"][e]) for nd in nods if nd["diams"][e] is not None]
        M = None if e == 0 else Mi
        m_this = mask if M is None else cv2.warpAffine(mask, Mi, (W, H), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
        out, cw, cb = render_exam(L, present, P, sp, rng_for(seed, 10000 + p, 200 + e), M, wmask=m_this)
        sig = noise_sigma(out, cw, m_this)
        ds = dates[e].isoformat()
        d = os.path.join(outdir, pid, ds)
        os.makedirs(d, exist_ok=True)
        md = os.path.join(outdir, ".masks", pid, ds)
        os.makedirs(md, exist_ok=True)
        if fmt == "dicom":
            rel = f"{pid}/{ds}/pa.dcm"
            write_dicom(os.path.join(outdir, rel), out, sp, pid, ds, f"{seed}-{pid}-{ds}", mono1)
        else:
            rel = f"{pid}/{ds}/pa.png"
            write_png16(os.path.join(outdir, rel), out, sp)
        mrel = f".masks/{pid}/{ds}/pa_mask.png"
        write_mask(os.path.join(outdir, mrel), m_this)
        tn = []
        for nd, diam in present:
            pt = c + F @ (np.array([nd["cx"], nd["cy"]]) - c) + tpx
            t = nodule_truth(nd, diam, pt[0], pt[1], cw, cb, m_this, sig, sp, bone, sc)
            t["on_rib"] = on_rib(nd, diam, sp, bone)
            t["status"] = nd["status"]
            t["vdt_days"] = round(nd["vdt"], 1) if nd["vdt"] else None
            tn.append(t)
        images.append(dict(path=rel, patient_id=pid, study_date=ds, width=W, height=H, pixel_spacing_mm=sp,
                           lung_mask=mrel, noise_sigma=round(sig, 3), nodules=tn,
                           transform_to_reference=dict(
                               tx_mm=round(tx, 4), ty_mm=round(ty, 4), rotation_deg=round(rot, 4), scale=round(sc, 6),
                               reference=images[0]["path"] if images else rel,
                               pixel_affine=[[round(float(v), 8) for v in row] for row in Mi])))
    return dict(patient_id=pid, exams=[d.isoformat() for d in dates], nodules=pn), images


def main():
    ap = argparse.ArgumentParser(description="phantom-e synthetic PA chest radiograph generator (independent).")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--count", type=int, help="number of single images")
    g.add_argument("--series", type=int, help="number of patients (2-4 exams each)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (max 2 recommended)")
    ap.add_argument("--format", choices=["png", "dicom"], default="png")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(os.path.join(a.out, ".masks"), exist_ok=True)
    truth = {"generator": GEN, "version": 1, "seed": a.seed, "images": []}
    jobs = max(1, a.jobs)
    if a.count is not None:
        os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
        tasks = [(a.seed, i + 1, a.out, a.format) for i in range(a.count)]
        fn = job_single
    else:
        tasks = [(a.seed, p + 1, a.out, a.format) for p in range(a.series)]
        fn = job_patient
    if jobs > 1:
        with Pool(jobs) as pool:
            res = list(pool.imap(fn, tasks))
    else:
        res = [fn(t) for t in tasks]
    if a.count is not None:
        truth["images"] = res
    else:
        truth["patients"] = [r[0] for r in res]
        truth["images"] = [im for r in res for im in r[1]]
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    print(f"wrote {len(truth['images'])} images to {a.out}")


if __name__ == "__main__":
    main()
