#!/usr/bin/env python3
"""phantom-b -- synthetic PA chest radiographs with nodule ground truth.

Independent implementation written from the product specification only
(see README.md).  A patient is built once as a set of analytic / vector
structures in a patient frame (mm), rendered into an attenuation line-integral
map P = sum(mu * path length), then "acquired": primary transmission, scatter,
quantum noise, detector blur, log conversion, equalisation, unsharp masking
and a sigmoid tone curve to 12-bit values (MONOCHROME2: attenuation = bright).

Usage:
  python3 make_phantoms_b.py --count N --seed S --out DIR [--size-scale 1.0]
  python3 make_phantoms_b.py --series P --seed S --out DIR
"""
import argparse
import datetime
import heapq
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
cv2.ipp.setUseIPP(False)  # IPP results depend on buffer alignment -> not bit-reproducible

F32 = np.float32

# Effective linear attenuation differences (1/mm, ~60 keV effective energy).
MU_T = 0.020       # soft tissue vs air
MU_LUNG = 0.015    # soft tissue minus aerated lung (lung ~ 25 % tissue)
MU_AIR = 0.020     # gas replacing soft tissue (airways, stomach)
MU_C = 0.034       # cortical bone minus soft tissue
MU_M = 0.011       # cancellous bone / marrow minus soft tissue
MU_BLOOD = 0.015   # blood vessel minus aerated lung
MU_NOD = 0.015     # solid nodule minus aerated lung

