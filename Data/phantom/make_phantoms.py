#!/usr/bin/env python3
"""NoduleKit synthetic PA chest-radiograph phantom generator (with ground truth).

Every image is rendered from a randomly drawn, anatomically plausible "patient"
(lungs, heart, mediastinum, diaphragm, spine, posterior/anterior ribs, clavicles,
scapulae, soft tissue, vessel trees, end-on vessels) plus 0-4 nodules modelled as
projected spheres. Attenuation is accumulated as a line integral A (nats), pushed
through an X-ray exposure model (heel effect, scatter, Poisson-like quantum noise,
detector blur), log-transformed, processed (unsharp mask / range compression) and
windowed to 12 bits, MONOCHROME2: attenuation is bright.

See README.md in this folder for what is modelled, the options and the truth format.

Usage (from the repository root; these recreate the sets described in README.md):
  python3 Data/phantom/make_phantoms.py --count 60 --seed 2026 --out Data/phantom/eval
  python3 Data/phantom/make_phantoms.py --count 8 --seed 4 --scale 0.4 --spacing-range 0.16:0.20 --level 9 --out Data/phantom/ci
  python3 Data/phantom/make_phantoms.py --series 2 --seed 12 --scale 0.35 --level 9 --out Data/phantom/series
  ... --preview DIR     # also write 8-bit previews with truth circles

Deterministic: the same arguments give byte-identical PNGs and truth.json (for the same
numpy / scipy / opencv versions). Image i (or patient p) uses its own random stream derived
from (--seed, i), so the first N images do not depend on --count.
"""
import argparse
import datetime as dt
import json
import math
import os
import struct
import sys
import time
import zlib

import cv2
import numpy as np
from scipy import ndimage as ndi

GENERATOR = "nodulekit-phantom"
VERSION = 1

# Linear attenuation differences, per mm, at an effective energy of ~60 keV.
MU_TISSUE = 0.020          # soft tissue / water
MU_AIR_LUNG = 0.016        # tissue minus aerated lung (lung is ~20 % tissue)
MU_CORTEX = 0.034          # cortical bone minus tissue
MU_MARROW = 0.007          # trabecular bone + marrow minus tissue
MU_AIR = 0.020             # tissue minus air (trachea, bronchi)

cv2.setNumThreads(2)


# ----------------------------------------------------------------------------- utilities