GENERATOR = "phantom-b"
VERSION = 1


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
def smooth01(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def rot(theta):
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def lowpass(img, sigma_px):
    """Gaussian low-pass for large sigma via decimation."""
    h, w = img.shape
    f = int(max(1, sigma_px // 6))
    if f <= 1:
        return cv2.GaussianBlur(img, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    sw, sh = max(2, w // f), max(2, h // f)
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / f, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class Grid:
    """Pixel grid; pixel (col,row) centre <-> patient-frame mm."""

    def __init__(self, w, h, sp, ox, oy):
        self.w, self.h, self.sp, self.ox, self.oy = int(w), int(h), float(sp), float(ox), float(oy)

    def to_px(self, X, Y):
        return X / self.sp + self.ox, Y / self.sp + self.oy


class Rng:
    def __init__(self, seed_words):
        self.g = np.random.default_rng(np.random.SeedSequence(seed_words))

    def u(self, a, b):
        return float(self.g.uniform(a, b))

    def lu(self, a, b):
        return float(math.exp(self.g.uniform(math.log(a), math.log(b))))

    def r(self):
        return float(self.g.random())

    def i(self, a, b):  # inclusive
        return int(self.g.integers(a, b + 1))

    def choice(self, seq, p=None):
        return seq[int(self.g.choice(len(seq), p=p))]


# --------------------------------------------------------------------------
# patient model (local frame: u to image right from body midline, y down, mm)
# --------------------------------------------------------------------------
def lung_terms(L, uu, yy):
    """Boundary terms of one lung evaluated at outward coordinate uu, depth yy."""
    du = np.zeros_like(uu)
    dy = np.zeros_like(yy)
    for (ku, ky, ph, au, ay) in L["warp"]:
        arg = ku * uu + ky * yy + ph
        du = du + au * np.sin(arg)
        dy = dy + ay * np.cos(arg)
    uu = uu + du
    yy = yy + dy
    tau = np.clip((yy - L["y_apex"]) / L["H"], 0.0, 1.0)
    u_lat = L["Lw"] * (1.0 - (1.0 - L["r0"]) * (1.0 - tau) ** L["k"])
    u_med = L["m0"] + (L["m1"] - L["m0"]) * smooth01((yy - L["y_apex"]) / (0.55 * L["H"]))
    if L["knob_a"] > 0:
        u_med = u_med + L["knob_a"] * np.exp(-((yy - L["knob_y"]) / L["knob_s"]) ** 2)
    if "waist" in L:
        y0, u0, y1, u1, p = L["waist"]
        tt = np.clip((yy - y0) / (y1 - y0), 0.0, 1.0)
        uw = np.where((yy >= y0) & (yy <= y1), u0 + (u1 - u0) * tt ** p, 0.0)
        u_med = np.maximum(u_med, uw)
    cap = L["y_apex"] + L["kcap"] * (uu - L["u_ac"]) ** 2
    upk = L["u_pk"]
    lat = np.clip((uu - upk) / (L["Lw"] - upk), 0, None)
    med = np.clip((upk - uu) / upk, 0, None)
    dome = L["y_dpk"] + L["dlat"] * lat ** 2 + L["dmed"] * med ** 2
    return uu, yy, u_lat, u_med, cap, dome


def lung_inside(L, uu, yy, ext=0.0):
    uu, yy, u_lat, u_med, cap, dome = lung_terms(L, uu, yy)
    return (uu > u_med) & (uu < u_lat) & (yy > cap) & (yy < dome + ext)


def heart_q(Hh, u, y):
    c, s = math.cos(Hh["th"]), math.sin(Hh["th"])
    du, dy = u - Hh["hx"], y - Hh["hy"]
    a = (c * du + s * dy) / Hh["ha"]
    b = (-s * du + c * dy) / Hh["hb"]
    phi = np.arctan2(b, a)
    f = 1.0
    for (k, amp, ph) in Hh.get("harm", []):
        f = f + amp * np.cos(k * phi + ph)
    return (a * a + b * b) / (f * f)


def make_patient(R, FW, FH):
    pt = {"FW": FW, "FH": FH}
    pt["roll"] = math.radians(R.u(-2.5, 2.5))
    pt["xm"] = R.u(-12, 12)
    ytop, ybot = -FH / 2.0, FH / 2.0
    y_apex = ytop + R.u(18, 50)
    H = R.u(235, 310)
    H = min(H, ybot - 50 - y_apex)
    Lw_max = FW / 2.0 - abs(pt["xm"]) - 22
    Lw = min(R.u(118, 168), Lw_max)
    pt["y_apex"] = y_apex
    pt["H"] = H
    lungs = {}
    for side in (-1, 1):
        L = {}
        L["Lw"] = Lw * R.u(0.94, 1.04) if side == 1 else Lw
        L["Lw"] = min(L["Lw"], Lw_max)
        L["y_apex"] = y_apex + R.u(-6, 6)
        L["H"] = H + (R.u(0, 22) if side == 1 else 0.0)
        L["H"] = min(L["H"], ybot - 45 - L["y_apex"])
        L["r0"] = R.u(0.52, 0.7)
        L["k"] = R.u(1.8, 3.0)
        L["u_ac"] = R.u(0.36, 0.5) * L["Lw"]
        L["kcap"] = R.u(0.018, 0.038)
        if side == -1:
            L["m0"] = R.u(16, 26)
            L["m1"] = L["m0"] + R.u(0, 8)
            L["knob_a"] = 0.0
            L["knob_y"] = 0.0
            L["knob_s"] = 1.0
        else:
            L["m0"] = R.u(14, 22)
            L["m1"] = R.u(22, 34)
            L["knob_a"] = R.u(10, 22)
            L["knob_y"] = y_apex + R.u(0.17, 0.27) * H
            L["knob_s"] = R.u(10, 17)
        y_cp = L["y_apex"] + L["H"]
        L["y_dpk"] = y_cp - R.u(20, 42)
        L["u_pk"] = R.u(0.35, 0.55) * L["Lw"]
        L["dlat"] = y_cp - L["y_dpk"]
        L["dmed"] = R.u(4, 18)
        warp = []
        for _ in range(4):
            lam = R.u(110, 300)
            ang = R.u(0, 2 * math.pi)
            k = 2 * math.pi / lam
            warp.append((k * math.cos(ang), k * math.sin(ang), R.u(0, 2 * math.pi), R.u(0.5, 3.0), R.u(0.5, 3.0)))
        L["warp"] = warp
        lungs[side] = L
    pt["lungs"] = lungs
    # body
    Dt = R.u(185, 260)
    pt["body"] = dict(
        a_t=max(lungs[-1]["Lw"], lungs[1]["Lw"]) + R.u(18, 45),
        D_t=Dt,
        a_n=R.u(45, 65), D_n=R.u(100, 130),
        y_sh=y_apex + R.u(-25, 8),
        w_ab=R.u(-0.08, 0.05),
    )
    pt["body"]["a_s"] = pt["body"]["a_t"] + R.u(8, 35)
    pt["A0"] = Dt * R.u(0.55, 0.7)
    pt["ds"] = R.u(25, 45)
    pt["rec_r0"] = R.u(0.25, 0.45)
    pt["rec_lam"] = R.u(18, 35)
    # heart
    ctr = R.u(0.38, 0.55)
    Wh = ctr * (lungs[-1]["Lw"] + lungs[1]["Lw"] + 16)
    th = math.radians(R.u(12, 35))
    ratio = R.u(0.62, 0.78)
    ext_x = math.sqrt(math.cos(th) ** 2 + (ratio * math.sin(th)) ** 2)
    ha = Wh / 2.0 / ext_x
    hb = ratio * ha
    right_border = R.u(0.25, 0.40) * Wh
    hx = -right_border + Wh / 2.0
    Ll = lungs[1]
    y_bottom = Ll["y_dpk"] + Ll["dmed"] + R.u(0, 18)
    ext_y = math.sqrt((ha * math.sin(th)) ** 2 + (hb * math.cos(th)) ** 2)
    harm = [(k, R.u(0.0, 0.035), R.u(0, 2 * math.pi)) for k in (2, 3, 4)]
    pt["heart"] = dict(hx=hx, hy=y_bottom - ext_y, ha=ha, hb=hb, th=th, hc=R.u(85, 130), harm=harm)
    Hh = pt["heart"]
    phi = np.linspace(0, 2 * math.pi, 720, endpoint=False)
    f = 1.0 + sum(amp * np.cos(k * phi + ph) for (k, amp, ph) in harm)
    aa, bb = f * np.cos(phi), f * np.sin(phi)
    cu = Hh["hx"] + math.cos(th) * ha * aa - math.sin(th) * hb * bb
    cyy = Hh["hy"] + math.sin(th) * ha * aa + math.cos(th) * hb * bb
    jl, jr = int(np.argmax(cu)), int(np.argmin(cu))
    y_car_ = y_apex + 0.29 * H
    Lk = lungs[1]
    knob_u = Lk["m0"] + (Lk["m1"] - Lk["m0"]) * float(smooth01((Lk["knob_y"] - Lk["y_apex"]) / (0.55 * Lk["H"]))) + Lk["knob_a"]
    if cyy[jl] > Lk["knob_y"] + 10:
        Lk["waist"] = (Lk["knob_y"], knob_u * R.u(0.75, 0.92), float(cyy[jl]), float(cu[jl]) - 3.0, R.u(1.0, 2.0))
    Lr = lungs[-1]
    if cyy[jr] > y_car_ + 10:
        base_u = Lr["m0"] + (Lr["m1"] - Lr["m0"]) * float(smooth01((y_car_ - Lr["y_apex"]) / (0.55 * Lr["H"])))
        Lr["waist"] = (y_car_, base_u, float(cyy[jr]), float(-cu[jr]) - 3.0, R.u(0.7, 1.3))
    # airways
    y_car = y_apex + R.u(0.24, 0.34) * H
    u_car = R.u(-4, 5)
    r_tr = R.u(7, 10)
    a_r = math.radians(R.u(20, 32))
    a_l = math.radians(R.u(38, 52))
    Lr, Ll_ = R.u(22, 34), R.u(38, 52)
    br_r = (u_car - Lr * math.sin(a_r), y_car + Lr * math.cos(a_r))
    br_l = (u_car + Ll_ * math.sin(a_l), y_car + Ll_ * math.cos(a_l))
    pt["airways"] = [
        ((R.u(-4, 4), ytop - 20.0), (u_car, y_car), r_tr, r_tr * 0.95),
        ((u_car, y_car), br_r, r_tr * 0.8, r_tr * 0.65),
        ((u_car, y_car), br_l, r_tr * 0.72, r_tr * 0.6),
    ]
    pt["hilum"] = {-1: (-R.u(44, 60), y_car + R.u(18, 38)),
                   1: (R.u(46, 64), y_car + R.u(2, 24))}
    # ribs / spine levels
    n_d = R.u(9.0, 10.6)
    gr = R.u(0.01, 0.04)
    y1 = y_apex + R.u(-6, 10)
    m = n_d - 1.0
    d0 = (lungs[-1]["y_dpk"] - y1) / (m + gr * m * (m + 1) / 2.0)
    d0 = float(np.clip(d0, 15, 30))
    levels = {}
    y = y1
    for k in range(1, 13):
        levels[k] = (y, d0 * (1 + gr * k))
        y += d0 * (1 + gr * k)
    pt["levels"] = levels
    pt["d0"] = d0
    # spine
    sc_amp = R.u(0, 6) if R.r() < 0.5 else 0.0
    sc_ph = R.u(0, 2 * math.pi)
    pt["scol"] = (sc_amp, sc_ph)
    verts = []
    wv_base = R.u(13, 17)
    # thoracic 1..12 aligned with ribs, cervical above, lumbar below
    for k in range(-6, 18):
        if 1 <= k <= 12:
            yk, dk = levels[k]
        elif k < 1:
            yk = levels[1][0] + (k - 1) * d0 * 0.8
            dk = d0 * 0.8
        else:
            yk = levels[12][0] + (k - 12) * levels[12][1] * 1.1
            dk = levels[12][1] * 1.1
        if yk - dk > ybot + 40 or yk + dk < ytop - 40:
            continue
        kk = min(max(k, -6), 17)
        wv = wv_base + 0.55 * max(kk, 0) if kk >= 0 else wv_base * 0.8
        disc = R.u(2.0, 3.5)
        yc = yk - 0.25 * dk + (dk - disc) / 2.0
        verts.append(dict(yc=yc, hv=dk - disc, wv=wv, e=wv * R.u(0.65, 0.8), c=R.u(0.9, 1.4)))
    pt["verts"] = verts
    pt["spine_d"] = R.u(0.4, 0.7)
    # ribs
    dens = R.u(0.8, 1.5)
    wfac = R.u(0.38, 0.55)
    ribs = []
    has12 = R.r() < 0.7
    for side in (-1, 1):
        L = lungs[side]
        for k in range(1, 13):
            if k == 12 and not has12:
                continue
            yk, dk = levels[k]
            yk += R.u(-2.5, 2.5) + (1.5 if side == 1 else 0.0)
            dyl = dk * R.u(0.95, 1.4) * (0.55 if k == 1 else 1.0) * (1 + 0.12 * max(0, k - 6))
            ylat = yk + dyl
            # lateral extent follows the lung lateral border
            tau = min(max((ylat - L["y_apex"]) / L["H"], 0.0), 1.2)
            if tau <= 1.0:
                W = L["Lw"] * (1 - (1 - L["r0"]) * (1 - tau) ** L["k"])
                W = min(W, L["u_ac"] + math.sqrt(max(ylat - L["y_apex"], 1.0) / L["kcap"])) + R.u(3, 8)
            else:
                W = L["Lw"] + 5 - 25 * (tau - 1.0)
            W = max(W, 0.42 * L["Lw"])
            dya = dk * R.u(2.2, 3.0) * (0.5 if k == 1 else (0.8 if k == 2 else 1.0))
            ua = 22 + 7 * (k - 1) if k <= 7 else 64 + 10 * (k - 7)
            ua = min(ua, 0.75 * W)
            hp = dk * wfac * 0.5 * R.u(0.9, 1.1) * (1.2 if k <= 2 else 1.0)
            s_end = 2.0
            if k >= 8:
                s_end = 1.0 + R.u(0.3, 0.7) * (1.0 if k <= 10 else 0.0)
            if k >= 11:
                s_end = R.u(0.7, 0.95)
            ribs.append(dict(side=side, k=k, yk=yk, dyl=dyl, dya=dya, W=W, ua=ua,
                             rise=dk * R.u(0.15, 0.4), hp=hp, ha=hp * R.u(1.2, 1.5),
                             ep=R.u(3.0, 4.2), ea=R.u(2.6, 3.4), cp=R.u(1.0, 1.8), ca=R.u(0.8, 1.3),
                             dp=dens * R.u(0.9, 1.1), da=dens * R.u(0.6, 0.9), s_end=s_end))
    pt["ribs"] = ribs
    pt["ant_blur_mm"] = R.u(0.3, 0.8)
    # clavicles
    clav = []
    yc0 = y_apex + R.u(25, 50)
    for side in (-1, 1):
        u0 = R.u(12, 24)
        u1 = min(lungs[side]["Lw"] + R.u(15, 40), pt["body"]["a_s"] - R.u(5, 20))
        clav.append(dict(side=side, u0=u0, y0=yc0 + R.u(-4, 4), u1=u1, y1=yc0 - R.u(12, 40),
                         amp=R.u(4, 10), hw=R.u(6.0, 8.5), e=R.u(5, 7), c=R.u(1.4, 2.2), d=dens * R.u(0.9, 1.1)))
    pt["clav"] = clav
    # arms
    pt["arms"] = None
    if R.r() < 0.25:
        pt["arms"] = dict(r=R.u(35, 50), off=R.u(0.3, 0.9), rh=R.u(9, 13), head=R.u(20, 25))
    # breasts
    pt["breasts"] = None
    if R.r() < 0.25:
        br = []
        for side in (-1, 1):
            L = lungs[side]
            br.append(dict(side=side, u=R.u(0.5, 0.75) * L["Lw"], y=L["y_apex"] + L["H"] - R.u(50, 100),
                           rx=R.u(50, 85), ry=R.u(35, 60), t=R.u(6, 16)))
        pt["breasts"] = br
    # stomach bubble (image right, under the left dome)
    pt["stomach"] = None
    if R.r() < 0.55:
        L = lungs[1]
        su = R.u(0.35, 0.7) * L["Lw"]
        pt["stomach"] = dict(u=su, y=L["y_dpk"] + R.u(18, 35), rx=R.u(18, 40), ry=R.u(10, 22), t=R.u(12, 32))
    # lung texture (fixed lattice in local mm, 0.5 mm)
    tsp = 0.5
    u_lo, u_hi = -FW / 2.0 - 40, FW / 2.0 + 40
    y_lo, y_hi = y_apex - 30, ybot + 40
    nx, ny = int((u_hi - u_lo) / tsp) + 1, int((y_hi - y_lo) / tsp) + 1
    n = R.g.standard_normal((ny, nx)).astype(F32)
    fine = cv2.GaussianBlur(n, (0, 0), R.u(1.4, 2.2)) - cv2.GaussianBlur(n, (0, 0), R.u(5, 8))
    coarse = cv2.GaussianBlur(n, (0, 0), R.u(14, 24))
    fine /= fine.std() + 1e-9
    coarse /= coarse.std() + 1e-9
    pt["tex"] = (fine * R.u(0.008, 0.02) + coarse * R.u(0.01, 0.03)).astype(F32)
    pt["tex_org"] = (u_lo, y_lo, tsp)
    # vessels
    pt["ves_k"] = R.u(1.6, 2.3)
    pt["ves_blur_mm"] = R.u(0.25, 0.6)
    pt["vessels"] = {side: grow_vessels(pt, R, side) for side in (-1, 1)}
    return pt


def grow_vessels(pt, R, side):
    """Projected pulmonary vessel tree of one lung (local mm, outward u)."""
    L = pt["lungs"][side]
    hu, hy = pt["hilum"][side]
    hu_o = side * hu  # outward coordinate
    cu, cy = 0.55 * L["Lw"], L["y_apex"] + 0.55 * L["H"]
    rmin = R.u(0.45, 0.6)
    budget_total = R.i(2000, 3200)
    base = [-110, -75, -40, -10, 20, 50, 80, 105]
    n_tr = R.i(5, 7)
    idx = sorted(R.g.choice(len(base), n_tr, replace=False).tolist())
    trunks, dots, rings = [], [], []

    def inside(u, y):
        return bool(lung_inside(L, np.array([u]), np.array([y]), ext=15.0)[0])

    # hilar (central pulmonary artery) segment from the mediastinal edge
    r_h = R.u(5.0, 7.0)
    mu0 = max(L["m1"], 20.0) - 4
    if side == 1:   # left pulmonary artery arches over the bronchus
        pa = (mu0, hy + R.u(0, 8))
        pb = (hu_o, hy - R.u(6, 14))
        pc = (hu_o + R.u(0, 8), hy + R.u(25, 45))
    else:           # right interlobar artery descends
        pa = (mu0, hy - R.u(5, 15))
        pb = (hu_o, hy)
        pc = (hu_o + R.u(-3, 5), hy + R.u(35, 55))
    hil = [(side * pa[0], pa[1], side * pb[0], pb[1], r_h, r_h * 0.9),
           (side * pb[0], pb[1], side * pc[0], pc[1], r_h * 0.85, r_h * 0.7)]
    trunks.append(hil)
    cnt = 0
    for i in idx:
        ang0 = math.radians(base[i] + R.u(-12, 12))
        r0 = R.u(2.8, 4.5) if base[i] < -30 else R.u(3.5, 5.8)
        segs = []
        if base[i] < 0:
            f = R.u(0.5, 1.0)
            su, sy = pa[0] + f * (pb[0] - pa[0]), pa[1] + f * (pb[1] - pa[1])
        else:
            f = R.u(0.0, 1.0)
            su, sy = pb[0] + f * (pc[0] - pb[0]), pb[1] + f * (pc[1] - pb[1])
        su += R.u(-4, 4)
        sy += R.u(-4, 4)
        heap = [(-r0, cnt, su, sy, ang0, r0, 0)]
        budget = budget_total // n_tr
        while heap and len(segs) < budget:
            _, _, pu, py, ang, r, gen = heapq.heappop(heap)
            Ls = float(np.clip(r * R.u(5, 11), 3.0, 36.0))
            ok = False
            a = ang + math.radians(R.u(-8, 8))
            for att in range(4):
                eu, ey = pu + Ls * math.cos(a), py + Ls * math.sin(a)
                if inside(eu, ey) or (gen < 2 and att == 0):
                    ok = True
                    break
                # steer toward lung centre and shorten
                tc = math.atan2(cy - py, cu - pu)
                da = (tc - a + math.pi) % (2 * math.pi) - math.pi
                a += 0.5 * da
                Ls *= 0.65
            if not ok:
                continue
            # curved branch: 3 sub-segments with drifting direction
            r_end = r * R.u(0.88, 0.98)
            nsub = 3 if Ls > 6 else 1
            qu, qy, qa = pu, py, a - math.radians(R.u(-6, 6))
            for j in range(nsub):
                qa2 = qa + math.radians(R.u(-9, 9))
                l = Ls / nsub
                nu, ny_ = qu + l * math.cos(qa2), qy + l * math.sin(qa2)
                ra = r + (r_end - r) * j / nsub
                rb = r + (r_end - r) * (j + 1) / nsub
                segs.append((side * qu, qy, side * nu, ny_, ra, rb))
                qu, qy, qa = nu, ny_, qa2
            eu, ey, a = qu, qy, qa
            if 0.9 < r_end < 3.2 and R.r() < 0.06:
                rd = r_end * R.u(0.9, 1.2)
                off = R.u(0, 2 * math.pi)
                dots.append((side * (eu + 1.5 * rd * math.cos(off)), ey + 1.5 * rd * math.sin(off), rd, R.u(4, 11)))
            if r_end > 2.0 and math.hypot(eu - hu_o, ey - hy) < 60 and R.r() < 0.04:
                rb = r_end * R.u(0.8, 1.1)
                off = R.u(0, 2 * math.pi)
                rings.append((side * (eu + (r_end + rb + 0.5) * math.cos(off)), ey + (r_end + rb + 0.5) * math.sin(off),
                              rb, R.u(0.6, 1.0), R.u(6, 12)))
            alpha = R.u(0.35, 1.0)
            r1 = r_end / (1 + alpha ** 3) ** (1 / 3.0)
            r2 = alpha * r1
            sg = 1 if R.r() < 0.5 else -1
            a1 = a + sg * math.radians(R.u(4, 22)) * alpha
            a2 = a - sg * math.radians(R.u(28, 65))
            for (rr, aa) in ((r1, a1), (r2, a2)):
                if rr >= rmin:
                    cnt += 1
                    heapq.heappush(heap, (-rr, cnt, eu, ey, aa, rr, gen + 1))
        trunks.append(segs)
    return dict(trunks=trunks, dots=dots, rings=rings)


# --------------------------------------------------------------------------
# rendering of the anatomy into a line-integral map on a grid
# --------------------------------------------------------------------------
def local_coords(pt, grid):
    X = ((np.arange(grid.w, dtype=F32) - grid.ox) * grid.sp)[None, :]
    Y = ((np.arange(grid.h, dtype=F32) - grid.oy) * grid.sp)[:, None]
    c, s = math.cos(pt["roll"]), math.sin(pt["roll"])
    Xr = X - F32(pt["xm"])
    Ul = (F32(c) * Xr + F32(s) * Y).astype(F32)
    Yl = (F32(-s) * Xr + F32(c) * Y).astype(F32)
    return Ul, Yl


def local_to_px(pt, grid, u, y):
    u = np.asarray(u, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    c, s = math.cos(pt["roll"]), math.sin(pt["roll"])
    X = c * u - s * y + pt["xm"]
    Y = s * u + c * y
    return grid.to_px(X, Y)


def roi_local(pt, grid, u0, u1, y0, y1, pad_px=3):
    cu = np.array([u0, u1, u0, u1])
    cy = np.array([y0, y0, y1, y1])
    px, py = local_to_px(pt, grid, cu, cy)
    c0 = int(max(0, math.floor(px.min()) - pad_px))
    c1 = int(min(grid.w, math.ceil(px.max()) + pad_px + 1))
    r0 = int(max(0, math.floor(py.min()) - pad_px))
    r1 = int(min(grid.h, math.ceil(py.max()) + pad_px + 1))
    if c1 <= c0 or r1 <= r0:
        return None
    return (slice(r0, r1), slice(c0, c1))


def capsule_thickness(x0, y0, x1, y1, r0, r1, c0, c1, w0, w1):
    """Projected chord (px) of a tapered cylinder with rounded ends on ROI rows w0:w1, cols c0:c1."""
    xs = np.arange(c0, c1, dtype=F32)[None, :]
    ys = np.arange(w0, w1, dtype=F32)[:, None]
    dx, dy = x1 - x0, y1 - y0
    L2 = dx * dx + dy * dy + 1e-9
    t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / L2, 0.0, 1.0)
    ex = xs - (x0 + t * dx)
    ey = ys - (y0 + t * dy)
    r = r0 + (r1 - r0) * t
    return 2.0 * np.sqrt(np.maximum(r * r - ex * ex - ey * ey, 0.0))


def render_capsules(grid, segs_px, acc, mode, scale):
    """segs_px: list of (x0,y0,x1,y1,r0,r1) in px. mode 'max' -> acc=max, 'add'."""
    for (x0, y0, x1, y1, r0, r1) in segs_px:
        rm = max(r0, r1) + 1
        c0 = int(max(0, math.floor(min(x0, x1) - rm)))
        c1 = int(min(grid.w, math.ceil(max(x0, x1) + rm) + 1))
        w0 = int(max(0, math.floor(min(y0, y1) - rm)))
        w1 = int(min(grid.h, math.ceil(max(y0, y1) + rm) + 1))
        if c1 <= c0 or w1 <= w0:
            continue
        t = capsule_thickness(x0, y0, x1, y1, r0, r1, c0, c1, w0, w1) * F32(scale)
        if mode == "max":
            np.maximum(acc[w0:w1, c0:c1], t, out=acc[w0:w1, c0:c1])
        else:
            acc[w0:w1, c0:c1] += t


def resample_curve(pts, step):
    d = np.hypot(np.diff(pts[:, 0]), np.diff(pts[:, 1]))
    s = np.concatenate([[0], np.cumsum(d)])
    n = max(2, int(s[-1] / step) + 1)
    ss = np.linspace(0, s[-1], n)
    return ss, np.stack([np.interp(ss, s, pts[:, 0]), np.interp(ss, s, pts[:, 1])], 1)


def render_bone_tube(grid, pts_px, a_mm, e_mm, c_mm, dens, wpost, layers, bone_mask, face=0.6):
    """Bone tube with elliptical cross-section and cortical shell along a dense
    centreline (px).  a: half width in image plane, e: half depth along beam,
    c: cortex thickness (all mm, per sample).  Adds to layers[0] (sharp) with
    weight wpost and layers[1] (blurred, anterior) with 1-wpost."""
    sp = grid.sp
    amax_px = float(a_mm.max()) / sp
    x0 = int(max(0, math.floor(pts_px[:, 0].min() - amax_px - 3)))
    x1 = int(min(grid.w, math.ceil(pts_px[:, 0].max() + amax_px + 4)))
    y0 = int(max(0, math.floor(pts_px[:, 1].min() - amax_px - 3)))
    y1 = int(min(grid.h, math.ceil(pts_px[:, 1].max() + amax_px + 4)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    ix = np.rint(pts_px[:, 0]).astype(np.int64) - x0
    iy = np.rint(pts_px[:, 1]).astype(np.int64) - y0
    ok = (ix >= 0) & (ix < x1 - x0) & (iy >= 0) & (iy < y1 - y0)
    if ok.sum() < 2:
        return
    src = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    src[iy[ok], ix[ok]] = 0
    dist, lab = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    kidx = np.nonzero(ok)[0]
    lab_of = lab[iy[ok], ix[ok]]
    sample_of_label = np.zeros(int(lab.max()) + 1, np.int64)
    sample_of_label[lab_of] = kidx
    tang = np.gradient(pts_px, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-9
    rows, cols = np.nonzero(dist <= amax_px + 1.5)
    k = sample_of_label[lab[rows, cols]]
    vx = (cols + x0 - pts_px[k, 0]).astype(F32)
    vy = (rows + y0 - pts_px[k, 1]).astype(F32)
    tx, ty = tang[k, 0].astype(F32), tang[k, 1].astype(F32)
    along = vx * tx + vy * ty
    u = np.abs(-vx * ty + vy * tx) * F32(sp)
    n = len(pts_px)
    keep = ~(((k == 0) & (along < -0.6)) | ((k == n - 1) & (along > 0.6)))
    a = a_mm[k].astype(F32)
    e = e_mm[k].astype(F32)
    c = c_mm[k].astype(F32)
    ai = np.maximum(a - c, 0.3)
    ei = np.maximum(e - F32(face) * c, 0.3)
    outer = 2 * e * np.sqrt(np.clip(1 - (u / a) ** 2, 0, None))
    inner = 2 * ei * np.sqrt(np.clip(1 - (u / ai) ** 2, 0, None))
    val = (MU_C * (outer - inner) + MU_M * inner) * dens[k].astype(F32)
    val = np.where(keep, val, 0).astype(F32)
    wp = wpost[k].astype(F32)
    rr, cc = rows + y0, cols + x0
    layers[0][rr, cc] += val * wp
    layers[1][rr, cc] += val * (1 - wp)
    inb = keep & (u < a) & (dens[k] > 0.15) & (wp > 0.5)
    bone_mask[rr[inb], cc[inb]] = 1


def rib_points(rb, s):
    W, ua, u0 = rb["W"], rb["ua"], rb["u0"]
    post = s <= 1.0
    sp_ = np.clip(s, 0, 1)
    sa = np.clip(s - 1.0, 0, 1)
    uu = np.where(post, u0 + (W - u0) * np.sin(0.5 * math.pi * sp_),
                  W - (W - ua) * sa ** 1.5)
    y = np.where(post, rb["yk"] + rb["dyl"] * sp_ ** 2.5 - 2.0 * rb["rise"] * np.sin(math.pi * sp_) * (1 - sp_),
                 rb["yk"] + rb["dyl"] + rb["dya"] * sa)
    return uu, y


def spine_offset(pt, y):
    amp, ph = pt["scol"]
    return amp * np.sin(2 * math.pi * (y - pt["y_apex"]) / 500.0 + ph)


def render_anatomy(pt, grid):
    """Return P (line integral, float32), lung mask (uint8 0/1) and bone mask (uint8)."""
    sp = grid.sp
    h, w = grid.h, grid.w
    Ul, Yl = local_coords(pt, grid)
    P = np.zeros((h, w), F32)
    # ---- body soft tissue (elliptical cross-section)
    b = pt["body"]
    y_sh = b["y_sh"]
    a = b["a_n"] + (b["a_s"] - b["a_n"]) * smooth01((Yl - (y_sh - 55)) / 60.0)
    a = a + (b["a_t"] - b["a_s"]) * smooth01((Yl - (y_sh + 15)) / 90.0)
    y_cp = pt["y_apex"] + pt["H"]
    a = a * (1 + b["w_ab"] * smooth01((Yl - y_cp) / 120.0))
    D = b["D_n"] + (b["D_t"] - b["D_n"]) * smooth01((Yl - (y_sh - 50)) / 90.0)
    q = 1.0 - (Ul / a) ** 2
    P += F32(MU_T) * D * np.sqrt(np.clip(q, 0, None))
    del a, D, q
    # arms
    if pt["arms"] is not None:
        ar = pt["arms"]
        for side in (-1, 1):
            uc = side * (b["a_s"] + ar["r"] * ar["off"])
            roi = roi_local(pt, grid, uc - ar["r"] - 30, uc + ar["r"] + 30, y_sh - 40, pt["FH"] / 2 + 60)
            if roi is None:
                continue
            uu, yy = Ul[roi], Yl[roi]
            du = uu - uc
            top = smooth01((yy - (y_sh - 10)) / 40.0)
            P[roi] += MU_T * 2 * np.sqrt(np.clip(ar["r"] ** 2 - du ** 2, 0, None)) * top
            # humerus shaft and head
            hv = 2 * np.sqrt(np.clip(ar["rh"] ** 2 - du ** 2, 0, None))
            hi = 2 * np.sqrt(np.clip((ar["rh"] - 2.5) ** 2 - du ** 2, 0, None))
            shaft = (MU_C * (hv - hi) + MU_M * hi) * smooth01((yy - (y_sh + 15)) / 10.0)
            dy = yy - (y_sh + 10)
            rr = np.sqrt(du ** 2 + dy ** 2)
            head = MU_M * 2 * np.sqrt(np.clip(ar["head"] ** 2 - rr ** 2, 0, None)) + \
                MU_C * 2.0 * np.exp(-((rr - ar["head"] + 1.5) / 1.2) ** 2) * 4
            P[roi] += np.maximum(shaft, head * (du * side < ar["head"] * 0.3))
    # ---- lungs
    ext = np.zeros((h, w), np.uint8)
    vis = np.zeros((h, w), np.uint8)
    rois = {}
    for side in (-1, 1):
        L = pt["lungs"][side]
        lo, hi_ = (-L["Lw"] - 15, 5) if side == -1 else (-5, L["Lw"] + 15)
        roi = roi_local(pt, grid, lo, hi_, L["y_apex"] - 15, L["y_apex"] + L["H"] + 80)
        rois[side] = roi
        if roi is None:
            continue
        uu = side * Ul[roi]
        yy = Yl[roi]
        m_ext = lung_inside(L, uu, yy, ext=70.0)
        m_vis = lung_inside(L, uu, yy, ext=0.0)
        ext[roi] |= m_ext.astype(np.uint8)
        vis[roi] |= m_vis.astype(np.uint8)
    dist = cv2.distanceTransform(ext, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * F32(sp)
    dist = cv2.GaussianBlur(dist, (0, 0), 0.8 / sp)
    A = np.zeros((h, w), F32)
    for side in (-1, 1):
        roi = rois[side]
        if roi is None:
            continue
        L = pt["lungs"][side]
        uu = side * Ul[roi]
        yy = Yl[roi]
        uw, yw, u_lat, u_med, cap, dome = lung_terms(L, uu, yy)
        amax = pt["A0"] * (0.5 + 0.5 * smooth01((yy - L["y_apex"]) / (0.6 * L["H"])))
        prof = np.sqrt(np.clip(dist[roi] / pt["ds"], 0, 1))
        below = np.clip(yw - dome, 0, None)
        rec = np.where(yw > dome, pt["rec_r0"] * np.exp(-below / pt["rec_lam"]) * smooth01(uw / (0.5 * L["Lw"])), 1.0)
        Aside = (amax * prof * rec).astype(F32)
        sel = ext[roi] > 0
        A[roi] = np.where(sel & (side * Ul[roi] > 0), Aside, A[roi])
    vmask = np.clip(A / F32(0.06 * pt["A0"]), 0, 1)
    # heart and mediastinum remove lung
    Hh = pt["heart"]
    R_ = 1.15 * max(Hh["ha"], Hh["hb"]) + 5
    roi = roi_local(pt, grid, Hh["hx"] - R_, Hh["hx"] + R_, Hh["hy"] - R_, Hh["hy"] + R_)
    if roi is not None:
        qh = heart_q(Hh, Ul[roi], Yl[roi])
        chord = Hh["hc"] * np.sqrt(np.clip(1 - qh, 0, None))
        dome = np.where(Ul[roi] > 0, lung_terms(pt["lungs"][1], Ul[roi], Yl[roi])[5],
                        lung_terms(pt["lungs"][-1], -Ul[roi], Yl[roi])[5])
        chord = chord * (1 - smooth01((Yl[roi] - dome) / 6.0))
        A[roi] = np.maximum(A[roi] - chord, 0)
        vis[roi] &= (qh >= 1.0).astype(np.uint8)
    # lung parenchymal texture
    u_lo, y_lo, tsp = pt["tex_org"]
    mapx = (Ul - F32(u_lo)) / F32(tsp)
    mapy = (Yl - F32(y_lo)) / F32(tsp)
    tex = cv2.remap(pt["tex"], mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    del mapx, mapy
    P -= F32(MU_LUNG) * A
    P += tex * np.clip(A / F32(pt["A0"] * 0.6), 0, 1)
    del tex, dist
    # ---- airways (gas)
    segs = []
    for (p0, p1, r0, r1) in pt["airways"]:
        x0, y0 = local_to_px(pt, grid, p0[0], p0[1])
        x1, y1 = local_to_px(pt, grid, p1[0], p1[1])
        segs.append((float(x0), float(y0), float(x1), float(y1), r0 / sp, r1 / sp))
    air = np.zeros((h, w), F32)
    render_capsules(grid, segs, air, "max", sp)
    P -= F32(MU_AIR) * air
    del air
    # stomach gas
    st = pt["stomach"]
    if st is not None:
        roi = roi_local(pt, grid, st["u"] - st["rx"] - 5, st["u"] + st["rx"] + 5, st["y"] - st["ry"] - 5, st["y"] + st["ry"] + 5)
        if roi is not None:
            qq = ((Ul[roi] - st["u"]) / st["rx"]) ** 2 + ((Yl[roi] - st["y"]) / st["ry"]) ** 2
            level = Yl[roi] < st["y"] + 0.35 * st["ry"]
            P[roi] -= MU_AIR * st["t"] * np.sqrt(np.clip(1 - qq, 0, None)) * level
    # breasts
    if pt["breasts"] is not None:
        for br in pt["breasts"]:
            uc = br["side"] * br["u"]
            roi = roi_local(pt, grid, uc - br["rx"], uc + br["rx"], br["y"] - 2 * br["ry"], br["y"] + br["ry"])
            if roi is None:
                continue
            qx = ((Ul[roi] - uc) / br["rx"]) ** 2
            dyb = (Yl[roi] - br["y"]) / br["ry"]
            qq = qx + np.clip(dyb, 0, None) ** 2
            fade = np.exp(-1.5 * np.clip(-dyb, 0, None) ** 2)
            P[roi] += MU_T * br["t"] * np.sqrt(np.clip(1 - qq, 0, None)) * fade
    # ---- vessels (max within a trunk, sum between trunks)
    ves = np.zeros((h, w), F32)
    for side in (-1, 1):
        V = pt["vessels"][side]
        big = [sg for tr in V["trunks"] for sg in tr if sg[4] >= 2.5]
        groups = [big] + [[sg for sg in tr if sg[4] < 2.5] for tr in V["trunks"]]
        for segs_mm in groups:
            if not segs_mm:
                continue
            arr = np.array(segs_mm)
            x0, y0 = local_to_px(pt, grid, arr[:, 0], arr[:, 1])
            x1, y1 = local_to_px(pt, grid, arr[:, 2], arr[:, 3])
            r0 = arr[:, 4] / sp
            r1 = arr[:, 5] / sp
            rm = r0.max() + 2
            c0 = int(max(0, math.floor(min(x0.min(), x1.min()) - rm)))
            c1 = int(min(w, math.ceil(max(x0.max(), x1.max()) + rm) + 1))
            w0 = int(max(0, math.floor(min(y0.min(), y1.min()) - rm)))
            w1 = int(min(h, math.ceil(max(y0.max(), y1.max()) + rm) + 1))
            if c1 <= c0 or w1 <= w0:
                continue
            acc = np.zeros((w1 - w0, c1 - c0), F32)
            sub = Grid(c1 - c0, w1 - w0, sp, 0, 0)
            segs_px = list(zip(x0 - c0, y0 - w0, x1 - c0, y1 - w0, r0, r1))
            render_capsules(sub, segs_px, acc, "max", sp)
            ves[w0:w1, c0:c1] += acc
        for (u, y, r, l) in V["dots"]:
            px, py = local_to_px(pt, grid, u, y)
            rp = r / sp
            c0, c1 = int(max(0, px - rp - 2)), int(min(w, px + rp + 3))
            w0, w1 = int(max(0, py - rp - 2)), int(min(h, py + rp + 3))
            if c1 <= c0 or w1 <= w0:
                continue
            xs = np.arange(c0, c1, dtype=F32)[None, :] - F32(px)
            ys = np.arange(w0, w1, dtype=F32)[:, None] - F32(py)
            rho = np.sqrt(xs * xs + ys * ys)
            prof = np.clip((rp - rho) / (0.45 * rp), 0, 1) ** 0.7
            ves[w0:w1, c0:c1] += l * prof / pt["ves_k"]
        for (u, y, ro, wall, l) in V["rings"]:
            px, py = local_to_px(pt, grid, u, y)
            rp = ro / sp
            c0, c1 = int(max(0, px - rp - 2)), int(min(w, px + rp + 3))
            w0, w1 = int(max(0, py - rp - 2)), int(min(h, py + rp + 3))
            if c1 <= c0 or w1 <= w0:
                continue
            xs = np.arange(c0, c1, dtype=F32)[None, :] - F32(px)
            ys = np.arange(w0, w1, dtype=F32)[:, None] - F32(py)
            rho = np.sqrt(xs * xs + ys * ys) * F32(sp)
            outer = np.clip((ro - rho) / 0.3, 0, 1)
            lumen = np.clip((ro - wall - rho) / 0.3, 0, 1)
            P[w0:w1, c0:c1] += 0.6 * MU_BLOOD * l * (outer - lumen) - 0.002 * l * lumen
    ves = cv2.GaussianBlur(ves, (0, 0), pt["ves_blur_mm"] / sp)
    P += F32(MU_BLOOD * pt["ves_k"]) * ves * vmask
    del ves, vmask
    # ---- bones
    bone = np.zeros((h, w), np.uint8)
    post = np.zeros((h, w), F32)
    ant = np.zeros((h, w), F32)
    layers = (post, ant)
    # spine
    for v in pt["verts"]:
        yc, hv, wv = v["yc"], v["hv"], v["wv"]
        off = float(spine_offset(pt, yc))
        roi = roi_local(pt, grid, off - wv - 4, off + wv + 4, yc - hv / 2 - 4, yc + hv / 2 + 4)
        if roi is None:
            continue
        uu = Ul[roi] - off
        yy = Yl[roi] - yc
        e, c = v["e"], v["c"]
        wv_y = wv * (1.0 - 0.05 * np.cos(math.pi * np.clip(yy / (hv / 2), -1, 1)))
        outer = 2 * e * np.sqrt(np.clip(1 - (uu / wv_y) ** 2, 0, None))
        inner = 2 * (e - c) * np.sqrt(np.clip(1 - (uu / (wv_y - c)) ** 2, 0, None))
        vert = smooth01((hv / 2 - np.abs(yy)) / 2.5 + 0.3)
        endp = np.exp(-((np.abs(yy) - hv / 2 + 1.0) / 0.9) ** 2)
        val = (MU_C * 0.7 * (outer - inner) + MU_M * inner) * vert + MU_C * 0.06 * outer * endp
        # pedicles
        for sgn in (-1, 1):
            qq = ((uu - sgn * (wv - 5.0)) / 3.6) ** 2 + ((yy + 0.15 * hv) / (0.27 * hv)) ** 2
            rq = np.sqrt(qq)
            ring = np.exp(-((rq - 0.85) / 0.18) ** 2)
            val = val + MU_C * 1.6 * ring + MU_M * 3.0 * smooth01((1.0 - rq) / 0.3)
        qq = (uu / 3.0) ** 2 + ((yy - 0.28 * hv) / (0.3 * hv)) ** 2
        val = val + MU_C * 1.5 * np.sqrt(np.clip(1 - qq, 0, None))
        post[roi] += val * F32(pt["spine_d"])
    # ribs
    for rb in pt["ribs"]:
        side = rb["side"]
        vert_w = None
        for v in pt["verts"]:
            if abs(v["yc"] - rb["yk"]) < v["hv"]:
                vert_w = v["wv"]
        rb = dict(rb)
        rb["u0"] = (vert_w if vert_w else 18.0) * 0.85
        s_end = rb["s_end"]
        s = np.linspace(0, s_end, 3000)
        uu, yy = rib_points(rb, s)
        uu = side * uu + spine_offset(pt, rb["yk"])
        px, py = local_to_px(pt, grid, uu, yy)
        ss, pts = resample_curve(np.stack([px, py], 1), 0.4)
        sparam = np.interp(ss, np.concatenate([[0], np.cumsum(np.hypot(np.diff(px), np.diff(py)))]), s)
        t = smooth01((sparam - 0.82) / 0.4)
        a_mm = rb["hp"] + (rb["ha"] - rb["hp"]) * t
        e_mm = rb["ep"] + (rb["ea"] - rb["ep"]) * t
        c_mm = rb["cp"] + (rb["ca"] - rb["cp"]) * t
        dens = rb["dp"] + (rb["da"] - rb["dp"]) * t
        dens = dens * smooth01(sparam / 0.06)
        fade = 0.18 if s_end > 1.05 else 0.12
        dens = dens * (1 - smooth01((sparam - (s_end - fade)) / fade))
        wpost = 1 - smooth01((sparam - 0.85) / 0.35)
        render_bone_tube(grid, pts, a_mm, e_mm, c_mm, dens, wpost, layers, bone)
    # clavicles
    for cl in pt["clav"]:
        s = np.linspace(0, 1, 1500)
        uu = cl["u0"] + (cl["u1"] - cl["u0"]) * s
        yy = cl["y0"] + (cl["y1"] - cl["y0"]) * s ** 1.3 + cl["amp"] * np.sin(2 * math.pi * s)
        px, py = local_to_px(pt, grid, cl["side"] * uu, yy)
        ss, pts = resample_curve(np.stack([px, py], 1), 0.4)
        sparam = ss / ss[-1]
        a_mm = cl["hw"] * (1.2 - 0.3 * sparam + 0.35 * sparam ** 4)
        e_mm = np.full_like(sparam, cl["e"])
        c_mm = np.full_like(sparam, cl["c"])
        dens = np.full_like(sparam, cl["d"]) * smooth01(sparam / 0.03) * (1 - 0.5 * smooth01((sparam - 0.8) / 0.2)) \
            * (1 - smooth01((sparam - 0.93) / 0.07))
        render_bone_tube(grid, pts, a_mm, e_mm, c_mm, dens, np.ones_like(sparam), layers, bone)
    sa = pt["ant_blur_mm"] / sp
    ant = cv2.GaussianBlur(ant, (0, 0), sa)
    P += post
    P += ant
    return P, vis, bone


# --------------------------------------------------------------------------
# nodules
# --------------------------------------------------------------------------
def size_draw(R):
    x = R.r()
    if x < 0.34:
        return R.u(5.0, 10.0)
    if x < 0.74:
        return R.u(10.0, 20.0)
    return R.u(20.0, 30.0)


def density_draw(R):
    x = R.r()
    if x < 0.5:
        return R.u(0.75, 1.1)
    if x < 0.83:
        return R.u(0.4, 0.75)
    return R.u(0.2, 0.4)


def make_lobes(R, lobulated):
    """Unit nodule: list of spheres (dx, dy, r) in units where the projected
    footprint has area-equivalent diameter 1 and centroid at origin."""
    sph = [(0.0, 0.0, 1.0)]
    if lobulated:
        n = R.i(2, 4)
        base = R.u(0, 2 * math.pi)
        for j in range(n):
            ang = base + 2 * math.pi * j / n + R.u(-0.5, 0.5)
            rl = R.u(0.4, 0.65)
            dd = R.u(0.55, 0.85)
            sph.append((dd * math.cos(ang), dd * math.sin(ang), rl))
    g = np.linspace(-2.2, 2.2, 441)
    X, Y = np.meshgrid(g, g)
    m = np.zeros_like(X, bool)
    for (dx, dy, r) in sph:
        m |= (X - dx) ** 2 + (Y - dy) ** 2 < r * r
    cell = (g[1] - g[0]) ** 2
    area = m.sum() * cell
    cx, cy = X[m].mean(), Y[m].mean()
    deq = 2 * math.sqrt(area / math.pi)
    return [((dx - cx) / deq, (dy - cy) / deq, r / deq) for (dx, dy, r) in sph]


def envelope(lobes):
    return max(math.hypot(dx, dy) + r for (dx, dy, r) in lobes)


def nodule_layer(grid, cx_px, cy_px, diam_mm, lobes, dens, pose_s=1.0, pose_th=0.0):
    """Return (slice, delta-P array, footprint mask) of a nodule on grid.
    Thickness is the max of sphere chords 2 sqrt(r^2 - rho^2) (physical mm)."""
    sp = grid.sp
    Rm = diam_mm * envelope(lobes)
    rp = Rm * pose_s / sp
    c0 = int(max(0, math.floor(cx_px - rp - 2)))
    c1 = int(min(grid.w, math.ceil(cx_px + rp + 3)))
    r0 = int(max(0, math.floor(cy_px - rp - 2)))
    r1 = int(min(grid.h, math.ceil(cy_px + rp + 3)))
    xs = (np.arange(c0, c1, dtype=np.float64)[None, :] - cx_px) * sp / pose_s
    ys = (np.arange(r0, r1, dtype=np.float64)[:, None] - cy_px) * sp / pose_s
    Rr = rot(pose_th)
    t = np.zeros((r1 - r0, c1 - c0))
    for (dx, dy, r) in lobes:
        ox, oy = Rr @ np.array([dx, dy]) * diam_mm
        rr = r * diam_mm
        t = np.maximum(t, 2 * np.sqrt(np.clip(rr * rr - (xs - ox) ** 2 - (ys - oy) ** 2, 0, None)))
    return (slice(r0, r1), slice(c0, c1)), (MU_NOD * dens * t).astype(F32), t > 0


# --------------------------------------------------------------------------
# acquisition: physics + processing
# --------------------------------------------------------------------------
def draw_acq(R):
    return dict(
        blur_mm=R.u(0.07, 0.17),
        target_sigma=R.lu(6.0, 24.0),
        spr=R.u(0.12, 0.4), scat_mm=R.u(25, 55),
        heel_y=R.u(-0.08, 0.08), heel_x=R.u(-0.04, 0.04),
        eq_a=R.u(0.4, 0.7), eq_mm=R.u(40, 80),
        usm_b=R.u(0.3, 1.0), usm_mm=R.u(1.0, 3.0), usm_d0=R.u(0.04, 0.09),
        tone_c=R.u(0.25, 0.4), tone_w=R.u(0.28, 0.4),
        lo=R.u(0.0, 0.03), hi=R.u(0.93, 1.0),
        marker=(R.choice(["R", "L"]) if R.r() < 0.6 else None),
        marker_pos=R.r(), elec=R.u(0.0, 1.5),
    )


class Acq:
    def __init__(self, P, lung, grid, a):
        self.a = a
        self.grid = grid
        h, w = P.shape
        sp = grid.sp
        yy = np.linspace(-0.5, 0.5, h, dtype=F32)[:, None]
        xx = np.linspace(-0.5, 0.5, w, dtype=F32)[None, :]
        self.heel = (1 + F32(a["heel_y"]) * yy + F32(a["heel_x"]) * xx)
        N = np.exp(-P) * self.heel
        self.S = (F32(a["spr"]) * lowpass(N * np.clip(P * 0.5, 0, 1), a["scat_mm"] / sp)).astype(F32)
        self.sd = a["blur_mm"] / sp
        self.su = a["usm_mm"] / sp
        self.margin = int(math.ceil(4 * self.sd + 4 * self.su)) + 3
        # tone from a decimated noise-free pass
        f = 4
        Ps = cv2.resize(P, (w // f, h // f), interpolation=cv2.INTER_AREA)
        Ss = cv2.resize(self.S, (w // f, h // f), interpolation=cv2.INTER_AREA)
        Hs = cv2.resize(self.heel, (w // f, h // f), interpolation=cv2.INTER_AREA)
        ls = cv2.resize(lung, (w // f, h // f), interpolation=cv2.INTER_NEAREST) > 0
        Qs = np.exp(-Ps) * Hs + Ss
        Pm = -np.log(Qs)
        Pe = Pm - F32(a["eq_a"]) * lowpass(Pm, a["eq_mm"] / sp / f)
        body = Ps > 0.8
        p_lung = float(np.median(Pe[ls])) if ls.any() else float(np.percentile(Pe[body], 30))
        p_hi = float(np.percentile(Pe[body], 90))
        span = max(p_hi - p_lung, 0.3)
        self.c = p_lung + a["tone_c"] * span
        self.w = a["tone_w"] * span
        sl = 1 / (1 + math.exp(-(p_lung - self.c) / self.w))
        slope = 4095 * (a["hi"] - a["lo"]) * sl * (1 - sl) / self.w
        q_lung = float(np.median(Qs[ls])) if ls.any() else float(np.median(Qs[body]))
        kz = int(round(self.sd * 8 + 1)) | 1
        gk = cv2.getGaussianKernel(max(kz, 3), self.sd).ravel()
        kb = float((gk ** 2).sum())  # std reduction of white noise by the 2-D blur
        sig_pm = a["target_sigma"] / (slope * (1 + 0.85 * a["usm_b"]))
        self.N0 = float((kb / sig_pm) ** 2 / q_lung)
        self.eq_lp = None

    def _tone(self, Pu):
        a = self.a
        z = (Pu - F32(self.c)) / F32(self.w)
        return F32(4095) * (F32(a["lo"]) + F32(a["hi"] - a["lo"]) / (1 + np.exp(-z)))

    def _post(self, Pm, eq_lp):
        a = self.a
        Pe = Pm - F32(a["eq_a"]) * eq_lp
        d0 = F32(a["usm_d0"])
        det = Pe - cv2.GaussianBlur(Pe, (0, 0), self.su, borderType=cv2.BORDER_REFLECT)
        Pu = Pe + F32(a["usm_b"]) * d0 * np.tanh(det / d0)
        return self._tone(Pu)

    def full(self, P, rng):
        a = self.a
        Q = (np.exp(-P) * self.heel + self.S) * F32(self.N0)
        eps = rng.standard_normal(Q.shape, dtype=F32)
        Q += np.sqrt(Q) * eps
        del eps
        Q = cv2.GaussianBlur(Q, (0, 0), self.sd, borderType=cv2.BORDER_REFLECT)
        if a["elec"] > 0:
            Q += rng.standard_normal(Q.shape, dtype=F32) * F32(a["elec"])
        Pm = -np.log(np.maximum(Q, 0.5) / F32(self.N0))
        del Q
        self.eq_lp = lowpass(Pm, a["eq_mm"] / self.grid.sp).astype(F32)
        return self._post(Pm, self.eq_lp)

    def clean_crop(self, Pc, r0, c0):
        """Noise-free image of a crop (Pc placed at rows r0.., cols c0..)."""
        h, w = Pc.shape
        sl = (slice(r0, r0 + h), slice(c0, c0 + w))
        Q = (np.exp(-Pc) * self.heel[sl[0], :][:, sl[1]] + self.S[sl]) * F32(self.N0)
        Q = cv2.GaussianBlur(Q, (0, 0), self.sd, borderType=cv2.BORDER_REFLECT)
        Pm = -np.log(np.maximum(Q, 0.5) / F32(self.N0))
        return self._post(Pm, self.eq_lp[sl])


def add_marker(P, grid, a):
    if not a["marker"]:
        return
    sp = grid.sp
    size = int(12 / sp)
    m = np.zeros((size * 2, size * 2), np.uint8)
    cv2.putText(m, a["marker"], (int(size * 0.3), int(size * 1.6)), cv2.FONT_HERSHEY_SIMPLEX,
                size / 22.0, 255, max(2, int(size / 9)), cv2.LINE_AA)
    col = int(18 / sp) if a["marker_pos"] < 0.5 else grid.w - int(18 / sp) - 2 * size
    row = int(14 / sp)
    P[row:row + 2 * size, col:col + 2 * size] += (m.astype(F32) / 255.0) * 2.5


# --------------------------------------------------------------------------
# PNG I/O
# --------------------------------------------------------------------------
def _chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png(path, img, ppm, bits=16):
    h, w = img.shape
    if bits == 16:
        b = np.ascontiguousarray(img.astype(">u2")).view(np.uint8).reshape(h, 2 * w)
    else:
        b = img.astype(np.uint8)
    raw = np.empty((h, b.shape[1] + 1), np.uint8)
    raw[:, 0] = 0
    raw[:, 1:] = b
    out = b"\x89PNG\r\n\x1a\n"
    out += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0))
    if bits == 16:
        out += _chunk(b"sBIT", bytes([12]))
    out += _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    out += _chunk(b"IDAT", zlib.compress(raw.tobytes(), 3))
    out += _chunk(b"IEND", b"")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(out)


def read_phys(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 8
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        if tag == b"pHYs":
            return struct.unpack(">IIB", data[pos + 8:pos + 17])
        pos += 12 + n
    return None


# --------------------------------------------------------------------------
# image synthesis
# --------------------------------------------------------------------------
def draw_geometry(R, size_scale):
    sp = R.u(0.14, 0.20)
    lo, hi = max(350.0, 1800 * sp), min(430.0, 2600 * sp)
    FW = R.u(lo, hi)
    FH = R.u(lo, hi)
    sp_eff = sp / size_scale
    ppm = int(round(1000.0 / sp_eff))
    sp_eff = 1000.0 / ppm
    w = int(round(FW / sp_eff))
    h = int(round(FH / sp_eff))
    return w * sp_eff, h * sp_eff, sp_eff, ppm, w, h


def place_nodules(R, grid, lung, bone, specs, existing=None):
    """specs: list of dicts with 'env_mm' (max envelope radius) and 'want_rib'.
    Returns list of patient-frame centres (mm) on grid (grid.ox/oy origin)."""
    sp = grid.sp
    dist = cv2.distanceTransform(lung, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * sp
    step = 3
    ds = dist[::step, ::step]
    bs = bone[::step, ::step] > 0
    placed = list(existing or [])
    out = []
    for spc in specs:
        env = spc["env_mm"]
        cand = ds >= env + 1.5
        if spc["want_rib"] and (cand & bs).sum() > 50:
            cand = cand & bs
        rows, cols = np.nonzero(cand)
        pos = None
        for _ in range(300):
            if len(rows) == 0:
                break
            j = int(R.g.integers(len(rows)))
            x = (cols[j] * step + R.u(-1, 1) - grid.ox) * sp
            y = (rows[j] * step + R.u(-1, 1) - grid.oy) * sp
            if all(math.hypot(x - px, y - py) >= env + pe + 3.0 for (px, py, pe) in placed):
                pos = (x, y)
                break
        if pos is None:
            out.append(None)
            continue
        placed.append((pos[0], pos[1], env))
        out.append(pos)
    return out


def nodule_metrics(acq, Pimg, layer_sl, layer, foot, bone):
    """Peak nodule signal above the nodule-free background (12-bit units) and on_rib."""
    m = acq.margin
    g = acq.grid
    r0 = max(0, layer_sl[0].start - m)
    r1 = min(g.h, layer_sl[0].stop + m)
    c0 = max(0, layer_sl[1].start - m)
    c1 = min(g.w, layer_sl[1].stop + m)
    Pc = Pimg[r0:r1, c0:c1].copy()
    with_ = acq.clean_crop(Pc, r0, c0)
    sub = (slice(layer_sl[0].start - r0, layer_sl[0].stop - r0), slice(layer_sl[1].start - c0, layer_sl[1].stop - c0))
    Pc[sub] -= layer
    wo = acq.clean_crop(Pc, r0, c0)
    diff = (with_ - wo)[sub]
    contrast = float(diff[foot].max()) if foot.any() else 0.0
    bfoot = bone[layer_sl][foot] > 0
    ys, xs = np.nonzero(foot)
    cy, cx = int(round(ys.mean())), int(round(xs.mean()))
    on_rib = bool(bone[layer_sl][cy, cx] > 0 and (bfoot.mean() if bfoot.size else 0) >= 0.5)
    return contrast, on_rib


def noise_sigma(acq, Pimg, D, lung, R):
    g = acq.grid
    m = acq.margin
    half = 48
    rows, cols = np.nonzero(lung[::8, ::8])
    vals = []
    if len(rows) == 0:
        rows, cols = np.array([g.h // 16]), np.array([g.w // 16])
    for _ in range(10):
        j = int(R.g.integers(len(rows)))
        cy, cx = rows[j] * 8, cols[j] * 8
        r0, r1 = max(0, cy - half - m), min(g.h, cy + half + m)
        c0, c1 = max(0, cx - half - m), min(g.w, cx + half + m)
        clean = acq.clean_crop(Pimg[r0:r1, c0:c1], r0, c0)
        rr0, rr1 = max(r0, cy - half), min(r1, cy + half)
        cc0, cc1 = max(c0, cx - half), min(c1, cx + half)
        res = D[rr0:rr1, cc0:cc1] - clean[rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0]
        lm = lung[rr0:rr1, cc0:cc1] > 0
        vals.append(res[lm])
    v = np.concatenate(vals)
    return float(v.std()) if v.size > 10 else 0.0


def finish_image(P, lung, bone, grid, acq_params, R, nod_list):
    """nod_list: list of dicts with 'sl','layer','foot'.  Returns uint16 image, sigma, metrics."""
    add_marker(P, grid, acq_params)
    acq = Acq(P, lung, grid, acq_params)
    D = acq.full(P, R.g)
    metrics = [nodule_metrics(acq, P, n["sl"], n["layer"], n["foot"], bone) for n in nod_list]
    sig = noise_sigma(acq, P, D, lung, R)
    img = np.clip(np.rint(D), 0, 4095).astype(np.uint16)
    return img, sig, metrics


def single_image(args_tuple):
    seed, index, out, size_scale = args_tuple
    R = Rng([seed, 1, index])
    FW, FH, sp, ppm, w, h = draw_geometry(R, size_scale)
    pt = make_patient(R, FW, FH)
    grid = Grid(w, h, sp, (w - 1) / 2.0, (h - 1) / 2.0)
    P, lung, bone = render_anatomy(pt, grid)
    n = R.choice([0, 1, 2, 3, 4], p=[0.14, 0.3, 0.26, 0.18, 0.12])
    specs = []
    for _ in range(n):
        d = size_draw(R)
        lob = R.r() < (0.1 + 0.012 * d)
        lobes = make_lobes(R, lob)
        specs.append(dict(d=d, lob=lob, lobes=lobes, dens=density_draw(R), want_rib=R.r() < 0.15,
                          env_mm=d * envelope(lobes)))
    pos = place_nodules(R, grid, lung, bone, specs)
    nods = []
    for spc, p in zip(specs, pos):
        if p is None:
            continue
        cx, cy = grid.to_px(p[0], p[1])
        sl, layer, foot = nodule_layer(grid, cx, cy, spc["d"], spc["lobes"], spc["dens"])
        P[sl] += layer
        nods.append(dict(spc=spc, cx=cx, cy=cy, sl=sl, layer=layer, foot=foot))
    acq_p = draw_acq(R)
    img, sig, metrics = finish_image(P, lung, bone, grid, acq_p, R, nods)
    name = "b%04d" % (index + 1)
    write_png(os.path.join(out, "images", name + ".png"), img, ppm)
    cv2.imwrite(os.path.join(out, "masks", name + "_mask.png"), (lung > 0).astype(np.uint8) * 255)
    entry = {"path": "images/%s.png" % name, "patient_id": None, "study_date": None,
             "width": w, "height": h, "pixel_spacing_mm": sp,
             "lung_mask": "masks/%s_mask.png" % name, "noise_sigma": round(sig, 3), "nodules": []}
    for j, (nd, (con, onr)) in enumerate(zip(nods, metrics)):
        entry["nodules"].append({"id": "N%d" % (j + 1), "x": round(nd["cx"], 2), "y": round(nd["cy"], 2),
                                 "diameter_mm": round(nd["spc"]["d"], 2), "on_rib": onr,
                                 "lobulated": bool(nd["spc"]["lob"]), "contrast": round(con, 2),
                                 "cnr": round(con / sig, 3) if sig > 0 else None})
    return entry


# --------------------------------------------------------------------------
# series mode
# --------------------------------------------------------------------------
def series_patient(args_tuple):
    seed, pidx, out = args_tuple
    R = Rng([seed, 2, pidx])
    pid = "PB-%04d" % (pidx + 1)
    FW, FH, sp, ppm, w, h = draw_geometry(R, 1.0)
    pt = make_patient(R, FW, FH)
    n_ex = 2 if R.r() < 0.5 else 3
    d0 = datetime.date(2015, 1, 1) + datetime.timedelta(days=R.i(0, 2900))
    days = [0]
    for _ in range(n_ex - 1):
        days.append(days[-1] + R.i(30, 240))
    dates = [d0 + datetime.timedelta(days=d) for d in days]
    span = days[-1]
    # nodules
    n = R.choice([0, 1, 2, 3, 4], p=[0.08, 0.32, 0.3, 0.18, 0.12])
    nods = []
    for j in range(n):
        x = R.r()
        status = "growing" if x < 0.52 else ("stable" if x < 0.86 else ("shrinking" if x < 0.93 else "new"))
        lob = R.r() < 0.3
        lobes = make_lobes(R, lob)
        first = 0
        if status == "new":
            first = R.i(1, n_ex - 1)
        t_rel = [days[k] - days[first] for k in range(n_ex)]
        tspan = t_rel[-1]
        vdt = None
        if status in ("growing", "new"):
            for _ in range(50):
                vdt = R.lu(60, 900) if status == "growing" else R.lu(60, 400)
                g = 2 ** (tspan / (3 * vdt))
                if 30.0 / g >= 5.5:
                    break
            else:
                vdt = tspan / (3 * math.log2(30.0 / 5.5))
                g = 2 ** (tspan / (3 * vdt))
            dmax0 = 30.0 / g
            if status == "new":
                dd = R.u(5.0, min(12.0, dmax0))
            else:
                dd = size_draw(R)
                if dd > dmax0:
                    dd = R.u(5.0, dmax0)
        elif status == "shrinking":
            vdt = -R.lu(90, 400)
            g = 2 ** (tspan / (3 * vdt))
            dd = size_draw(R)
            if dd * g < 5.0:
                dd = R.u(5.0 / g, max(5.0 / g, 30.0))
                dd = min(dd, 30.0)
        else:
            dd = size_draw(R)
        diam = []
        for k in range(n_ex):
            if k < first:
                diam.append(None)
            else:
                diam.append(dd * (2 ** (t_rel[k] / (3 * vdt))) if vdt else dd)
        dmax = max(v for v in diam if v is not None)
        nods.append(dict(id="N%d" % (j + 1), status=status, vdt=vdt, d0=dd, d0_date=dates[first], first=first,
                         lob=lob, lobes=lobes, dens=density_draw(R), diam=diam, want_rib=R.r() < 0.15,
                         env_mm=dmax * envelope(lobes)))
    # patient frame canvas = reference exam grid with margin
    M = int(math.ceil(45.0 / sp))
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    canvas = Grid(w + 2 * M, h + 2 * M, sp, cx + M, cy + M)
    Pc, lungc, bonec = render_anatomy(pt, canvas)
    # placement on the reference view (inner part of canvas)
    inner = (slice(M, M + h), slice(M, M + w))
    refgrid = Grid(w, h, sp, cx, cy)
    pos = place_nodules(R, refgrid, np.ascontiguousarray(lungc[inner]), np.ascontiguousarray(bonec[inner]), nods)
    nods = [dict(nd, pos=p) for nd, p in zip(nods, pos) if p is not None]
    for j, nd in enumerate(nods):
        nd["id"] = "N%d" % (j + 1)
    entries = []
    ref_path = "%s/%s/pa.png" % (pid, dates[0].isoformat())
    for k in range(n_ex):
        if k == 0:
            th, s, t = 0.0, 1.0, np.zeros(2)
        else:
            th = math.radians(R.u(-3, 3))
            s = 1.0 + R.u(-0.03, 0.03)
            t = np.array([R.u(-12, 12), R.u(-12, 12)])
        Rinv = rot(-th)
        A = Rinv / s
        b = np.array([cx + M, cy + M]) - A @ np.array([cx, cy]) - Rinv @ t / (s * sp)
        Mw = np.hstack([A, b[:, None]]).astype(np.float64)
        if k == 0:
            P = Pc[inner].copy()
            lung = np.ascontiguousarray(lungc[inner])
            bone = np.ascontiguousarray(bonec[inner])
        else:
            fl = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
            P = cv2.warpAffine(Pc, Mw, (w, h), flags=fl, borderMode=cv2.BORDER_REPLICATE)
            lung = (cv2.warpAffine(lungc.astype(F32), Mw, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) > 0.5).astype(np.uint8)
            bone = (cv2.warpAffine(bonec.astype(F32), Mw, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) > 0.5).astype(np.uint8)
        Rf = rot(th)
        rendered = []
        for nd in nods:
            dk = nd["diam"][k]
            if dk is None:
                continue
            e = s * (Rf @ np.array(nd["pos"])) + t
            px, py = e[0] / sp + cx, e[1] / sp + cy
            sl, layer, foot = nodule_layer(refgrid, px, py, dk, nd["lobes"], nd["dens"], pose_s=s, pose_th=th)
            P[sl] += layer
            rendered.append(dict(nd=nd, cx=px, cy=py, sl=sl, layer=layer, foot=foot, d=dk))
        acq_p = draw_acq(R)
        img, sig, metrics = finish_image(P, lung, bone, refgrid, acq_p, R, rendered)
        date = dates[k].isoformat()
        rel = "%s/%s/pa.png" % (pid, date)
        mrel = ".masks/%s/%s/pa_mask.png" % (pid, date)
        write_png(os.path.join(out, rel), img, ppm)
        os.makedirs(os.path.dirname(os.path.join(out, mrel)), exist_ok=True)
        cv2.imwrite(os.path.join(out, mrel), lung * 255)
        pa = Mw.copy()
        pa[0, 2] -= M
        pa[1, 2] -= M
        tref = -(Rinv @ t) / s + 0.0
        entry = {"path": rel, "patient_id": pid, "study_date": date, "width": w, "height": h,
                 "pixel_spacing_mm": sp, "lung_mask": mrel, "noise_sigma": round(sig, 3),
                 "transform_to_reference": {"tx_mm": round(float(tref[0]), 4), "ty_mm": round(float(tref[1]), 4),
                                            "rotation_deg": round(-math.degrees(th), 5) + 0.0, "scale": round(1.0 / s, 6),
                                            "reference": ref_path,
                                            "pixel_affine": [[round(float(v), 8) + 0.0 for v in pa[0]],
                                                             [round(float(v), 8) + 0.0 for v in pa[1]]]},
                 "nodules": []}
        for rn, (con, onr) in zip(rendered, metrics):
            nd = rn["nd"]
            st = nd["status"]
            entry["nodules"].append({"id": nd["id"], "x": round(rn["cx"], 2), "y": round(rn["cy"], 2),
                                     "diameter_mm": round(rn["d"], 2), "on_rib": onr, "lobulated": bool(nd["lob"]),
                                     "contrast": round(con, 2), "cnr": round(con / sig, 3) if sig > 0 else None,
                                     "status": st, "vdt_days": (round(nd["vdt"], 1) if nd["vdt"] else None)})
        entries.append(entry)
    patient = {"patient_id": pid, "exams": [d.isoformat() for d in dates],
               "nodules": [{"id": nd["id"], "status": nd["status"],
                            "vdt_days": (round(nd["vdt"], 1) if nd["vdt"] else None),
                            "d0_mm": round(nd["d0"], 2), "d0_date": nd["d0_date"].isoformat(),
                            "lobulated": bool(nd["lob"])} for nd in nods]}
    return entries, patient


# --------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--count", type=int, help="number of single images")
    g.add_argument("--series", type=int, help="number of patients with 2-3 exams each")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size-scale", type=float, default=1.0,
                    help="scale of the pixel grid (0.5 = half the pixels per side, same field of view)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (output is identical for any value)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    truth = {"generator": GENERATOR, "version": VERSION, "seed": args.seed, "images": []}
    if args.count is not None:
        os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
        os.makedirs(os.path.join(args.out, "masks"), exist_ok=True)
        tasks = [(args.seed, i, args.out, args.size_scale) for i in range(args.count)]
        fn = single_image
    else:
        if args.size_scale != 1.0:
            print("note: --size-scale is ignored in series mode", file=sys.stderr)
        tasks = [(args.seed, i, args.out) for i in range(args.series)]
        fn = series_patient
        truth["patients"] = []
    if args.jobs > 1:
        import multiprocessing as mp
        with mp.Pool(args.jobs) as pool:
            results = pool.map(fn, tasks, chunksize=1)
    else:
        results = []
        for i, tk in enumerate(tasks):
            results.append(fn(tk))
            print("%d/%d  %.1fs" % (i + 1, len(tasks), time.time() - t0), file=sys.stderr, flush=True)
    for r in results:
        if args.count is not None:
            truth["images"].append(r)
        else:
            truth["images"].extend(r[0])
            truth["patients"].append(r[1])
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    print("wrote %d images to %s in %.1fs" % (len(truth["images"]), args.out, time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