def smooth(img, sigma_px):
    """Gaussian blur; large sigmas are done on a decimated copy (smooth result, fast)."""
    if sigma_px <= 0:
        return img
    if sigma_px < 6:
        return cv2.GaussianBlur(img, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    f = int(max(1, sigma_px // 3))
    h, w = img.shape
    hs, ws = max(1, -(-h // f)), max(1, -(-w // f))
    pad = np.pad(img, ((0, hs * f - h), (0, ws * f - w)), mode="edge")
    small = cv2.resize(pad, (ws, hs), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), math.sqrt(max(sigma_px ** 2 - f * f / 4.0, 1e-6)) / f,
                             borderType=cv2.BORDER_REFLECT)
    big = cv2.resize(small, (ws * f, hs * f), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(big[:h, :w])


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, img, spacing_mm=None, sbit=None, level=9):
    """16- or 8-bit grayscale PNG via OpenCV (libpng), with pHYs / sBIT spliced in before IDAT."""
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise RuntimeError("PNG encoding failed for " + path)
    data = buf.tobytes()
    i = data.index(b"IDAT") - 4
    extra = b""
    if sbit is not None:
        extra += png_chunk(b"sBIT", bytes([sbit]))
    if spacing_mm is not None:
        ppm = int(round(1000.0 / spacing_mm))
        extra += png_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data[:i] + extra + data[i:])
    os.replace(tmp, path)


def U(rng, a, b):
    return float(rng.uniform(a, b))


# ----------------------------------------------------------------------------- geometry

class Frame:
    """Image pixel grid <-> patient frame (mm).

    Image mm coordinates q = spacing * (col, row) (origin at the centre of the top-left pixel,
    x right, y down). Patient coordinates P (mm; x = 0 on the midline, x > 0 towards the image
    right = patient's left; y = 0 at the right lung apex, y down). q = c + s * R(theta) P with
    R(theta) = [[cos, -sin], [sin, cos]] (positive theta turns clockwise on screen)."""

    def __init__(self, width, height, spacing, c, s=1.0, theta_deg=0.0):
        self.W, self.H, self.sp = int(width), int(height), float(spacing)
        self.c = np.asarray(c, float)
        self.s = float(s)
        self.theta = math.radians(theta_deg)
        ct, st = math.cos(self.theta), math.sin(self.theta)
        self.R = np.array([[ct, -st], [st, ct]])
        # patient = Ainv @ (px*sp - c)
        self.Ainv = self.R.T / self.s

    def to_px(self, x, y):
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        qx = self.c[0] + self.s * (self.R[0, 0] * x + self.R[0, 1] * y)
        qy = self.c[1] + self.s * (self.R[1, 0] * x + self.R[1, 1] * y)
        return qx / self.sp, qy / self.sp

    def px_to_patient_affine(self):
        """Coefficients so that X = a*col + b*row + e, Y = c*col + d*row + f."""
        M = self.Ainv * self.sp
        off = -self.Ainv @ self.c
        return M[0, 0], M[0, 1], off[0], M[1, 0], M[1, 1], off[1]

    def patient_coords(self, cols, rows):
        a, b, e, c, d, f = self.px_to_patient_affine()
        return (a * cols + b * rows + e).astype(np.float32), (c * cols + d * rows + f).astype(np.float32)

    def mm_per_px_patient(self):
        return self.sp / self.s


class Coarse:
    """A decimated grid (factor f) aligned with cv2.resize's half-pixel convention."""

    def __init__(self, frame, target_mm=0.8):
        self.fr = frame
        self.f = max(1, int(round(target_mm / frame.sp)))
        self.w = -(-frame.W // self.f)
        self.h = -(-frame.H // self.f)
        jj = np.arange(self.w, dtype=np.float64) * self.f + (self.f - 1) / 2.0
        ii = np.arange(self.h, dtype=np.float64) * self.f + (self.f - 1) / 2.0
        C, Rr = np.meshgrid(jj, ii)
        self.X, self.Y = frame.patient_coords(C, Rr)
        self.mm = frame.mm_per_px_patient() * self.f   # patient mm per coarse px

    def poly_mask(self, xs, ys):
        """Rasterise a polygon given in patient mm on the coarse grid."""
        px, py = self.fr.to_px(xs, ys)
        cx = (px - (self.f - 1) / 2.0) / self.f
        cy = (py - (self.f - 1) / 2.0) / self.f
        pts = np.round(np.stack([cx, cy], 1) * 16).astype(np.int32)
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [pts], 1, lineType=cv2.LINE_8, shift=4)
        return m.astype(bool)

    def sdf(self, mask):
        """Signed distance in patient mm, positive inside."""
        if not mask.any():
            return np.full(mask.shape, -1e3, np.float32)
        if mask.all():
            return np.full(mask.shape, 1e3, np.float32)
        din = ndi.distance_transform_edt(mask)
        dout = ndi.distance_transform_edt(~mask)
        d = np.where(mask, din - 0.5, -(dout - 0.5)).astype(np.float32)
        # the EDT of a binary mask is stair-stepped along slanted edges; the SDF is locally
        # linear, so a small blur removes the steps without moving the boundary
        d = cv2.GaussianBlur(d, (0, 0), 1.2, borderType=cv2.BORDER_REPLICATE)
        return d * np.float32(self.mm)

    def up(self, field):
        """Bilinear upsampling to the full image grid (float32)."""
        f = self.f
        if f == 1:
            return np.ascontiguousarray(field[:self.fr.H, :self.fr.W], dtype=np.float32)
        big = cv2.resize(field.astype(np.float32), (self.w * f, self.h * f), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(big[:self.fr.H, :self.fr.W])

    def window(self, xmin, xmax, ymin, ymax, margin):
        """Index slices of the coarse grid covering a patient-frame box (None if outside)."""
        xs = np.array([xmin - margin, xmax + margin, xmin - margin, xmax + margin])
        ys = np.array([ymin - margin, ymin - margin, ymax + margin, ymax + margin])
        px, py = self.fr.to_px(xs, ys)
        cx = (px - (self.f - 1) / 2.0) / self.f
        cy = (py - (self.f - 1) / 2.0) / self.f
        c0, c1 = max(0, int(math.floor(cx.min()))), min(self.w, int(math.ceil(cx.max())) + 1)
        r0, r1 = max(0, int(math.floor(cy.min()))), min(self.h, int(math.ceil(cy.max())) + 1)
        if c1 <= c0 or r1 <= r0:
            return None
        return (slice(r0, r1), slice(c0, c1))

    def sample(self, field, x, y):
        """Bilinear sample of a coarse field at patient coordinates."""
        px, py = self.fr.to_px(x, y)
        cx = (np.atleast_1d(px) - (self.f - 1) / 2.0) / self.f
        cy = (np.atleast_1d(py) - (self.f - 1) / 2.0) / self.f
        return ndi.map_coordinates(field, [cy, cx], order=1, mode="nearest")


# ----------------------------------------------------------------------------- anatomy

def lung_outline(L, s, n=160):
    """Closed polygon (patient mm) of one full lung (including the retrocardiac part)."""
    ya, yc, W, Wcp, xa = L["y_apex"], L["y_cp"], L["W"], L["W_cp"], L["x_apex"]
    tw, tm = L["tw"], L["tm"]
    H = yc - ya
    pts = []
    # lateral wall: apex -> costophrenic angle
    for t in np.linspace(0, 1, n):
        if t <= tw:
            x = xa + (W - xa) * math.sqrt(max(0.0, 1 - (1 - t / tw) ** 2))
        else:
            v = (t - tw) / (1 - tw)
            x = W + (Wcp - W) * v ** 2 + L["bulge"] * math.sin(math.pi * v)
        pts.append((s * x, ya + t * H))
    # diaphragm: CP angle -> medial end (dome peak at u_p)
    xm, ymd, yd, up, pe = L["x_med_bot"], L["y_med_d"], L["y_dome"], L["u_peak"], L["cp_exp"]
    for u in np.linspace(0, 1, n)[1:]:
        x = Wcp + u * (xm - Wcp)
        if u < up:
            y = yd + (yc - yd) * ((up - u) / up) ** pe
        else:
            y = yd + (ymd - yd) * ((u - up) / (1 - up)) ** 2
        pts.append((s * x, y))
    # medial border: bottom -> top of straight part -> apex
    xt, ytop = L["x_med_top"], ya + tm * H
    for v in np.linspace(0, 1, n // 2)[1:]:
        x = xm + (xt - xm) * v + L["hilum_bulge"] * math.sin(math.pi * v)
        pts.append((s * x, ymd + (ytop - ymd) * v))
    for t in np.linspace(tm, 0, n // 3)[1:]:
        x = xa - (xa - xt) * math.sqrt(max(0.0, 1 - (1 - t / tm) ** 2))
        pts.append((s * x, ya + t * H))
    p = np.array(pts)
    return p[:, 0], p[:, 1]


def lateral_x(L, y):
    """Lateral lung border distance from the midline at height y (mm)."""
    ya, yc = L["y_apex"], L["y_cp"]
    t = np.clip((y - ya) / (yc - ya), 0, 1)
    tw = L["tw"]
    if t <= tw:
        return L["x_apex"] + (L["W"] - L["x_apex"]) * math.sqrt(max(0.0, 1 - (1 - t / tw) ** 2))
    v = (t - tw) / (1 - tw)
    return L["W"] + (L["W_cp"] - L["W"]) * v ** 2 + L["bulge"] * math.sin(math.pi * v)


def draw_anatomy(rng):
    """Random patient anatomy in the patient frame (mm)."""
    def U(a, b):
        return float(rng.uniform(a, b))

    A = {}
    k = float(np.clip(rng.normal(1.0, 0.07), 0.86, 1.16))
    A["k"] = k
    H_R = k * U(225, 285)
    lungs = {}
    yR_apex = 0.0
    y_dome_R = yR_apex + H_R - U(22, 50)
    if rng.random() < 0.85:
        y_dome_L = y_dome_R + U(4, 26)
    else:
        y_dome_L = y_dome_R - U(0, 10)
    W_R = k * U(118, 158)
    W_L = W_R * U(0.93, 1.05)
    for side, s, y_apex, y_dome, W in (("R", -1, yR_apex, y_dome_R, W_R), ("L", 1, yR_apex + rng.normal(0, 5), y_dome_L, W_L)):
        Lg = {
            "y_apex": y_apex, "y_dome": y_dome, "y_cp": y_dome + U(20, 55),
            "W": W, "W_cp": W * U(0.9, 1.0), "x_apex": k * U(38, 62),
            "tw": U(0.32, 0.6), "tm": U(0.1, 0.22), "bulge": U(-4, 10),
            "x_med_top": k * U(14, 26), "x_med_bot": k * U(14, 28),
            "u_peak": U(0.3, 0.6), "cp_exp": U(1.5, 2.6),
            "hilum_bulge": U(0, 6),
        }
        Lg["y_med_d"] = y_dome + U(6, 30)
        Lg["W"] = max(Lg["W"], Lg["x_apex"] + 40)
        lungs[side] = Lg
    A["lungs"] = lungs
    yL = lungs["L"]
    # heart: ellipse, left-biased, apex towards the left dome
    ctr = U(0.36, 0.5) if rng.random() < 0.88 else U(0.5, 0.6)
    wh = ctr * (W_R + W_L + 2 * U(5, 12))
    right_frac = U(0.28, 0.4)
    x_right = -right_frac * wh
    x_left = x_right + wh
    ang = math.radians(U(15, 38))
    ratio = U(0.68, 0.85)
    a_h = wh / 2 / math.sqrt(math.cos(ang) ** 2 + (ratio * math.sin(ang)) ** 2)
    b_h = a_h * ratio
    h_bb = 2 * math.sqrt((a_h * math.sin(ang)) ** 2 + (b_h * math.cos(ang)) ** 2)
    A["heart"] = {
        "cx": (x_right + x_left) / 2 + U(-4, 4), "cy": yL["y_dome"] - U(0.3, 0.48) * h_bb,
        "a": a_h, "b": b_h, "ang": ang, "depth": U(85, 125), "edge": U(25, 45),
        "cut": U(0.45, 0.8), "gapR": U(0, 8), "gapL": U(0, 8), "bulgeR": U(0, 12), "bulgeL": U(-4, 14),
    }
    r_kn = k * U(11, 18)
    A["knob"] = {"cx": lungs["L"]["x_med_top"] + U(-0.2, 0.35) * r_kn, "cy": yR_apex + k * U(45, 75), "r": r_kn}
    A["aorta_x"] = A["knob"]["cx"] * U(0.55, 0.85)
    A["gastric"] = rng.random() < 0.5
    gx = k * U(55, 100)
    xs, ys = lung_outline(lungs["L"], 1)
    xd, yd = xs[160:319][::-1], ys[160:319][::-1]           # diaphragm, x increasing
    gas = [gx, float(np.interp(gx, xd, yd)) + U(6, 14), k * U(22, 42), U(10, 26), U(25, 60)]
    gas[2] = max(8.0, min(gas[2], lungs["L"]["W_cp"] - 12 - gx))       # stay under the dome
    A["gas"] = tuple(gas)
    # body (soft tissue)
    A["wall"] = U(10, 40)
    A["T0"] = U(190, 285) * (0.8 + 0.2 * k)
    A["lung_depth"] = A["T0"] * U(0.5, 0.68)      # AP extent of aerated lung (mm)
    A["shoulder_y"] = yR_apex - U(5, 40)
    A["neck_w"] = k * U(95, 130)
    A["shoulder_ext"] = U(35, 90)
    A["abd_taper"] = U(-0.08, 0.06)
    mode = "down" if rng.random() < 0.2 else "up"
    A["arms"] = {s: (mode, U(-30, 10), U(40, 110), U(110, 170)) for s in (-1, 1)}
    # spine
    A["spine"] = {"x0": rng.normal(0, 3), "amp": U(0, 7), "ph": U(0, 6.28), "per": U(250, 500),
                  "w0": k * U(12, 15), "h0": k * U(15, 18), "disc": k * U(4, 6),
                  "y0": yR_apex - k * U(40, 55), "dens": U(0.8, 1.25)}
    # trachea
    A["trachea"] = {"x": rng.normal(-3, 3), "r": k * U(7.5, 10.5), "y_car": yR_apex + k * U(60, 95),
                    "rb_ang": math.radians(U(20, 35)), "lb_ang": math.radians(U(35, 55)),
                    "rb_len": k * U(22, 35), "lb_len": k * U(35, 55)}
    # bones
    A["bone"] = U(0.6, 1.2)
    A["ribs"] = draw_ribs(rng, A)
    A["clavicles"] = draw_clavicles(rng, A)
    A["scapula"] = rng.random() < 0.65
    A["scap"] = {s: (U(0, 35), U(130, 185), U(0.5, 1.2)) for s in (-1, 1)}
    A["humerus"] = rng.random() < 0.6
    A["hum"] = {s: (U(10, 45) if rng.random() < 0.8 else -1, U(-35, 15), U(20, 27)) for s in (-1, 1)}
    # breasts / nipples (distractors)
    A["breasts"] = rng.random() < 0.38
    A["breast"] = {s: (k * U(70, 115), yL["y_dome"] - U(0, 50), k * U(60, 95), U(12, 38)) for s in (-1, 1)}
    A["nipples"] = rng.random() < 0.25
    A["nipple"] = {s: (U(65, 115) * k, lungs["R"]["y_dome"] - U(0, 50), U(3.5, 6.0), U(4, 9)) for s in (-1, 1)}
    A["vascular"] = U(1.5, 2.3)      # summation of overlapping vessel layers (one 2-D tree per layer here)
    A["texture"] = (U(0.012, 0.035), U(1.0, 2.5))
    return A


def draw_ribs(rng, A):
    """Posterior and anterior rib arcs for both sides."""
    def U(a, b):
        return float(rng.uniform(a, b))

    ribs = []
    n = int(rng.integers(10, 13))
    spacing0 = A["k"] * U(18, 23)
    grow = U(0.0, 0.03)
    tilt = U(-4, 4)
    w_post = A["k"] * U(3.8, 5.2)
    for s in (-1, 1):
        L = A["lungs"]["R" if s < 0 else "L"]
        y = L["y_apex"] + U(-10, 6) + (tilt if s > 0 else 0)
        x_head = A["spine"]["w0"] * U(1.2, 1.9)
        for i in range(n):
            sp_i = spacing0 * (1 + grow * i) * U(0.92, 1.08)
            phi_h = math.radians(U(100, 135) - 3 * i)
            b = A["k"] * (U(38, 55) + 3.0 * i)
            cy = y + b * math.sin(phi_h)
            x_lat = lateral_x(L, cy) + U(2, 7)
            if i == 0:
                x_lat = min(x_lat, L["x_apex"] + 30)
                b *= 0.6
                cy = y + b * math.sin(phi_h)
            a = (x_lat - x_head) / (1 - math.cos(phi_h))
            cx = x_lat - a
            w = w_post * (0.75 if i == 0 else 1.0) * U(0.9, 1.1) * (1 + 0.01 * i)
            ribs.append({"kind": "post", "s": s, "cx": s * cx, "cy": cy, "a": a, "b": b,
                         "p0": phi_h, "p1": -math.radians(U(25, 50)), "w": w,
                         "depth": U(5.0, 7.5), "tang": U(0.05, 0.3)})
            # anterior part of the same rib: from the lateral point, medially downwards
            if i < 9:
                x_cc = A["k"] * U(25, 45) + 4 * i
                psi_e = math.radians(U(55, 85))
                a2 = max(10.0, (x_lat - x_cc) / (1 - math.cos(psi_e)))
                drop = A["k"] * U(40, 75) * (0.5 if i == 0 else 1.0)
                b2 = drop / math.sin(psi_e)
                ribs.append({"kind": "ant", "s": s, "x_lat": x_lat, "cy": cy, "a": a2, "b": b2,
                             "p1": psi_e, "w": A["k"] * U(5.0, 7.5), "depth": U(3.0, 4.5)})
            y += sp_i
    return ribs


def draw_clavicles(rng, A):
    def U(a, b):
        return float(rng.uniform(a, b))

    out = []
    L = A["lungs"]
    base_y = L["R"]["y_apex"] + A["k"] * U(5, 40)
    slope = U(-0.45, 0.05)
    for s in (-1, 1):
        xm = A["k"] * U(12, 24)
        xl = L["R" if s < 0 else "L"]["W"] + A["wall"] + U(5, 35)
        ym = base_y + rng.normal(0, 4)
        yl = ym + slope * (xl - xm) + rng.normal(0, 8)
        out.append({"s": s, "xm": xm, "xl": xl, "ym": ym, "yl": yl, "sw": U(4, 12),
                    "w": A["k"] * U(5.5, 7.5), "depth": U(8, 12)})
    return out


def body_outline(A):
    L = A["lungs"]
    pts_r, pts_l = [], []
    for s, pts in ((-1, pts_r), (1, pts_l)):
        Lg = L["R" if s < 0 else "L"]
        nw = A["neck_w"] / 2
        sy = A["shoulder_y"]
        top = -400.0
        chest = Lg["W"] + A["wall"]
        sh = chest + A["shoulder_ext"]
        pts.append((s * nw, top))
        pts.append((s * nw * 1.02, sy - 45))
        for t in np.linspace(0, 1, 24):   # trapezius slope + shoulder cap
            x = nw + (sh - nw) * t
            y = sy - 40 + 55 * t ** 2 - 10 * math.sin(math.pi * t)
            pts.append((s * x, y))
        arm = A["arms"][s]
        if arm[0] == "down":      # arms hanging beside the chest: the outline runs straight down
            pts.append((s * sh, sy + 40))
            pts.append((s * (sh + arm[1]), sy + 160))
            pts.append((s * (sh + arm[1] * 0.5), 900.0))
        else:                     # arms forward/raised: a smooth axillary curve into the chest wall
            p0 = np.array([sh, sy + 40])
            y2 = Lg["y_apex"] + arm[3]
            p2 = np.array([lateral_x(Lg, y2) + A["wall"], y2])
            c = np.array([sh + arm[1], Lg["y_apex"] + arm[2]])
            for t in np.linspace(0, 1, 20):
                q = (1 - t) ** 2 * p0 + 2 * t * (1 - t) * c + t * t * p2
                pts.append((s * q[0], q[1]))
            for y in np.linspace(y2 + 10, Lg["y_cp"] + 20, 12):
                pts.append((s * (lateral_x(Lg, y) + A["wall"]), y))
            wb = lateral_x(Lg, Lg["y_cp"]) + A["wall"]
            pts.append((s * wb * (1 + A["abd_taper"]), Lg["y_cp"] + 140))
            pts.append((s * wb * (1 + 1.5 * A["abd_taper"]), 900.0))
    pts = pts_r[::-1] + pts_l
    p = np.array(pts)
    return p[:, 0], p[:, 1]


def heart_outline(A, n=360):
    """Cardiomediastinal silhouette: lower part of the heart ellipse joined to the upper mediastinum."""
    h = A["heart"]
    L = A["lungs"]
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    ca, sa = math.cos(h["ang"]), math.sin(h["ang"])
    x = h["cx"] + h["a"] * np.cos(t) * ca - h["b"] * np.sin(t) * sa
    y = h["cy"] + h["a"] * np.cos(t) * sa + h["b"] * np.sin(t) * ca
    half = math.sqrt((h["a"] * sa) ** 2 + (h["b"] * ca) ** 2)
    keep = y > h["cy"] - h["cut"] * half
    # rotate so the kept arc is contiguous, then orient it from image-left (x < 0) to image-right
    start = int(np.flatnonzero(keep & ~np.roll(keep, 1))[0])
    x, y, keep = np.roll(x, -start), np.roll(y, -start), np.roll(keep, -start)
    m = int(keep.sum())
    x, y = x[:m], y[:m]
    if x[0] > x[-1]:
        x, y = x[::-1], y[::-1]
    top = min(L["R"]["y_apex"], L["L"]["y_apex"]) - 80
    pR = np.array([-(L["R"]["x_med_top"] - h["gapR"]), L["R"]["y_apex"] + 60])
    pL = np.array([L["L"]["x_med_top"] - h["gapL"], L["L"]["y_apex"] + 50])

    def bezier(p0, p2, bulge):
        c = (p0 + p2) / 2 + np.array([bulge, 0.0])
        t = np.linspace(0, 1, 16)[1:-1, None]
        q = (1 - t) ** 2 * p0 + 2 * t * (1 - t) * c + t * t * p2
        return q[:, 0], q[:, 1]
    bxR, byR = bezier(pR, np.array([x[0], y[0]]), -h["bulgeR"])
    bxL, byL = bezier(np.array([x[-1], y[-1]]), pL, h["bulgeL"])
    xs = np.concatenate([[pR[0], pR[0]], bxR, x, bxL, [pL[0], pL[0]]])
    ys = np.concatenate([[top, pR[1]], byR, y, byL, [pL[1], top]])
    return xs, ys


def scapula_outline(A, s):
    L = A["lungs"]["R" if s < 0 else "L"]
    inset, length, dens = A["scap"][s]
    W, ya = L["W"], L["y_apex"]
    pts = [(W - 25 - inset, ya - 15), (W - 12 - inset * 0.8, ya + 0.5 * length), (W - 2 - inset * 0.5, ya + length),
           (W + 8, ya + 0.75 * length), (W + A["wall"] + 12, ya + 30), (W + A["wall"] + 20, ya - 5),
           (W + A["wall"] + 5, ya - 25), (W + 10, ya - 30)]
    p = np.array(pts)
    return s * p[:, 0], p[:, 1]


def ellipse_sdf(X, Y, cx, cy, a, b, ang):
    ca, sa = math.cos(ang), math.sin(ang)
    dx, dy = X - cx, Y - cy
    u = (dx * ca + dy * sa) / a
    v = (-dx * sa + dy * ca) / b
    rho = np.sqrt(u * u + v * v) + 1e-9
    g = np.sqrt((u / a) ** 2 + (v / b) ** 2) / rho + 1e-9
    return ((1 - rho) / g).astype(np.float32)


# ----------------------------------------------------------------------------- vessels

def grow_tree(rng, root, ang, r0, lung_sdf_fn, max_segs, rmin, hilum):
    def U(a, b):
        return float(rng.uniform(a, b))

    segs = []
    stack = [(root[0], root[1], ang, r0, 0)]
    while stack and len(segs) < max_segs:
        x, y, a, r, gen = stack.pop(0)
        L = r * U(3, 6) + U(3, 7)
        n_sub = 2
        r_end = r * U(0.88, 0.97)
        ok = True
        for j in range(n_sub):
            a += rng.normal(0, 0.16)
            # bias away from the hilum
            rad = math.atan2(y - hilum[1], x - hilum[0])
            da = math.atan2(math.sin(rad - a), math.cos(rad - a))
            a += 0.06 * da
            x2, y2 = x + L / n_sub * math.cos(a), y + L / n_sub * math.sin(a)
            ra = r + (r_end - r) * j / n_sub
            rb = r + (r_end - r) * (j + 1) / n_sub
            if gen > 0 and lung_sdf_fn(x2, y2) < -1.0:
                ok = False
                break
            segs.append((x, y, x2, y2, ra, rb))
            x, y = x2, y2
        if not ok or r_end < rmin:
            continue
        lam = U(0.72, 0.92)
        r1 = r_end * lam
        r2 = r_end * max(0.35, (1 - lam ** 3)) ** (1 / 3)
        spread = U(0.35, 0.8)
        side = 1 if rng.random() < 0.5 else -1
        stack.append((x, y, a + side * spread * U(0.25, 0.5), r1, gen + 1))
        stack.append((x, y, a - side * spread * U(0.7, 1.2), r2, gen + 1))
    return segs


def draw_vessels(rng, A, lung_sdf_fn):
    def U(a, b):
        return float(rng.uniform(a, b))

    trees = {"art": [], "vein": []}
    k = A["k"]
    for s in (-1, 1):
        Lg = A["lungs"]["R" if s < 0 else "L"]
        H = Lg["y_cp"] - Lg["y_apex"]
        hx = s * (Lg["x_med_top"] + k * U(12, 24))
        hy = Lg["y_apex"] + H * U(0.38, 0.46) - (U(4, 18) if s > 0 else 0)
        hil = (hx, hy)

        def direction(theta):       # theta: 0 = up, pi/2 = lateral, pi = down
            return -math.pi / 2 + s * theta
        # main pulmonary artery into the hilum (the hilar shadow)
        mx = s * (Lg["x_med_top"] - 4)
        rmain = k * U(6, 9)
        trees["art"].append((mx, hy - U(5, 15), hx, hy, rmain, rmain * 0.7))
        # arterial trunks fanning out from the hilum
        for lo, hi_, r0, r1, n in ((0.0, 0.3, 2.5, 3.5, 300), (0.5, 0.9, 2.5, 3.5, 300), (1.2, 1.6, 2.5, 3.5, 300),
                                   (1.9, 2.3, 3.0, 4.0, 320), (2.4, 2.8, 3.0, 4.2, 320), (2.8, 3.1, 2.5, 3.5, 220)):
            trees["art"] += grow_tree(rng, hil, direction(U(lo, hi_)), U(r0, r1) * k, lung_sdf_fn, n, U(0.3, 0.45), hil)
        # veins: converge towards the left atrium, below the hilum
        vx = s * (Lg["x_med_top"] + k * U(5, 15))
        vy = hy + k * U(25, 50)
        for lo, hi_ in ((0.6, 1.1), (1.4, 1.8), (2.0, 2.5), (2.6, 3.0)):
            trees["vein"] += grow_tree(rng, (vx, vy), direction(U(lo, hi_)), U(2.5, 3.5) * k, lung_sdf_fn, 240, U(0.3, 0.45), (vx, vy))
        A.setdefault("hila", []).append(hil)
    return trees


def render_segments(buf, frame, segs, min_r_px=0.6):
    """Max-composite of cylinder projections (chord length, patient mm) into buf."""
    H, W = buf.shape
    mmpp = frame.mm_per_px_patient()
    a_, b_, e_, c_, d_, f_ = frame.px_to_patient_affine()
    for (x0, y0, x1, y1, r0, r1) in segs:
        p0 = frame.to_px(x0, y0)
        p1 = frame.to_px(x1, y1)
        rm = max(r0, r1) / mmpp + 2
        c0 = int(max(0, math.floor(min(p0[0], p1[0]) - rm)))
        c1 = int(min(W, math.ceil(max(p0[0], p1[0]) + rm) + 1))
        q0 = int(max(0, math.floor(min(p0[1], p1[1]) - rm)))
        q1 = int(min(H, math.ceil(max(p0[1], p1[1]) + rm) + 1))
        if c1 <= c0 or q1 <= q0:
            continue
        cols = np.arange(c0, c1, dtype=np.float32)[None, :]
        rows = np.arange(q0, q1, dtype=np.float32)[:, None]
        X = a_ * cols + b_ * rows + e_
        Y = c_ * cols + d_ * rows + f_
        dx, dy = x1 - x0, y1 - y0
        l2 = dx * dx + dy * dy + 1e-9
        t = np.clip(((X - x0) * dx + (Y - y0) * dy) / l2, 0, 1)
        ddx = X - (x0 + t * dx)
        ddy = Y - (y0 + t * dy)
        d2 = ddx * ddx + ddy * ddy
        r = r0 + t * (r1 - r0)
        rmin = min_r_px * mmpp
        reff = np.maximum(r, rmin)
        chord = 2 * np.sqrt(np.maximum(reff * reff - d2, 0)) * (r / reff) ** 2
        np.maximum(buf[q0:q1, c0:c1], chord, out=buf[q0:q1, c0:c1])


# ----------------------------------------------------------------------------- nodules

def nodule_shape(rng, d_mm, lobulated):
    """Shape description; the diameter is the nominal sphere diameter."""
    r = d_mm / 2
    if not lobulated:
        return {"type": "sphere", "r": r}
    if rng.random() < 0.5:
        n = int(rng.integers(2, 5))
        sub = [(0.0, 0.0, 0.0, r)]
        for _ in range(n - 1):
            ang = rng.uniform(0, 2 * math.pi)
            off = r * rng.uniform(0.25, 0.5)
            rr = r * rng.uniform(0.6, 0.85)
            sub.append((off * math.cos(ang), off * math.sin(ang), r * rng.normal(0, 0.2), rr))
        return {"type": "multi", "spheres": sub}
    ks = [2, 3, 4, 5]
    amps = rng.dirichlet(np.ones(4)) * rng.uniform(0.07, 0.16)
    return {"type": "radial", "r": r, "modes": [(k, float(a), float(rng.uniform(0, 2 * math.pi))) for k, a in zip(ks, amps)]}


def nodule_chord(shape, X, Y, scale=1.0):
    """Projected thickness (mm) at patient offsets X, Y from the nodule origin."""
    if shape["type"] == "sphere":
        r = shape["r"] * scale
        return 2 * np.sqrt(np.maximum(r * r - X * X - Y * Y, 0))
    if shape["type"] == "radial":
        phi = np.arctan2(Y, X)
        m = 1.0
        for k, a, p in shape["modes"]:
            m = m + a * np.cos(k * phi + p)
        r = shape["r"] * scale * m
        return 2 * np.sqrt(np.maximum(r * r - X * X - Y * Y, 0))
    # union of spheres: exact union length of the chord intervals along the beam
    starts, ends = [], []
    for (sx, sy, sz, r) in shape["spheres"]:
        sx, sy, sz, r = sx * scale, sy * scale, sz * scale, r * scale
        h = np.sqrt(np.maximum(r * r - (X - sx) ** 2 - (Y - sy) ** 2, 0))
        starts.append(np.where(h > 0, sz - h, np.inf))
        ends.append(np.where(h > 0, sz + h, -np.inf))
    S = np.stack(starts)
    E = np.stack(ends)
    order = np.argsort(S, axis=0)
    S = np.take_along_axis(S, order, 0)
    E = np.take_along_axis(E, order, 0)
    total = np.zeros(X.shape, np.float64)
    cur_s = S[0].copy()
    cur_e = E[0].copy()
    for i in range(1, S.shape[0]):
        new = S[i] > cur_e
        total += np.where(new & np.isfinite(cur_s), cur_e - cur_s, 0)
        cur_s = np.where(new, S[i], cur_s)
        cur_e = np.where(new, E[i], np.maximum(cur_e, E[i]))
    total += np.where(np.isfinite(cur_s) & np.isfinite(cur_e), np.maximum(cur_e - cur_s, 0), 0)
    return total


def nodule_geometry(shape, scale=1.0):
    """(centroid offset x, y, diameter) of the projected shape, on a 0.05 mm grid.

    The diameter is the mean of the longest axis (max Feret) and the longest extent
    perpendicular to it."""
    if shape["type"] == "sphere":
        return 0.0, 0.0, 2 * shape["r"] * scale
    ext = 2.2 * (shape.get("r") or max(abs(sx) + r for sx, sy, sz, r in shape["spheres"])) * scale
    g = np.arange(-ext, ext + 1e-9, 0.05)
    X, Y = np.meshgrid(g, g)
    c = nodule_chord(shape, X, Y, scale)
    m = c > 0
    w = c[m]
    cx = float((X[m] * w).sum() / w.sum())
    cy = float((Y[m] * w).sum() / w.sum())
    edge = m & ~ndi.binary_erosion(m)
    pts = np.stack([X[edge], Y[edge]], 1)
    best, u = 0.0, np.array([1.0, 0.0])
    for ang in np.linspace(0, math.pi, 360, endpoint=False):
        d = np.array([math.cos(ang), math.sin(ang)])
        pr = pts @ d
        L = pr.max() - pr.min()
        if L > best:
            best, u = L, d
    perp = np.array([-u[1], u[0]])
    pr = pts @ perp
    short = pr.max() - pr.min()
    return cx, cy, (best + short) / 2 + 0.05


# ----------------------------------------------------------------------------- rendering

class Renderer:
    def __init__(self, A, frame, rng_anat_seed, exam_rng):
        self.A = A
        self.fr = frame
        # smooth anatomy is rendered on a "mid" grid of <= ~0.3 mm and upsampled
        self.fm = 2 if frame.sp < 0.25 else 1
        f = self.fm
        self.mid = Frame(-(-frame.W // f), -(-frame.H // f), frame.sp * f, frame.c - frame.sp * (f - 1) / 2.0,
                         frame.s, math.degrees(frame.theta))
        self.co = Coarse(self.mid)
        self.rng_seed = rng_anat_seed
        self.rng = exam_rng

    # --- coarse geometric fields --------------------------------------------------------
    def fields(self):
        A, co = self.A, self.co
        F = {}
        for side, s in (("R", -1), ("L", 1)):
            xs, ys = lung_outline(A["lungs"][side], s)
            F["lung_" + side] = co.sdf(co.poly_mask(xs, ys))
        F["lung"] = np.maximum(F["lung_R"], F["lung_L"])
        xs, ys = heart_outline(A)
        F["heart"] = co.sdf(co.poly_mask(xs, ys))
        if A["scapula"]:
            for s in (-1, 1):
                xs, ys = scapula_outline(A, s)
                F["scap%d" % s] = co.sdf(co.poly_mask(xs, ys))
        kn = A["knob"]
        F["knob"] = (kn["r"] - np.hypot(co.X - kn["cx"], co.Y - kn["cy"])).astype(np.float32)
        xs, ys = body_outline(A)
        F["body"] = co.sdf(co.poly_mask(xs, ys))
        vis = (F["lung"] > 0) & (F["heart"] < 0) & (F["knob"] < 0)
        F["vis"] = co.sdf(vis)
        self.F = F
        return F

    def lung_sdf_fn(self):
        co, F = self.co, self.F
        # patient-frame lookup (used while growing vessel trees)
        def fn(x, y):
            return float(co.sample(F["lung"], x, y)[0])
        return fn

    def rib_fields(self):
        """Per group (post-R, post-L, ant-R, ant-L, clav): |u| (normalised distance) and weight."""
        A, co = self.A, self.co
        groups = {}

        def group(key, kind):
            if key not in groups:
                groups[key] = [np.full(co.X.shape, 9.0, np.float32), np.zeros(co.X.shape, np.float32), kind]
            return groups[key]

        def merge(g, sl, u, wt):
            gu, gw = g[0][sl], g[1][sl]
            take = (u < gu) & (wt > 0.02)
            gu[take] = u[take]
            gw[take] = wt[take]

        for rb in A["ribs"]:
            s = rb["s"]
            a, b = rb["a"], rb["b"]
            if rb["kind"] == "post":
                ph = np.linspace(rb["p1"] - 0.3, rb["p0"] + 0.05, 24)
                bx = rb["cx"] + s * a * np.cos(ph)
                by = rb["cy"] - b * np.sin(ph)
            else:
                ps = np.linspace(-0.1, rb["p1"] + 0.1, 24)
                bx = s * (rb["x_lat"] - a * (1 - np.cos(ps)))
                by = rb["cy"] + b * np.sin(ps)
            sl = co.window(bx.min(), bx.max(), by.min(), by.max(), 3 * rb["w"] + 4)
            if sl is None:
                continue
            X = co.X[sl].astype(np.float64)
            Y = co.Y[sl].astype(np.float64)
            if rb["kind"] == "post":
                u_ = s * (X - rb["cx"]) / a
                v_ = -(Y - rb["cy"]) / b
                rho = np.sqrt(u_ * u_ + v_ * v_) + 1e-9
                phi = np.arctan2(v_, u_)
                p0, p1 = rb["p0"], rb["p1"]
                grad = np.sqrt((u_ / a) ** 2 + (v_ / b) ** 2) / rho + 1e-9
                d = (rho - 1) / grad
                # medial taper (rib head) and lateral end
                arc_len_mm = (p0 - phi) * (a + b) / 2
                wt = smoothstep(arc_len_mm / 12.0) * smoothstep((phi - p1) / 0.45)
                wt = wt * (1 + rb["tang"] * np.exp(-((phi - 0.0) / 0.35) ** 2))
                wt = np.where((phi <= p0 + 0.05) & (phi >= p1 - 0.3), wt, 0)
                width = rb["w"] * (1 - 0.15 * smoothstep((p0 - phi) / max(p0 - p1, 0.1)))
            else:
                # anterior: lateral point (x_lat, cy); x = x_lat - a(1-cos psi), y = cy + b sin psi
                xc = rb["x_lat"] - a
                u_ = (s * X - xc) / a
                v_ = (Y - rb["cy"]) / b
                rho = np.sqrt(u_ * u_ + v_ * v_) + 1e-9
                psi = np.arctan2(v_, u_)
                grad = np.sqrt((u_ / a) ** 2 + (v_ / b) ** 2) / rho + 1e-9
                d = (rho - 1) / grad
                p1 = rb["p1"]
                wt = smoothstep((psi + 0.1) / 0.5) * smoothstep((p1 - psi) / 0.3)
                wt = np.where((psi > -0.1) & (psi < p1 + 0.1), wt, 0)
                width = rb["w"] * (1 + 0.25 * smoothstep(psi / p1))
            u = (np.abs(d) / width).astype(np.float32)
            merge(group(rb["kind"] + ("R" if s < 0 else "L"), rb["kind"]), sl, u, (wt * rb["depth"]).astype(np.float32))
        # clavicles as y = f(x) bands
        for cl in A["clavicles"]:
            s = cl["s"]
            t_ = np.linspace(-0.1, 1.1, 24)
            yy = cl["ym"] + (cl["yl"] - cl["ym"]) * t_
            sl = co.window(s * cl["xm"] - s * 0.1 * (cl["xl"] - cl["xm"]), s * cl["xl"] + s * 0.1 * (cl["xl"] - cl["xm"]),
                           yy.min(), yy.max(), 2 * cl["w"] + cl["sw"] + 5)
            if sl is None:
                continue
            X = co.X[sl].astype(np.float64)
            Y = co.Y[sl].astype(np.float64)
            t = (s * X - cl["xm"]) / (cl["xl"] - cl["xm"])
            yc = cl["ym"] + (cl["yl"] - cl["ym"]) * t + cl["sw"] * np.sin(2 * math.pi * t)
            slope = ((cl["yl"] - cl["ym"]) + cl["sw"] * 2 * math.pi * np.cos(2 * math.pi * t)) / (cl["xl"] - cl["xm"])
            d = (Y - yc) / np.sqrt(1 + slope ** 2)
            width = cl["w"] * (1.35 - 0.45 * np.clip(t, 0, 1) + 0.2 * smoothstep((t - 0.8) / 0.2))
            wt = smoothstep(t / 0.06 + 0.3) * smoothstep((1.02 - t) / 0.08)
            u = (np.abs(d) / width).astype(np.float32)
            merge(group("clav", "clav"), sl, u, (wt * cl["depth"]).astype(np.float32))
        self.ribs = groups
        return self.ribs

    # --- rendering: smooth anatomy on the mid grid, fine structure at full resolution -------
    def render(self, nodules):
        """Returns the full-resolution attenuation (with and without nodules on the mid grid for
        the contrast computation), the lung mask and helper fields."""
        A, fr, mid, co, F = self.A, self.fr, self.mid, self.co, self.F
        Hh, Ww = mid.H, mid.W
        up = co.up
        out = {}
        # body soft tissue: elliptical cross-section
        body_sdf = up(F["body"])
        Yf = up(co.Y)
        Xf = up(co.X)
        Tb = A["T0"] * np.sqrt(np.clip(body_sdf / 90.0, 0, 1)) * (1 + 0.25 * smoothstep(-Yf / 150.0))
        # lung air depth
        lung_sdf = up(F["lung"])
        H_lung = A["lungs"]["R"]["y_cp"]
        grow_down = 0.35 + 0.65 * smoothstep(Yf / (0.65 * H_lung))
        air = A["lung_depth"] * grow_down * np.sqrt(np.clip(lung_sdf / 28.0, 0, 1)) * np.clip(0.55 + 0.45 * np.abs(Xf) / 60.0, 0, 1)
        # posterior costophrenic recess: some air below the dome edge
        yd = np.where(Xf < 0, A["lungs"]["R"]["y_dome"], A["lungs"]["L"]["y_dome"]).astype(np.float32)
        wcp = np.where(Xf < 0, A["lungs"]["R"]["W_cp"], A["lungs"]["L"]["W_cp"]).astype(np.float32)
        recess = 0.22 * A["lung_depth"] * np.exp(np.minimum(lung_sdf, 0) / 22.0) * (lung_sdf < 0) * smoothstep((Yf - yd) / 15.0)
        recess *= smoothstep((np.abs(Xf) - 25) / 30.0) * smoothstep((wcp - 8 - np.abs(Xf)) / 15.0)
        air = air + recess
        h = A["heart"]
        heart_sdf = up(F["heart"])
        heart_chord = h["depth"] * np.sqrt(np.clip(heart_sdf / h["edge"], 0, 1))
        knob_sdf = up(F["knob"])
        knob_chord = 2 * A["knob"]["r"] * np.sqrt(np.clip(knob_sdf / A["knob"]["r"], 0, 1))
        air_eff = np.maximum(air - heart_chord - knob_chord, 0.12 * air)
        # descending aorta edge behind the heart
        ax = A["aorta_x"]
        aorta = 12 * np.sqrt(np.clip(1 - ((Xf - ax - 8 - 0.03 * (Yf - A["knob"]["cy"])) / 10.0) ** 2, 0, 1)) * smoothstep((Yf - A["knob"]["cy"]) / 20.0)
        air_eff = np.maximum(air_eff - aorta, 0.1 * air)
        air_frac = np.clip(air_eff / 40.0, 0, 1)
        Att = MU_TISSUE * Tb - MU_AIR_LUNG * air_eff
        if A["gastric"]:
            gx, top, gw, gh, gd = A["gas"]
            e = ellipse_sdf(Xf, Yf, gx, top + gh, gw, gh, 0.0)
            e = np.minimum(e, (top + gh * 1.15) - Yf)
            Att -= MU_AIR * gd * np.sqrt(np.clip(e / 5.0, 0, 1))
        # breasts (soft tissue)
        if A["breasts"]:
            for s in (-1, 1):
                bx, by, br, bd = A["breast"][s]
                d = np.sqrt(((Xf - s * bx) / (br * 1.1)) ** 2 + ((Yf - by) / br) ** 2)
                Att += MU_TISSUE * bd * np.sqrt(np.clip(1 - d * d, 0, 1)) ** 0.5 * smoothstep((Yf - by + 0.8 * br) / (0.9 * br)) * (body_sdf > 0)
        if A["nipples"]:
            for s in (-1, 1):
                nx, ny, nr, nd = A["nipple"][s]
                d = np.hypot(Xf - s * nx, Yf - ny) / nr
                Att += MU_TISSUE * nd * smoothstep((1 - d) / 0.25) * 0.6
        # trachea and main bronchi (air columns)
        tr = A["trachea"]
        tseg = [(tr["x"], -300.0, tr["x"], tr["y_car"], tr["r"], tr["r"])]
        cx_, cy_ = tr["x"], tr["y_car"]
        tseg.append((cx_, cy_, cx_ - tr["rb_len"] * math.sin(tr["rb_ang"]), cy_ + tr["rb_len"] * math.cos(tr["rb_ang"]), tr["r"] * 0.85, tr["r"] * 0.75))
        tseg.append((cx_, cy_, cx_ + tr["lb_len"] * math.sin(tr["lb_ang"]), cy_ + tr["lb_len"] * math.cos(tr["lb_ang"]), tr["r"] * 0.8, tr["r"] * 0.7))
        tbuf = np.zeros((Hh, Ww), np.float32)
        render_segments(tbuf, mid, tseg)
        Att -= MU_AIR * 0.85 * tbuf
        # bones
        bone = np.zeros((Hh, Ww), np.float32)
        ribband = np.full((Hh, Ww), 9.0, np.float32)
        for key, (u, wt, kind) in self.ribs.items():
            rows, cols = np.nonzero(wt > 0)
            if rows.size == 0:
                continue
            # only upsample the part of the field that carries bone
            f = co.f
            r0, r1 = max(0, rows.min() - 1), min(co.h, rows.max() + 2)
            c0, c1 = max(0, cols.min() - 1), min(co.w, cols.max() + 2)
            uf = cv2.resize(u[r0:r1, c0:c1], ((c1 - c0) * f, (r1 - r0) * f), interpolation=cv2.INTER_LINEAR)
            wf = cv2.resize(wt[r0:r1, c0:c1], ((c1 - c0) * f, (r1 - r0) * f), interpolation=cv2.INTER_LINEAR)
            R0, C0 = r0 * f, c0 * f
            R1, C1 = min(Hh, R0 + uf.shape[0]), min(Ww, C0 + uf.shape[1])
            uf, wf = uf[:R1 - R0, :C1 - C0], wf[:R1 - R0, :C1 - C0]
            if kind in ("post", "clav"):       # 'on_rib': posterior ribs and clavicles
                rb_ = ribband[R0:R1, C0:C1]
                np.minimum(rb_, np.where(wf > 0.3, uf, 9.0), out=rb_)
            if kind == "post":
                val = wf * tube_profile(uf, 0.2, 1.0)
            elif kind == "ant":
                q = np.clip(1 - uf * uf, 0, 1)
                val = 0.6 * wf * q ** 0.9 * (0.55 + 0.45 * q) + 0.3 * wf * tube_profile(uf, 0.15, 0.6)
            else:
                val = wf * tube_profile(uf, 0.18, 0.9)
            bone[R0:R1, C0:C1] += val
        out["ribband"] = ribband
        bone += self.spine()
        if A["scapula"]:
            for s in (-1, 1):
                sd = up(F["scap%d" % s])
                dens = A["scap"][s][2]
                bone += dens * (1.6 * smoothstep(sd / 2.0) + 2.5 * np.exp(-((sd - 1.2) / 1.3) ** 2)) * (sd > -4)
        if A["humerus"]:
            for s in (-1, 1):
                dx_, dy_, rr = A["hum"][s]
                if dx_ < 0:
                    continue
                Lg = A["lungs"]["R" if s < 0 else "L"]
                hx = s * (Lg["W"] + A["wall"] + dx_)
                hy = Lg["y_apex"] + dy_
                d = np.hypot(Xf - hx, Yf - hy) / rr
                bone += 2 * rr * (0.12 * np.sqrt(np.clip(1 - d * d, 0, 1)) + 0.25 * shell(d, 0.06))
                # shaft, going down and laterally from the head
                ang = math.radians(70)
                ux, uy = s * math.cos(ang), math.sin(ang)
                t = (Xf - hx) * ux + (Yf - hy) * uy
                dd = np.abs(-(Xf - hx) * uy + (Yf - hy) * ux) / (0.42 * rr)
                bone += (t > 0.3 * rr) * 0.9 * rr * tube_profile(dd, 0.25, 1.0) * smoothstep((t - 0.3 * rr) / (0.3 * rr)) \
                    * smoothstep((3.5 * rr - t) / rr) * smoothstep(body_sdf / 10.0)
        Att += A["bone"] * bone * MU_CORTEX
        # parenchymal texture (anatomical noise), fixed in the patient frame
        Att += self.texture(air_frac)
        # ---- full resolution: vessels, end-on vessels, nodules, granulomas
        upf = self.up_full
        Afull = upf(Att)
        afull = upf(air_frac)
        vs = np.zeros((fr.H, fr.W), np.float32)
        for name in ("art", "vein"):
            buf = np.zeros((fr.H, fr.W), np.float32)
            render_segments(buf, fr, self.trees[name])
            vs += buf
        for (x, y, r, L) in self.dots:      # end-on vessels: short cylinders along the beam
            render_disc(vs, fr, x, y, r, L)
        vs *= afull * A["vascular"]
        Afull += MU_AIR_LUNG * vs
        if self.granulomas:
            g = np.zeros((fr.H, fr.W), np.float32)
            for (x, y, r) in self.granulomas:
                render_nodule(g, fr, {"x": x, "y": y, "shape": {"type": "sphere", "r": r}, "density": 1.0})
            Afull += MU_CORTEX * 0.9 * g
        # the mid-grid copy (for noise-free contrast) gets the vessels too, area-averaged
        Amid0 = Att + MU_AIR_LUNG * self.down_mid(vs)
        nod = np.zeros((fr.H, fr.W), np.float32)
        nod_m = np.zeros((Hh, Ww), np.float32)
        for n in nodules:
            render_nodule(nod, fr, n)
            render_nodule(nod_m, mid, n)
        Afull += MU_AIR_LUNG * nod
        out["A"] = Afull
        out["A_mid0"] = Amid0
        out["A_mid1"] = Amid0 + MU_AIR_LUNG * nod_m
        out["body_mid"] = body_sdf
        out["body"] = upf(body_sdf)
        vis = np.minimum(np.minimum(lung_sdf, -heart_sdf), -knob_sdf)
        out["mask"] = upf(vis) > 0
        return out

    def up_full(self, a):
        f = self.fm
        if f == 1:
            return a
        big = cv2.resize(a, (a.shape[1] * f, a.shape[0] * f), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(big[:self.fr.H, :self.fr.W])

    def down_mid(self, a):
        f = self.fm
        if f == 1:
            return a
        H, W = self.mid.H * f, self.mid.W * f
        pad = np.zeros((H, W), np.float32)
        pad[:a.shape[0], :a.shape[1]] = a
        return cv2.resize(pad, (self.mid.W, self.mid.H), interpolation=cv2.INTER_AREA)

    def spine(self):
        A, fr = self.A, self.mid
        sp = A["spine"]
        out = np.zeros((fr.H, fr.W), np.float32)
        y = sp["y0"]
        a_, b_, e_, c_, d_, f_ = fr.px_to_patient_affine()
        i = 0
        while y < 700 and i < 24:
            hw = sp["w0"] * (1 + 0.035 * i)
            hh = sp["h0"] * (1 + 0.025 * i)
            cy = y + hh
            cx = sp["x0"] + sp["amp"] * math.sin(cy / sp["per"] * 2 * math.pi + sp["ph"])
            corners = [fr.to_px(cx + dx, cy + dy) for dx in (-hw * 1.8, hw * 1.8) for dy in (-hh * 1.4, hh * 1.4)]
            cs = [p[0] for p in corners]
            rs = [p[1] for p in corners]
            c0, c1 = int(max(0, min(cs))), int(min(fr.W, max(cs) + 1))
            r0, r1 = int(max(0, min(rs))), int(min(fr.H, max(rs) + 1))
            if c1 > c0 and r1 > r0:
                cols = np.arange(c0, c1, dtype=np.float32)[None, :]
                rows = np.arange(r0, r1, dtype=np.float32)[:, None]
                X = a_ * cols + b_ * rows + e_ - cx
                Y = c_ * cols + d_ * rows + f_ - cy
                ux = X / hw
                uy = Y / hh
                # vertebral body: cylinder across, rounded box vertically, cortical rim and endplates
                se = (np.abs(ux) ** 4 + np.abs(uy) ** 6) ** (1 / 6.0)
                body = 2 * hw * 0.7 * np.sqrt(np.clip(1 - ux * ux, 0, 1)) * (se < 1) * 0.35
                body += 2 * hw * 0.7 * 0.45 * shell(se, 0.08)
                # pedicles: oval rings
                ped = 0
                for s in (-1, 1):
                    pd = np.sqrt(((X - s * 0.62 * hw) / (0.22 * hw)) ** 2 + ((Y + 0.3 * hh) / (0.4 * hh)) ** 2)
                    ped = ped + 10 * shell(pd, 0.3) + 4 * np.sqrt(np.clip(1 - pd * pd, 0, 1))
                # spinous process: teardrop in the lower half
                spd = np.sqrt((X / (0.18 * hw)) ** 2 + ((Y - 0.5 * hh) / (0.55 * hh)) ** 2)
                spn = 8 * np.sqrt(np.clip(1 - spd * spd, 0, 1)) + 5 * shell(spd, 0.3)
                # transverse processes
                tp = 0
                for s in (-1, 1):
                    td = np.sqrt(((X - s * 1.25 * hw) / (0.5 * hw)) ** 2 + ((Y + 0.25 * hh) / (0.22 * hh)) ** 2)
                    tp = tp + 7 * np.sqrt(np.clip(1 - td * td, 0, 1)) ** 0.5
                out[r0:r1, c0:c1] += (0.3 * body + 0.18 * ped + 0.15 * spn + 0.35 * tp) * sp["dens"]
            y += 2 * hh + sp["disc"]
            i += 1
        return out

    def texture(self, air_frac):
        """Band-pass noise drawn on a patient-frame grid (so serial exams share it)."""
        A, fr = self.A, self.mid
        amp, scale = A["texture"]
        rng = np.random.default_rng(self.rng_seed + 7)
        g = 0.5  # mm
        n = 1000
        z = rng.standard_normal((n, n), dtype=np.float32)
        s1 = scale / g
        bp = cv2.GaussianBlur(z, (0, 0), s1) - 0.6 * cv2.GaussianBlur(z, (0, 0), 2.5 * s1)
        bp *= amp / (bp.std() + 1e-9)
        a_, b_, e_, c_, d_, f_ = fr.px_to_patient_affine()
        cols = np.arange(fr.W, dtype=np.float32)[None, :]
        rows = np.arange(fr.H, dtype=np.float32)[:, None]
        mx = ((a_ * cols + b_ * rows + e_) / g + n / 2).astype(np.float32)
        my = ((c_ * cols + d_ * rows + f_ + 100.0) / g).astype(np.float32)
        t = cv2.remap(bp, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return t * air_frac


def shell(d, thick):
    """Projected cortical shell of a disc/sphere with normalised radius 1 and thickness thick."""
    outer = np.sqrt(np.clip(1 - d * d, 0, 1))
    inner = (1 - thick) * np.sqrt(np.clip(1 - (d / (1 - thick)) ** 2, 0, 1))
    return outer - inner


def tube_profile(u, cortex, depth_scale):
    """Projection across an elliptical tube with a cortical shell: bright edges, dimmer middle.
    u = normalised distance from the centreline (1 at the edge). Result in 'mm of cortex' units."""
    c = cortex
    outer = np.sqrt(np.clip(1 - u * u, 0, 1))
    innr = np.sqrt(np.clip((1 - c) ** 2 - u * u, 0, 1))
    cort = outer - innr
    return depth_scale * (cort + innr * (MU_MARROW / MU_CORTEX) * 1.2)


def render_disc(buf, frame, x, y, r, L):
    mmpp = frame.mm_per_px_patient()
    cx, cy = frame.to_px(x, y)
    rp = r / mmpp
    c0, c1 = int(max(0, cx - rp - 3)), int(min(frame.W, cx + rp + 4))
    r0, r1 = int(max(0, cy - rp - 3)), int(min(frame.H, cy + rp + 4))
    if c1 <= c0 or r1 <= r0:
        return
    cols = np.arange(c0, c1, dtype=np.float32)[None, :]
    rows = np.arange(r0, r1, dtype=np.float32)[:, None]
    d = np.hypot(cols - cx, rows - cy)
    cov = np.clip(rp - d + 0.5, 0, 1)
    edge = np.sqrt(np.clip(1 - (d / (rp + 0.5)) ** 2, 0, 1))
    buf[r0:r1, c0:c1] += L * cov * (0.6 + 0.4 * edge)


def render_nodule(buf, frame, n, supersample=True):
    """Adds density * chord (mm) of nodule n (patient coordinates) into buf."""
    shape = n["shape"]
    scale = n.get("scale", 1.0)
    if shape["type"] == "multi":
        ext = max(math.hypot(sx, sy) + r for sx, sy, sz, r in shape["spheres"]) * scale
    else:
        ext = shape["r"] * scale * 1.35
    mmpp = frame.mm_per_px_patient()
    cx, cy = frame.to_px(n["x"], n["y"])
    e = ext / mmpp + 3
    c0, c1 = int(max(0, cx - e)), int(min(frame.W, cx + e + 1))
    r0, r1 = int(max(0, cy - e)), int(min(frame.H, cy + e + 1))
    if c1 <= c0 or r1 <= r0:
        return
    a_, b_, e_, c_, d_, f_ = frame.px_to_patient_affine()
    acc = np.zeros((r1 - r0, c1 - c0), np.float64)
    offs = (-0.25, 0.25) if supersample else (0.0,)
    for oy in offs:
        for ox in offs:
            cols = np.arange(c0, c1, dtype=np.float64)[None, :] + ox
            rows = np.arange(r0, r1, dtype=np.float64)[:, None] + oy
            X = a_ * cols + b_ * rows + e_ - n["x"]
            Y = c_ * cols + d_ * rows + f_ - n["y"]
            acc += nodule_chord(shape, X, Y, scale)
    buf[r0:r1, c0:c1] += (n["density"] * acc / len(offs) ** 2).astype(np.float32)


# ----------------------------------------------------------------------------- imaging chain

def draw_imaging(rng):
    return {
        "n0": U(rng, 2.5e5, 1.4e6),          # photons / mm^2 unattenuated
        "spr": U(rng, 0.08, 0.25),            # scatter strength
        "scatter_sigma": U(rng, 35, 80),     # mm
        "heel": U(rng, -0.18, 0.18), "heel_x": U(rng, -0.06, 0.06), "vignette": U(rng, 0.0, 0.12),
        "psf": U(rng, 0.1, 0.3),             # mm (Gaussian sigma)
        "line_noise": U(rng, 0.0, 0.004),
        "us_sigma": U(rng, 1.5, 8.0), "us_gain": U(rng, 0.0, 1.3) if rng.random() < 0.8 else 0.0,
        "drc_sigma": U(rng, 20, 60), "drc": U(rng, 0.0, 0.5),
        "lo": U(rng, 60, 500), "hi": U(rng, 3400, 4095), "gamma": U(rng, 0.75, 1.35),
        "sig": U(rng, 0.0, 1.0), "p_lo": U(rng, 0.2, 3.0), "p_hi": U(rng, 99.0, 99.9),
        "collimate": [U(rng, 0, 22) if rng.random() < 0.3 else 0.0 for _ in range(4)],
        "marker": rng.random() < 0.7, "marker_pos": int(rng.integers(0, 4)), "marker_txt": "R" if rng.random() < 0.7 else "L",
    }


def reduced_noise_boost(psf_mm, sp, scale, sig_px):
    """Photon-count factor that gives a --scale image the per-pixel noise of the full-resolution
    image (PSF psf_mm) area-binned by 1/scale, instead of that of a detector with coarse pixels.

    Binned: white noise (unit variance per full-res pixel) through box(k) * Gaussian(psf), the
    variance is (integral of h^2)^2. Direct: variance 1/k^2 per coarse pixel, then the discrete
    blur actually applied (sig_px)."""
    from scipy.special import erf
    k = 1.0 / scale
    sf = max(psf_mm / (sp * scale), 1e-3)
    x = np.arange(-(k / 2 + 6 * sf + 1), k / 2 + 6 * sf + 1, 0.01)
    h = (erf((x + k / 2) / (math.sqrt(2) * sf)) - erf((x - k / 2) / (math.sqrt(2) * sf))) / (2 * k)
    var_binned = (float((h * h).sum()) * 0.01) ** 2
    d = np.zeros((41, 41), np.float32)
    d[20, 20] = 1
    g = cv2.GaussianBlur(d, (0, 0), sig_px, borderType=cv2.BORDER_REFLECT)
    var_direct = float((g.astype(np.float64) ** 2).sum()) / (k * k)
    return var_direct / var_binned


def expose(Att, body_sdf, frame, im, rng, with_noise=True):
    """Attenuation (nats) -> log-exposure image v (float32, larger = more attenuation)."""
    H, W = Att.shape
    sp = frame.sp
    yy = (np.arange(H, dtype=np.float32)[:, None] / H - 0.5)
    xx = (np.arange(W, dtype=np.float32)[None, :] / W - 0.5)
    I0 = (1 + im["heel"] * yy) * (1 + im["heel_x"] * xx) * (1 - im["vignette"] * (xx * xx + yy * yy) * 2)
    Ip = I0 * np.exp(-Att)
    bodyw = np.clip(body_sdf / 20.0, 0, 1)
    # scatter: generated inside the body, roughly in proportion to (1 - e^-A) e^-A/2, then spread widely
    S = im["spr"] * smooth(I0 * bodyw * (1 - np.exp(-Att)) * np.exp(-0.5 * Att), im["scatter_sigma"] / sp)
    I = Ip + S
    # collimation: unexposed borders
    col = np.ones((H, W), np.float32)
    cl, cr, ct, cb = [int(c / sp) for c in im["collimate"]]
    if cl: col[:, :cl] = 0.01
    if cr: col[:, W - cr:] = 0.01
    if ct: col[:ct, :] = 0.01
    if cb: col[H - cb:, :] = 0.01
    I = I * col
    if not with_noise:
        return -np.log(np.maximum(I, 1e-6)).astype(np.float32)
    npix = im["n0"] * sp * sp
    sig_px = math.sqrt((im["psf"] / sp) ** 2 + 1 / 12.0)
    if im.get("scale", 1.0) < 1.0:
        npix *= reduced_noise_boost(im["psf"], sp, im["scale"], sig_px)
    N = I * npix
    noise = rng.standard_normal((H, W), dtype=np.float32)
    Nn = N + np.sqrt(np.maximum(N, 1.0)) * noise
    # structured noise: row offsets and a faint low-frequency gain pattern
    rows = rng.standard_normal((H, 1)).astype(np.float32) * im["line_noise"]
    g = rng.standard_normal((max(2, H // 64), max(2, W // 64))).astype(np.float32)
    g = cv2.resize(g, (W, H), interpolation=cv2.INTER_CUBIC)
    gain = 1 + 0.003 * g / (g.std() + 1e-9)
    Nn = Nn * gain * (1 + rows)
    Nn = cv2.GaussianBlur(Nn, (0, 0), sig_px, borderType=cv2.BORDER_REFLECT)
    return -np.log(np.maximum(Nn, 0.5) / npix).astype(np.float32)


def process(v, frame, im):
    sp = frame.sp
    lo_pass = smooth(v, im["us_sigma"] / sp)
    out = v + im["us_gain"] * (v - lo_pass)
    big = smooth(v, im["drc_sigma"] / sp)
    out = out - im["drc"] * big
    return out


def window(p, body_mask, im, ref=None):
    if ref is None:
        vals = p[body_mask] if body_mask.any() else p.ravel()
        vals = vals[:: max(1, vals.size // 400000)]
        ref = (float(np.percentile(vals, im["p_lo"])), float(np.percentile(vals, im["p_hi"])))
    a, b = ref
    z = np.clip((p - a) / (b - a + 1e-6), -0.2, 1.0)
    zc = np.clip(z, 0, 1)
    s = zc * zc * (3 - 2 * zc)
    z2 = (1 - im["sig"]) * zc + im["sig"] * s
    z2 = z2 ** im["gamma"]
    out = im["lo"] + (im["hi"] - im["lo"]) * z2
    out = np.where(z < 0, im["lo"] * np.clip(1 + z / 0.2, 0, 1), out)
    return np.clip(out, 0, 4095).astype(np.float32), ref


def add_marker(img, frame, im, rng):
    if not im["marker"]:
        return
    H, W = img.shape
    size = 18.0 / frame.sp   # ~18 mm letters
    scale = size / 22.0
    th = max(1, int(round(2.5 / frame.sp)))
    m = int(25 / frame.sp)
    pos = im["marker_pos"]
    x = m if pos in (0, 2) else W - m - int(size)
    y = m + int(size) if pos in (0, 1) else H - m
    layer = np.zeros(img.shape, np.uint8)
    cv2.putText(layer, im["marker_txt"], (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, th, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer.astype(np.float32) / 255.0, (0, 0), max(0.6, 0.15 / frame.sp))
    np.maximum(img, layer * 4000, out=img)


# ----------------------------------------------------------------------------- one patient

def build_patient(seed_tuple):
    """Anatomy + vessel trees + distractors for one patient (independent of pose)."""
    ss = np.random.SeedSequence(seed_tuple)
    rng = np.random.default_rng(ss)
    A = draw_anatomy(rng)
    anat_seed = int(rng.integers(0, 2 ** 31))
    return A, rng, anat_seed


def lung_sdf_patient(A, grid_mm=1.0):
    """A patient-frame lung/visible-field SDF used for placing nodules and growing trees."""
    fr = Frame(int(600 / grid_mm), int(600 / grid_mm), grid_mm, c=(300.0, 120.0))
    co = Coarse(fr, target_mm=grid_mm)
    r = Renderer(A, fr, 0, None)
    r.co = co
    F = r.fields()
    # rib bands in the patient frame too (for 'deliberately over a rib')
    r.rib_fields()
    return co, F, r.ribs


def place_nodules(rng, A, co, F, ribs, n, max_scale=None, existing=()):
    """Draws n nodules inside the visible lung fields (patient frame)."""
    nods = []
    vis = F["vis"]
    band = np.full(vis.shape, 9.0, np.float32)
    for key, (u, wt, kind) in ribs.items():
        if kind in ("post", "clav"):
            band = np.minimum(band, np.where(wt > 0.3, u, 9.0))
    tries = 0
    placed = list(existing)
    while len(nods) < n and tries < 400:
        tries += 1
        q = rng.random()
        if q < 0.1:
            d = U(rng, 5.0, 6.0)
        elif q < 0.85:
            d = float(math.exp(rng.uniform(math.log(6.0), math.log(20.0))))
        else:
            d = U(rng, 20.0, 30.0)
        lob = rng.random() < 0.25
        over_rib = rng.random() < 0.35
        grow = max_scale(d) if max_scale else 1.0
        r_eff = d / 2 * grow * (1.15 if lob else 1.0)
        need = 0.5 * r_eff + 2.0
        ok = vis > need
        if over_rib:
            ok &= band < 0.7
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            continue
        j = idx[int(rng.integers(0, idx.size))]
        x = float(co.X.ravel()[j] + rng.uniform(-0.5, 0.5) * co.mm)
        y = float(co.Y.ravel()[j] + rng.uniform(-0.5, 0.5) * co.mm)
        if any(math.hypot(x - p[0], y - p[1]) < r_eff + p[2] + 10 for p in placed):
            continue
        shape = nodule_shape(rng, d, lob)
        density = float(np.clip(rng.beta(2.0, 1.6) * 0.7 + 0.4, 0.4, 1.1))
        placed.append((x, y, r_eff))
        nods.append({"x": x, "y": y, "d": d, "shape": shape, "lobulated": lob, "density": density})
    return nods


def draw_distractors(rng, A, co, F):
    dots = []
    vis = F["vis"]
    idx = np.flatnonzero(vis.ravel() > 3)
    hila = A["hila"]
    nd = int(rng.integers(3, 13))
    for _ in range(nd * 4):
        if len(dots) >= nd or idx.size == 0:
            break
        j = idx[int(rng.integers(0, idx.size))]
        x, y = float(co.X.ravel()[j]), float(co.Y.ravel()[j])
        dh = min(math.hypot(x - hx, y - hy) for hx, hy in hila)
        if rng.random() > math.exp(-dh / 70.0):
            continue
        r = U(rng, 1.0, 2.5)
        L = U(rng, 3, 12) * (1.0 if dh < 60 else 0.6)
        dots.append((x, y, r, L))
    gran = []
    if rng.random() < 0.2:
        for _ in range(int(rng.integers(1, 3))):
            j = idx[int(rng.integers(0, idx.size))]
            gran.append((float(co.X.ravel()[j]), float(co.Y.ravel()[j]), U(rng, 1.0, 2.0)))
    return dots, gran


# ----------------------------------------------------------------------------- one exam

def make_exam(A, trees, dots, gran, anat_seed, frame, im, rng, nodules):
    """Renders one exam. nodules: list of dicts in patient coords (x, y, shape, density, scale).

    Returns the 12-bit image, the 8-bit mask, per-nodule (x_px, y_px, contrast, on_rib) and the
    noise standard deviation (output counts) in the lung fields."""
    r = Renderer(A, frame, anat_seed, rng)
    r.fields()
    r.rib_fields()
    r.trees = trees
    r.dots = dots
    r.granulomas = gran
    out = r.render(nodules)
    mid = r.mid
    # collimation never cuts into the lung fields (keep >= 8 mm away)
    rows = np.flatnonzero(out["mask"].any(1))
    cols = np.flatnonzero(out["mask"].any(0))
    if rows.size:
        lim = [cols[0] * frame.sp - 8, (frame.W - 1 - cols[-1]) * frame.sp - 8,
               rows[0] * frame.sp - 8, (frame.H - 1 - rows[-1]) * frame.sp - 8]
        im = dict(im, collimate=[max(0.0, min(c, l)) for c, l in zip(im["collimate"], lim)])
    # window statistics: inside the body, outside collimated borders
    body = out["body"] > 0
    cl, cr, ct, cb = [int(c / frame.sp) for c in im["collimate"]]
    body[:, :cl] = False
    body[:, frame.W - cr:] = False
    body[:ct, :] = False
    body[frame.H - cb:, :] = False
    v = expose(out["A"], out["body"], frame, im, rng, True)
    p = process(v, frame, im)
    img, ref = window(p, body, im)
    add_marker(img, frame, im, rng)
    img16 = np.rint(img).astype(np.uint16)
    # noise-free renderings with and without nodules (mid grid) -> contrast in output counts
    w1, _ = window(process(expose(out["A_mid1"], out["body_mid"], mid, im, None, False), mid, im), None, im, ref)
    info = []
    if nodules:
        w0, _ = window(process(expose(out["A_mid0"], out["body_mid"], mid, im, None, False), mid, im), None, im, ref)
        for n in nodules:
            sc = n.get("scale", 1.0)
            px, py = frame.to_px(n["x"] + n["cx_off"] * sc, n["y"] + n["cy_off"] * sc)
            mx, my = mid.to_px(n["x"] + n["cx_off"] * sc, n["y"] + n["cy_off"] * sc)
            ci = min(max(int(round(float(mx))), 0), mid.W - 1)
            ri = min(max(int(round(float(my))), 0), mid.H - 1)
            # peak difference in a small window (lobulated shapes may peak off-centroid)
            rr = max(1, int(0.15 * n["d_now"] / mid.sp))
            sl = (slice(max(0, ri - rr), ri + rr + 1), slice(max(0, ci - rr), ci + rr + 1))
            c = float((w1[sl] - w0[sl]).max())
            info.append((float(px), float(py), c, bool(out["ribband"][ri, ci] < 1.0)))
    m = out["mask"]
    # robust noise estimate in the lung fields: image minus the (upsampled) noise-free image
    sigma = 0.0
    if m.any():
        d = (img - r.up_full(w1))[m]
        d = d[:: max(1, d.size // 300000)]
        sigma = float(1.4826 * np.median(np.abs(d - np.median(d))))
    return img16, (m.astype(np.uint8) * 255), info, sigma


def lung_extent(A):
    L = A["lungs"]
    return max(L["R"]["y_cp"], L["L"]["y_cp"]) - min(L["R"]["y_apex"], L["L"]["y_apex"])


def image_field(rng, A, spacing_range, scale):
    """Spacing (mm/px, exactly 1000/pHYs) and size; the field is chosen to frame the chest."""
    lo, hi = spacing_range
    sp_full = U(rng, lo, hi)
    sp = sp_full / scale
    ppm = int(round(1000.0 / sp))
    sp = 1000.0 / ppm
    L = A["lungs"]
    chest = L["R"]["W"] + L["L"]["W"] + 2 * A["wall"]
    Wmm = float(np.clip(chest + U(rng, 40, 150), 350, 430))
    Hmm = float(np.clip(lung_extent(A) + U(rng, 70, 160), 350, 430))
    return sp, int(round(Wmm / sp)), int(round(Hmm / sp))


def base_pose(rng, A, W, H, sp):
    Wmm, Hmm = W * sp, H * sp
    spare = Hmm - lung_extent(A)
    top = max(12.0, spare * U(rng, 0.28, 0.6))
    cx = Wmm / 2 + rng.normal(0, 8)
    return np.array([cx, top]), 1.0, float(rng.normal(0, 1.2))


def nodule_truth_entry(nid, n, px, py, contrast, on_rib, d_now):
    return {"id": nid, "x": round(px, 3), "y": round(py, 3), "diameter_mm": round(d_now, 3),
            "on_rib": on_rib, "lobulated": bool(n["lobulated"]), "contrast": round(contrast, 1)}


def finish_nodules(nods, scale_of):
    """Adds centroid offsets and current diameters (per growth scale)."""
    for n in nods:
        sc = scale_of(n)
        cx, cy, d = nodule_geometry(n["shape"], 1.0)
        n["cx_off"], n["cy_off"] = cx, cy
        n["scale"] = sc
        n["d_now"] = d * sc if n["lobulated"] else n["d"] * sc


# ----------------------------------------------------------------------------- drivers

def draw_single(seed, i, spacing_range, scale):
    """Everything random about image i of a single-image set (anatomy, pose, nodules, imaging)."""
    for attempt in range(20):
        A, rng, anat_seed = build_patient((seed, 1, i, attempt))
        sp, W, H = image_field(rng, A, spacing_range, scale)
        if lung_extent(A) < H * sp - 30:
            break
    c, s, th = base_pose(rng, A, W, H, sp)
    frame = Frame(W, H, sp, c, s, th)
    co_p, F_p, ribs_p = lung_sdf_patient(A)
    fn = lambda x, y: float(co_p.sample(F_p["lung"], x, y)[0])
    trees = draw_vessels(rng, A, fn)
    dots, gran = draw_distractors(rng, A, co_p, F_p)
    q = rng.random()
    nn = 0 if q < 0.2 else 1 if q < 0.5 else 2 if q < 0.75 else 3 if q < 0.9 else 4
    nods = place_nodules(rng, A, co_p, F_p, ribs_p, nn)
    finish_nodules(nods, lambda n: 1.0)
    im = draw_imaging(rng)
    im["scale"] = scale
    return A, trees, dots, gran, anat_seed, frame, im, rng, nods


def single_set(args):
    out = args.out
    os.makedirs(out, exist_ok=True)
    truth = {"generator": GENERATOR, "version": VERSION, "seed": args.seed, "images": []}
    times = []
    for i in range(args.count):
        t0 = time.perf_counter()
        name = "ph-%04d" % (i + 1)
        A, trees, dots, gran, anat_seed, frame, im, rng, nods = draw_single(args.seed, i, args.spacing_range, args.scale)
        sp, W, H = frame.sp, frame.W, frame.H
        img, mask, info, sigma = make_exam(A, trees, dots, gran, anat_seed, frame, im, rng, nods)
        rel = "images/%s.png" % name
        relm = "masks/%s_mask.png" % name
        write_png(os.path.join(out, rel), img, sp, 12, level=args.level)
        write_png(os.path.join(out, relm), mask, None, None, level=9)
        entries = []
        for k, (n, (px, py, con, onr)) in enumerate(zip(nods, info)):
            e = nodule_truth_entry("N%d" % (k + 1), n, px, py, con, onr, n["d_now"])
            e["cnr"] = round(con / max(sigma, 1e-6), 2)
            entries.append(e)
        truth["images"].append({"path": rel, "patient_id": None, "study_date": None, "width": W, "height": H,
                                "pixel_spacing_mm": round(sp, 6), "lung_mask": relm,
                                "noise_sigma": round(sigma, 2), "nodules": entries})
        times.append(time.perf_counter() - t0)
        if args.preview:
            write_preview(args.preview, name, img, truth["images"][-1], sp)
        print("%s %dx%d %.4f mm %d nodules %.2f s" % (rel, W, H, sp, len(entries), times[-1]), file=sys.stderr)
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")
    print("median %.2f s/image" % float(np.median(times)), file=sys.stderr)


def series_set(args):
    out = args.out
    os.makedirs(out, exist_ok=True)
    truth = {"generator": GENERATOR, "version": VERSION, "seed": args.seed, "images": [], "patients": []}
    for p in range(args.series):
        pid = "PH-%04d" % (p + 1)
        for attempt in range(20):
            A, rng, anat_seed = build_patient((args.seed, 2, p, attempt))
            sp0, W, H = image_field(rng, A, args.spacing_range, args.scale)
            if lung_extent(A) < H * sp0 - 30:
                break
        co_p, F_p, ribs_p = lung_sdf_patient(A)
        fn = lambda x, y: float(co_p.sample(F_p["lung"], x, y)[0])
        trees = draw_vessels(rng, A, fn)
        dots, gran = draw_distractors(rng, A, co_p, F_p)
        n_exams = int(rng.integers(2, 4))
        start = dt.date(2022, 1, 3) + dt.timedelta(days=int(rng.integers(0, 1200)))
        dates = [start]
        for _ in range(n_exams - 1):
            dates.append(dates[-1] + dt.timedelta(days=int(rng.integers(60, 280))))
        span = (dates[-1] - dates[0]).days
        # nodules: growing / stable / new
        nn = int(rng.integers(1, 5))
        kinds = []
        for j in range(nn):
            q = rng.random()
            kinds.append("growing" if q < 0.5 else "stable" if q < 0.8 else "new")
        if "growing" not in kinds:
            kinds[0] = "growing"
        vdts = [float(math.exp(rng.uniform(math.log(60), math.log(900)))) if k != "stable" else None for k in kinds]
        max_growth = [2 ** (span / (3 * v)) if v else 1.0 for v in vdts]
        mg = max(max_growth)
        nods = place_nodules(rng, A, co_p, F_p, ribs_p, nn, max_scale=lambda d: max(1.0, min(mg, 34.0 / d)))
        plist = []
        for j, n in enumerate(nods):
            n["id"] = "N%d" % (j + 1)
            n["status"] = kinds[j]
            n["vdt"] = vdts[j]
            n["appear"] = 0 if kinds[j] != "new" else int(rng.integers(1, n_exams))
            if n["vdt"] is not None:
                # keep the last diameter <= 34 mm (and within the placement margin)
                t_last = (dates[-1] - dates[n["appear"]]).days
                room = math.log2(max(34.0 / n["d"], 1.05))
                if t_last > 0:
                    n["vdt"] = max(n["vdt"], t_last / (3 * room))
            n["d0"] = nodule_geometry(n["shape"], 1.0)[2] if n["lobulated"] else n["d"]
            plist.append({"id": n["id"], "status": n["status"], "vdt_days": None if n["vdt"] is None else round(n["vdt"], 1),
                          "d0_mm": round(n["d0"], 3), "d0_date": dates[n["appear"]].isoformat(),
                          "lobulated": n["lobulated"]})
        truth["patients"].append({"patient_id": pid, "exams": [d.isoformat() for d in dates], "nodules": plist})
        ref_pose = None
        for e, date in enumerate(dates):
            erng = np.random.default_rng(np.random.SeedSequence((args.seed, 3, p, e)))
            sp = sp0
            Wk, Hk = W, H
            if e > 0 and erng.random() < 0.35:   # a different detector / binning on a later exam
                sp_full = U(erng, *args.spacing_range)
                ppm = int(round(1000.0 / (sp_full / args.scale)))
                sp = 1000.0 / ppm
                Wk, Hk = int(round(W * sp0 / sp)), int(round(H * sp0 / sp))
            c0, s0, th0 = base_pose(np.random.default_rng(np.random.SeedSequence((args.seed, 4, p))), A, W, H, sp0)
            if e == 0:
                c, s, th = c0, 1.0, th0
            else:
                c = c0 + np.array([erng.uniform(-15, 15), erng.uniform(-15, 15)])
                s = U(erng, 0.97, 1.03)
                th = th0 + U(erng, -3, 3)
            frame = Frame(Wk, Hk, sp, c, s, th)
            if e == 0:
                ref_pose = frame
            present = [n for n in nods if n["appear"] <= e]

            def scale_of(n, date=date):
                if n["vdt"] is None:
                    return 1.0
                t = (date - dates[n["appear"]]).days
                return 2 ** (t / (3 * n["vdt"]))
            finish_nodules(present, scale_of)
            im = draw_imaging(erng)
            im["scale"] = args.scale
            img, mask, info, sigma = make_exam(A, trees, dots, gran, anat_seed, frame, im, erng, present)
            rel = "%s/%s/pa.png" % (pid, date.isoformat())
            # masks go under a dot-folder: batch walkers skip hidden names, and a visible
            # masks/<patient>/<date>/ would otherwise look like another exam of the patient
            relm = ".masks/%s/%s/pa_mask.png" % (pid, date.isoformat())
            write_png(os.path.join(out, rel), img, sp, 12, level=args.level)
            write_png(os.path.join(out, relm), mask, None, None, level=9)
            entries = []
            for n, (px, py, con, onr) in zip(present, info):
                en = nodule_truth_entry(n["id"], n, px, py, con, onr, n["d_now"])
                en["cnr"] = round(con / max(sigma, 1e-6), 2)
                en["status"] = n["status"]
                en["vdt_days"] = None if n["vdt"] is None else round(n["vdt"], 1)
                entries.append(en)
            # transform: this exam's image mm -> reference exam's image mm
            sc = ref_pose.s / frame.s
            dth = ref_pose.theta - frame.theta
            Rm = np.array([[math.cos(dth), -math.sin(dth)], [math.sin(dth), math.cos(dth)]])
            t = ref_pose.c - sc * Rm @ frame.c
            Apx = sc * Rm * (frame.sp / ref_pose.sp)
            bpx = t / ref_pose.sp
            rec = {"path": rel, "patient_id": pid, "study_date": date.isoformat(), "width": Wk, "height": Hk,
                   "pixel_spacing_mm": round(sp, 6), "lung_mask": relm, "noise_sigma": round(sigma, 2),
                   "transform_to_reference": {"tx_mm": round(float(t[0]), 4), "ty_mm": round(float(t[1]), 4),
                                              "rotation_deg": round(math.degrees(dth), 5), "scale": round(sc, 6),
                                              "reference": "%s/%s/pa.png" % (pid, dates[0].isoformat()),
                                              "pixel_affine": [[round(float(Apx[0, 0]), 8), round(float(Apx[0, 1]), 8), round(float(bpx[0]), 4)],
                                                               [round(float(Apx[1, 0]), 8), round(float(Apx[1, 1]), 8), round(float(bpx[1]), 4)]]},
                   "nodules": entries}
            truth["images"].append(rec)
            if args.preview:
                write_preview(args.preview, "%s_%s" % (pid, date.isoformat()), img, rec, sp)
            print("%s %dx%d %.4f mm %d nodules" % (rel, Wk, Hk, sp, len(entries)), file=sys.stderr)
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")


def write_preview(folder, name, img, rec, sp, size=900):
    os.makedirs(folder, exist_ok=True)
    H, W = img.shape
    f = size / max(H, W)
    small = cv2.resize(img.astype(np.float32), (int(W * f), int(H * f)), interpolation=cv2.INTER_AREA)
    p8 = np.clip(small / 16.0, 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(p8, cv2.COLOR_GRAY2BGR)
    for n in rec["nodules"]:
        r = n["diameter_mm"] / sp / 2 * f
        cv2.circle(rgb, (int(round(n["x"] * f)), int(round(n["y"] * f))), int(r + 6), (0, 0, 255), 1, cv2.LINE_AA)
        cv2.putText(rgb, "%s %.0f" % (n["id"], n["contrast"]), (int(n["x"] * f + r + 7), int(n["y"] * f)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 200, 255), 1, cv2.LINE_AA)
    cv2.imwrite(os.path.join(folder, name + ".png"), rgb)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=8, help="number of images (single-image mode)")
    ap.add_argument("--series", type=int, default=0, metavar="P", help="make P patients with 2-3 exams each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--spacing-range", default="0.14:0.20", help="full-resolution spacing range, mm (LO:HI)")
    ap.add_argument("--scale", type=float, default=1.0, help="downscale factor (0.4 -> ~0.35-0.5 mm/px)")
    ap.add_argument("--level", type=int, default=4, help="PNG zlib level for images (masks always 9)")
    ap.add_argument("--preview", default=None, help="also write 8-bit previews with truth circles here")
    args = ap.parse_args(argv)
    lo, hi = (float(v) for v in args.spacing_range.split(":"))
    args.spacing_range = (lo, hi)
    if not (0 < args.scale <= 1):
        ap.error("--scale must be in (0, 1]")
    if args.series:
        series_set(args)
    else:
        single_set(args)


if __name__ == "__main__":
    main()
