#!/usr/bin/env python3
"""phantom-f: independent synthetic PA chest-radiograph phantom generator.

Written from a written specification only (see README.md).  Dependencies:
numpy, scipy, opencv-python-headless, pydicom (only for --format dicom).

Single images:  make_phantoms_f.py --count N  --seed S --out DIR [--jobs J] [--format png|dicom]
Serial exams:   make_phantoms_f.py --series P --seed S --out DIR [--jobs J] [--format png|dicom]

Physics summary: every structure is described as a line integral of linear
attenuation (1/mm x mm) on a canvas in "reference" patient coordinates; an
exam warps that canvas (repositioning), adds nodules and exam-specific
distractors, then runs an imaging chain (I0*exp(-A), scatter, quantum noise,
detector blur, electronic noise, log, multi-scale processing, window, S-LUT,
12-bit quantisation).
"""
import argparse
import datetime as dt
import hashlib
import json
import math
import os
import struct
import sys
import time
import zlib

import numpy as np
import cv2
from scipy import ndimage as ndi

cv2.setNumThreads(1)
try:
    cv2.ocl.setUseOpenCL(False)
except Exception:  # pragma: no cover
    pass

GENERATOR = "phantom-f"
VERSION = 1

MU = 0.020      # soft tissue linear attenuation (1/mm), effective ~60 keV
MU_CB = 0.036   # cortical bone minus soft tissue
MU_TB = 0.006   # trabecular bone/marrow minus soft tissue
MU_CA = 0.060   # calcification minus soft tissue


# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------

def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def catmull(points, step):
    """Catmull-Rom spline through points (n,2), sampled about every `step`."""
    P = np.asarray(points, float)
    P = np.vstack([2 * P[0] - P[1], P, 2 * P[-1] - P[-2]])
    out = []
    for i in range(1, len(P) - 2):
        p0, p1, p2, p3 = P[i - 1], P[i], P[i + 1], P[i + 2]
        n = max(2, int(np.linalg.norm(p2 - p1) / step))
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(P[-2][None])
    return np.vstack(out)


def gblur(img, sigma_px):
    """Gaussian blur; large sigmas computed on a decimated copy (fast, deterministic)."""
    if sigma_px <= 0.05:
        return img.copy()
    if sigma_px < 6:
        return cv2.GaussianBlur(img, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    h, w = img.shape
    f = int(min(32, max(2, sigma_px // 3)))
    small = cv2.resize(img, (max(2, w // f), max(2, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / f, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def ellip_chord(d, a, b):
    return 2.0 * b * np.sqrt(np.clip(1.0 - (d / a) ** 2, 0.0, None))


def bone_profile(d, a, b, c, muc=MU_CB, mut=MU_TB):
    """Line integral across an elliptical bone tube with a cortical shell."""
    ai = np.maximum(a - c, 0.2)
    bi = np.maximum(b - c, 0.2)
    outer = ellip_chord(d, a, b)
    inner = ellip_chord(d, ai, bi)
    return muc * (outer - inner) + mut * inner


def loguniform(rng, a, b):
    return float(math.exp(rng.uniform(math.log(a), math.log(b))))


class Grid:
    """A raster over the patient canvas.  f = decimation factor vs. full res."""

    def __init__(self, s, m, f, w_full, h_full):
        self.s, self.m, self.f = s, m, f
        self.ps = s * f
        self.w = int(math.ceil(w_full / f))
        self.h = int(math.ceil(h_full / f))
        off = (f - 1) / 2.0
        self.off = off
        self.X = ((np.arange(self.w) * f + off - m) * s).astype(np.float32)
        self.Y = ((np.arange(self.h) * f + off - m) * s).astype(np.float32)

    def px(self, pts):
        pts = np.asarray(pts, float)
        return ((pts / self.s + self.m) - self.off) / self.f


def tube_field(gr, pts, pad_mm):
    """Distance (mm) to a polyline and arc-length parameter of nearest point.
    Returns (slices, d_mm, t) over the polyline's ROI clipped to the grid, or None."""
    P = gr.px(pts)
    pad = pad_mm / gr.ps + 3
    x0 = int(math.floor(P[:, 0].min() - pad)); x1 = int(math.ceil(P[:, 0].max() + pad)) + 1
    y0 = int(math.floor(P[:, 1].min() - pad)); y1 = int(math.ceil(P[:, 1].max() + pad)) + 1
    gx0, gx1 = max(x0, 0), min(x1, gr.w)
    gy0, gy1 = max(y0, 0), min(y1, gr.h)
    if gx0 >= gx1 or gy0 >= gy1:
        return None
    w, h = x1 - x0, y1 - y0
    if w * h > 12e6:
        return None
    img = np.ones((h, w), np.uint8)
    par = np.zeros((h, w), np.float32)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    tv = np.concatenate([[0], np.cumsum(seg)])
    tv = tv / max(tv[-1], 1e-6)
    Q = np.round((P - [x0, y0]) * 16).astype(np.int64)
    for i in range(len(P) - 1):
        a = (int(Q[i, 0]), int(Q[i, 1])); b = (int(Q[i + 1, 0]), int(Q[i + 1, 1]))
        cv2.line(img, a, b, 0, 1, cv2.LINE_8, 4)
        cv2.line(par, a, b, float(0.5 * (tv[i] + tv[i + 1])), 1, cv2.LINE_8, 4)
    d, ind = ndi.distance_transform_edt(img, return_indices=True)
    t = par[ind[0], ind[1]]
    sl = (slice(gy0 - y0, gy1 - y0), slice(gx0 - x0, gx1 - x0))
    return (slice(gy0, gy1), slice(gx0, gx1)), (d[sl] * gr.ps).astype(np.float32), t[sl]


# ----------------------------------------------------------------------------
# PNG / DICOM writers
# ----------------------------------------------------------------------------

def _chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def write_png(path, arr, bitdepth, spacing_mm=None, sbit=None):
    h, w = arr.shape
    if bitdepth == 16:
        raw = np.ascontiguousarray(arr.astype(">u2")).view(np.uint8).reshape(h, w * 2)
    else:
        raw = np.ascontiguousarray(arr.astype(np.uint8)).reshape(h, w)
    up = raw.copy()
    up[1:] = raw[1:] - raw[:-1]        # PNG filter type 2 ("Up"), modulo 256
    filt = np.empty((h, raw.shape[1] + 1), np.uint8)
    filt[:, 0] = 2
    filt[:, 1:] = up
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, 0, 0, 0, 0))]
    if sbit:
        out.append(_chunk(b"sBIT", bytes([sbit])))
    if spacing_mm:
        ppm = int(round(1000.0 / spacing_mm))
        out.append(_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)))
    out.append(_chunk(b"IDAT", zlib.compress(filt.tobytes(), 6)))
    out.append(_chunk(b"IEND", b""))
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(b"".join(out))
    os.replace(tmp, path)


def _uid(*parts):
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return "2.25." + str(int(h[:30], 16))


def write_dicom(path, img12, s, patient_id, study_date, mono1, uid_key):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian
    sop_class = "1.2.840.10008.5.1.4.1.1.1.1"   # Digital X-Ray Image Storage - For Presentation
    sop_uid = _uid("sop", *uid_key)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "2.25.31415926535897932384626433832795"
    meta.ImplementationVersionName = "PHANTOM_F_1"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = _uid("study", patient_id, study_date, *uid_key[:1])
    ds.SeriesInstanceUID = _uid("series", *uid_key)
    ds.Modality = "DX"
    ds.PatientName = "PHANTOM^F"
    ds.PatientID = patient_id
    ds.StudyDate = study_date.replace("-", "")
    ds.SeriesDate = ds.StudyDate
    ds.ContentDate = ds.StudyDate
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "phantom-f"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PatientOrientation = ["L", "F"]
    ds.ImageType = ["DERIVED", "PRIMARY"]
    sp = "%.10g" % s
    ds.PixelSpacing = [sp, sp]
    ds.ImagerPixelSpacing = [sp, sp]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
    ds.Rows, ds.Columns = int(img12.shape[0]), int(img12.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = "2048"
    ds.WindowWidth = "4096"
    stored = (4095 - img12.astype(np.int32)) if mono1 else img12.astype(np.int32)
    ds.PixelData = stored.astype("<u2").tobytes()
    tmp = path + ".tmp"
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------
# anatomy parameters (relative coordinates: x from midline, y from right apex, mm)
# ----------------------------------------------------------------------------

def sample_anatomy(seed, size):
    r = np.random.default_rng(seed)
    U = r.uniform
    P = {"size": size}
    fat = float(r.beta(1.4, 2.6))
    P["fat"] = fat
    P["female"] = bool(r.random() < 0.45)
    sr = 21.0 * size * U(0.92, 1.1)
    sp = sr * (0.80 + 0.045 * np.arange(1, 13))
    y1 = U(-2, 10) * size
    yrib = y1 + np.concatenate([[0.0], np.cumsum(sp[:11])])
    P["yrib"] = yrib
    u = r.random()
    insp = U(8.8, 10.8) if u >= 0.26 else (U(7.3, 8.6) if u < 0.14 else U(10.9, 12.0))
    P["insp"] = insp
    ydR = float(np.interp(insp - 1, np.arange(12), yrib) + U(-5, 5) * size)
    Lh = ydR
    P["Lh"] = Lh
    infl = (insp - 9.8) / 2.2           # -1 low inspiration .. +1 hyperinflated
    P["rho"] = float(np.clip(0.25 - 0.05 * infl + U(-0.03, 0.03), 0.15, 0.36))
    wl = 126 * size * U(0.9, 1.1) * (1 + 0.04 * infl)
    P["hilR"] = U(0.36, 0.48) * Lh
    P["hilL"] = P["hilR"] - U(3, 15) * size
    # mediastinum
    P["mR"] = dict(m0=U(27, 38) * size, svc=U(0, 8) * size, ysvc=U(0.12, 0.3) * Lh,
                   mlow=U(14, 20) * size, yh=P["hilR"])
    P["mL"] = dict(m0=U(24, 34) * size, knob=U(8, 22) * size, yk=U(0.27, 0.36) * Lh, wk=U(9, 15) * size,
                   pa=U(2, 9) * size, ypa=0.0, wpa=U(8, 13) * size, mlow=U(13, 19) * size, yh=P["hilL"])
    P["mL"]["ypa"] = P["mL"]["yk"] + U(20, 32) * size
    sides = {}
    for key, sgn in (("R", -1), ("L", 1)):
        Lg = {"sgn": sgn, "key": key}
        Lg["yap"] = 0.0 if key == "R" else U(-4, 6) * size
        Lg["xap"] = U(38, 52) * size
        Lg["wl"] = wl * (1.0 if key == "R" else U(0.93, 1.04))
        Lg["q1"] = U(0.42, 0.68)
        Lg["vm"] = U(0.62, 0.86)
        Lg["vmed"] = U(0.07, 0.16)
        Lg["taper"] = U(0.0, 0.07)
        if key == "R":
            yd = ydR
        else:
            yd = ydR + (U(4, 24) * size if r.random() < 0.8 else U(-10, 4) * size)
        Lg["ydome"] = yd
        Lg["ycp"] = yd + U(14, 38) * size * (1.25 - 0.35 * infl)
        Lg["xd"] = U(0.38, 0.56) * Lg["wl"]
        Lg["pw"] = U(1.6, 2.6)
        Lg["kmed"] = U(0.0006, 0.004) * (1.0 - 0.5 * max(infl, 0))
        Lg["rec"] = U(18, 40) * size
        sides[key] = Lg
    for key in ("R", "L"):
        Lg = sides[key]
        _, lat, _ = lung_borders(Lg, np.array([Lg["ycp"]]), P)
        Lg["xl"] = float(lat[0])
    P["sides"] = sides
    # depth / body
    P["wall"] = (10 + fat * U(18, 55)) * size
    P["Tc"] = (U(175, 215) + fat * U(40, 100)) * size
    P["Dbot"] = max(90.0, P["Tc"] - 1.2 * P["wall"] - U(35, 55) * size)
    P["Dtop"] = U(35, 60) * size
    P["re"] = U(28, 45) * size
    P["neck"] = U(45, 62) * size * (1 + 0.4 * fat)
    P["shoulder"] = U(15, 55) * size
    P["pe"] = 0.5 - 0.18 * fat
    # heart
    cm = r.random() < 0.16
    hax = U(60, 74) * size * (U(1.18, 1.38) if cm else 1.0) * (1 + 0.08 * max(-infl, 0))
    P["heart"] = dict(ax=hax, ay=hax * U(0.62, 0.82), rot=math.radians(U(18, 40)),
                      cx=U(10, 26) * size, cy=0.0, a2=U(0, 0.05), p2=U(0, 6.28),
                      a3=U(0, 0.04), p3=U(0, 6.28), hfrac=U(0.5, 0.72), rh=U(25, 45) * size,
                      cardiomegaly=cm)
    P["heart"]["cy"] = sides["L"]["ydome"] - P["heart"]["ay"] * U(0.5, 0.8)
    P["krd"] = U(0.25, 0.45)
    # spine / trachea / aorta
    P["wv0"] = U(27, 33) * size
    P["scol"] = U(0, 5) * size * (1 if r.random() < 0.5 else -1)
    P["scol_l"] = U(150, 400)
    P["trach_r"] = U(7.5, 10.5) * size
    P["carina"] = U(0.22, 0.34) * Lh + 25 * size
    P["trach_dev"] = U(2, 7) * size
    P["aorta_r"] = U(10, 15) * size
    P["rib_w"] = U(0.85, 1.2)
    P["cortex"] = U(0.9, 1.5)
    P["rib_seed"] = int(r.integers(2 ** 31))
    # clavicles / scapulae / arms / breast / stomach
    P["ycm"] = U(10, 60) * size
    P["clav_rise"] = U(10, 45) * size
    P["clav_a"] = U(5, 7.5) * size
    P["scap_over"] = bool(r.random() < 0.55)
    P["arms"] = bool(r.random() < 0.5)
    P["breast"] = bool(P["female"] and r.random() < 0.85)
    P["stomach"] = bool(r.random() < 0.65)
    P["extra_seed"] = int(r.integers(2 ** 31))
    # extents
    P["ext"] = dict(xR=sides["R"]["wl"] + 8, xL=sides["L"]["wl"] + 8,
                    ytop=min(sides["R"]["yap"], sides["L"]["yap"]) - 28,
                    ybot=max(sides["R"]["ycp"] + sides["R"]["rec"], sides["L"]["ycp"] + sides["L"]["rec"]) + 12)
    return P


def med_line(P, key, y):
    M = P["m" + key]
    if key == "R":
        up = M["m0"] + M["svc"] * np.exp(-((y - M["ysvc"]) / 25.0) ** 2)
    else:
        up = (M["m0"] + M["knob"] * np.exp(-((y - M["yk"]) / M["wk"]) ** 2)
              + M["pa"] * np.exp(-((y - M["ypa"]) / M["wpa"]) ** 2))
    w = smoothstep(M["yh"], M["yh"] + 45.0, y)
    return up * (1 - w) + M["mlow"] * w


def lung_borders(Lg, y, P):
    v = (y - Lg["yap"]) / (Lg["ycp"] - Lg["yap"])
    vc = np.maximum(v, 0)
    up = np.clip(vc / Lg["vm"], 0, 1)
    span = Lg["wl"] - Lg["xap"]
    lat = Lg["xap"] + span * np.sin(np.pi / 2 * up) ** Lg["q1"]
    below = np.maximum((vc - Lg["vm"]) / (1 - Lg["vm"]), 0)
    lat = lat - span * Lg["taper"] * below ** 2
    Mv = np.sin(np.pi / 2 * np.clip(vc / Lg["vmed"], 0, 1)) ** 0.7
    med = Lg["xap"] - (Lg["xap"] - med_line(P, Lg["key"], y)) * Mv
    return v, lat, med


def dia_y(Lg, ax):
    xd, xl = Lg["xd"], Lg["xl"]
    lateral = Lg["ydome"] + (Lg["ycp"] - Lg["ydome"]) * np.clip((ax - xd) / max(xl - xd, 5.0), 0, None) ** Lg["pw"]
    medial = Lg["ydome"] + Lg["kmed"] * (xd - ax) ** 2
    return np.where(ax > xd, lateral, medial)


def fit_anatomy(rng, s, W, H, margin_mm):
    seed = int(rng.integers(2 ** 63))
    size = float(np.clip(rng.normal(1.0, 0.07), 0.86, 1.18))
    FW, FH = W * s, H * s
    P = sample_anatomy(seed, size)
    for _ in range(3):
        e = P["ext"]
        need_w = e["xR"] + e["xL"]
        need_h = e["ybot"] - e["ytop"] + 10
        k = min(1.0, (FW - 2 * margin_mm) / need_w, (FH - 2 * margin_mm) / need_h)
        if k >= 0.999:
            break
        size *= k * 0.985
        P = sample_anatomy(seed, size)
    e = P["ext"]
    slack_w = max(0.0, FW - 2 * margin_mm - (e["xR"] + e["xL"]))
    slack_h = max(0.0, FH - 2 * margin_mm - (e["ybot"] - e["ytop"]))
    P["xm"] = margin_mm + e["xR"] + slack_w * float(np.clip(rng.normal(0.5, 0.18), 0, 1))
    P["yap"] = margin_mm - e["ytop"] + slack_h * float(rng.beta(1.6, 2.4))
    return P


# ----------------------------------------------------------------------------
# patient rendering (static anatomy on the reference canvas)
# ----------------------------------------------------------------------------

class Patient:
    pass


def build_patient(rng, s, W, H, m, margin_mm):
    P = fit_anatomy(rng, s, W, H, margin_mm)
    er = np.random.default_rng(P["extra_seed"])
    Wc, Hc = W + 2 * m, H + 2 * m
    gr = Grid(s, m, 2, Wc, Hc)
    xm, yap = P["xm"], P["yap"]
    Xr = (gr.X - xm)[None, :]                       # relative x (mm), image-right positive
    Yr = (gr.Y - yap)[:, None]                      # relative y (mm), down positive
    yrow = gr.Y - yap
    h, w = gr.h, gr.w
    sides = P["sides"]

    # ---- heart
    Hh = P["heart"]
    ca, sa = math.cos(Hh["rot"]), math.sin(Hh["rot"])
    dx = Xr - Hh["cx"]; dy = Yr - Hh["cy"]
    uu = (dx * ca + dy * sa) / Hh["ax"]
    vv = (-dx * sa + dy * ca) / Hh["ay"]
    rr = np.sqrt(uu ** 2 + vv ** 2)
    ph = np.arctan2(vv, uu)
    heart = rr < 1 + Hh["a2"] * np.sin(2 * ph + Hh["p2"]) + Hh["a3"] * np.sin(3 * ph + Hh["p3"])
    del uu, vv, rr, ph, dx, dy
    heart_u8 = heart.astype(np.uint8)
    dheart = cv2.distanceTransform(heart_u8, cv2.DIST_L2, 5) * gr.ps
    fh = Hh["hfrac"] * np.sqrt(np.clip(dheart / Hh["rh"], 0, 1))

    # ---- lungs
    phys = np.zeros((h, w), bool)
    vis = np.zeros((h, w), bool)
    tap = np.zeros((h, w), np.float32)
    below_fac = np.ones((h, w), np.float32)
    for key, Lg in sides.items():
        sgn = Lg["sgn"]
        v, lat, med = lung_borders(Lg, yrow, P)
        ax = np.abs(Xr)
        side = (sgn * Xr) > 0
        yd = dia_y(Lg, ax)
        rec = Lg["rec"] * (0.5 + 0.5 * np.clip(ax / Lg["xl"], 0, 1))
        band = (v >= 0)[:, None] & (ax < lat[:, None]) & (ax > med[:, None]) & side
        ph_s = band & (Yr < yd + rec)
        vi_s = band & (Yr < yd)
        phys |= ph_s
        vis |= vi_s
        tv = P["Dtop"] + (P["Dbot"] - P["Dtop"]) * np.clip(v, 0, 1) ** 0.6
        tap = np.where(ph_s, tv[:, None].astype(np.float32), tap)
        fd = np.clip((Yr - yd) / rec, 0, 1)
        bf = np.where(Yr > yd, P["krd"] * (1 - fd) ** 1.3, 1.0).astype(np.float32)
        below_fac = np.where(ph_s, bf, below_fac)
        Lg["_yd_fn"] = None
    vis &= ~heart
    dist = cv2.distanceTransform(phys.astype(np.uint8), cv2.DIST_L2, 5) * gr.ps
    tl = tap * np.sqrt(np.clip(dist / P["re"], 0, 1)) * below_fac * (1 - fh)
    tl = tl.astype(np.float32)

    # descending aorta reduces retrocardiac lung depth (gives the para-aortic interface)
    Lk = P["mL"]
    ao_pts = catmull([[Lk["m0"] + Lk["knob"] - P["aorta_r"] * 0.8, Lk["yk"] - 4],
                      [Lk["mlow"] + P["aorta_r"] * 0.5, Lk["yk"] + 45],
                      [Lk["mlow"] + P["aorta_r"] * 0.3 + 3, sides["L"]["ydome"] + 40]], 2.0)
    ao_pts = ao_pts + [xm, yap]
    tf = tube_field(gr, ao_pts, P["aorta_r"] + 2)
    if tf is not None:
        sl, d, t = tf
        tl[sl] = np.maximum(tl[sl] - 0.9 * ellip_chord(d, P["aorta_r"], P["aorta_r"]), 0)

    # ---- body
    ys_ctrl = np.array([-400, -70, -35, 15, 0.45 * P["Lh"], max(sides["R"]["ycp"], sides["L"]["ycp"]), 900])
    T_ctrl = np.array([0.55, 0.6, 0.78, 0.9, 1.0, 1.04, 1.08]) * P["Tc"]
    T_ctrl[:2] = np.maximum(T_ctrl[:2], 0.0)
    T_ctrl[0] = T_ctrl[1] = 100 + 50 * P["fat"]
    Ty = np.interp(yrow, ys_ctrl, T_ctrl)
    Ty = ndi.gaussian_filter1d(Ty, 12.0 / gr.ps).astype(np.float32)
    B = np.zeros((h, w), np.float32)
    for key, Lg in sides.items():
        sh = Lg["wl"] + P["wall"] + P["shoulder"]
        wc = [P["neck"], P["neck"] * 1.08, sh * 0.8, sh, Lg["wl"] + P["wall"] + 4,
              Lg["xl"] + P["wall"] + 6, Lg["xl"] + P["wall"] * 1.25 + 4]
        By = np.interp(yrow, ys_ctrl, wc)
        By = ndi.gaussian_filter1d(By, 10.0 / gr.ps).astype(np.float32)
        side = (Lg["sgn"] * Xr) >= 0
        B = np.where(side, By[:, None], B)
    prof = np.clip(1 - (Xr / B) ** 2, 0, None) ** P["pe"]
    A = (MU * Ty[:, None] * prof).astype(np.float32)
    body = prof > 0
    A -= (MU * (1 - P["rho"]) * tl).astype(np.float32)

    # lung parenchymal texture (band-pass noise weighted by lung depth)
    wn = er.standard_normal((h, w)).astype(np.float32)
    tex = cv2.GaussianBlur(wn, (0, 0), 1.1 / gr.ps) - cv2.GaussianBlur(wn, (0, 0), 3.5 / gr.ps)
    tex /= max(float(tex.std()), 1e-6)
    lowf = gblur(wn, 14.0 / gr.ps); lowf /= max(float(lowf.std()), 1e-6)
    A += (MU * (1 - P["rho"]) * (er.uniform(1.0, 2.6) * tex + er.uniform(0.5, 1.6) * lowf)
          * (tl / P["Dbot"])).astype(np.float32)
    del wn, tex, lowf

    # ---- trachea and main bronchi (air)
    car = P["carina"]
    tr_pts = catmull([[0, -420], [0, -60], [-P["trach_dev"], P["mL"]["yk"]], [-1.0, car]], 2.0) + [xm, yap]
    tf = tube_field(gr, tr_pts, P["trach_r"] + 2)
    if tf is not None:
        sl, d, t = tf
        A[sl] -= 0.9 * MU * ellip_chord(d, P["trach_r"], P["trach_r"]) * (body[sl])
    for sgn, ang, ln in ((-1, er.uniform(22, 35), er.uniform(22, 35)), (1, er.uniform(38, 55), er.uniform(40, 55))):
        a = math.radians(ang)
        end = [-1.0 + sgn * ln * math.sin(a), car + ln * math.cos(a)]
        rb = P["trach_r"] * er.uniform(0.62, 0.75)
        tf = tube_field(gr, catmull([[-1.0, car], [(end[0] - 1) / 2, (car + end[1]) / 2], end], 1.5) + [xm, yap], rb + 2)
        if tf is not None:
            sl, d, t = tf
            A[sl] -= 0.7 * MU * ellip_chord(d, rb, rb) * (1 - smoothstep(0.6, 1.0, t)) * (~vis[sl])

    # ---- stomach bubble
    if P["stomach"]:
        Lg = sides["L"]
        cx = er.uniform(0.25, 0.6) * Lg["wl"]
        ayb = er.uniform(12, 28); axb = er.uniform(25, 50)
        cy = float(dia_y(Lg, np.array([cx]))[0]) + 6 + ayb
        dep = er.uniform(25, 60)
        q = ((Xr - cx) / axb) ** 2 + ((Yr - cy) / ayb) ** 2
        ydl = dia_y(Lg, np.abs(Xr))
        air = dep * np.sqrt(np.clip(1 - q, 0, None)) * (Yr > ydl + 5) * (Yr < cy + 0.3 * ayb)
        A -= (MU * 0.95 * air).astype(np.float32)

    # ---- breasts
    if P["breast"]:
        for key, Lg in sides.items():
            if er.random() < 0.04:
                continue                       # unilateral mastectomy
            sgn = Lg["sgn"]
            ab = er.uniform(55, 100) * P["size"] * (0.8 + 0.5 * P["fat"])
            bb = ab * er.uniform(0.7, 1.0)
            cxb = sgn * er.uniform(0.4, 0.7) * Lg["wl"]
            cyb = Lg["ydome"] + er.uniform(-45, 10)
            cb = er.uniform(20, 55) * (0.6 + P["fat"])
            q = ((Xr - cxb) / ab) ** 2 + ((Yr - cyb) / bb) ** 2
            fade = np.where(Yr < cyb, smoothstep(cyb - 1.3 * bb, cyb, Yr) ** 1.2, 1.0)
            A += (MU * 2 * cb * np.sqrt(np.clip(1 - q, 0, None)) * fade * body).astype(np.float32)

    # ---- bones
    rib = np.zeros((h, w), bool)
    rr_ = np.random.default_rng(P["rib_seed"])

    # spine
    yr = P["yrib"]
    lev = list(yr)
    sp0 = yr[1] - yr[0]
    for k in range(1, 8):
        lev.insert(0, yr[0] - k * sp0 * 0.78)
    for k in range(1, 6):
        lev.append(yr[-1] + k * (yr[-1] - yr[-2]) * 1.15)
    lev = np.array(lev)
    for i in range(len(lev)):
        yc = lev[i] + 0.35 * (lev[min(i + 1, len(lev) - 1)] - lev[max(i - 1, 0)]) / 2
        hv = 0.78 * abs(lev[min(i + 1, len(lev) - 1)] - lev[max(i - 1, 0)]) / 2
        n = i - 7
        wv = P["wv0"] * (0.9 if n < 0 else 1.0) * (1 + 0.025 * max(n, 0)) * (1 + 0.05 * (n > 12))
        xs = P["scol"] * math.sin(yc / P["scol_l"] * math.pi)
        yy0 = int(max(0, (yc + yap - hv - 8) / gr.ps + gr.m / 2)); yy1 = int(min(h, (yc + yap + hv + 8) / gr.ps + gr.m / 2 + 1))
        if yy1 <= yy0:
            continue
        xx0 = int(max(0, (xm + xs - wv) / gr.ps + gr.m / 2)); xx1 = int(min(w, (xm + xs + wv) / gr.ps + gr.m / 2 + 1))
        if xx1 <= xx0:
            continue
        X2 = Xr[:, xx0:xx1] - xs
        Y2 = Yr[yy0:yy1, :] - yc
        a = wv / 2; b = 0.4 * wv
        box = np.clip((hv / 2 - np.abs(Y2)) / 2.0 + 0.5, 0, 1)
        body_v = bone_profile(np.abs(X2), a, b, 1.0, 0.4 * MU_CB, 0.0015) * box
        endp = MU_CB * ellip_chord(X2, a, b) / b * np.exp(-((np.abs(Y2) - hv / 2 + 1.0) / 1.0) ** 2)
        val = body_v + 0.2 * endp * box
        for sgn in (-1, 1):
            px_ = sgn * 0.36 * wv; py_ = -0.15 * hv
            q = np.sqrt(((X2 - px_) / (0.14 * wv)) ** 2 + ((Y2 - py_) / (0.25 * hv)) ** 2)
            val += MU_CB * 2.5 * np.clip(1 - np.abs(q - 0.85) / 0.25, 0, 1)
        q = np.sqrt((X2 / (0.09 * wv)) ** 2 + ((Y2 - 0.3 * hv) / (0.28 * hv)) ** 2)
        val += MU_CB * 2.0 * np.sqrt(np.clip(1 - q ** 2, 0, None))
        A[yy0:yy1, xx0:xx1] += val.astype(np.float32)

    # ribs
    lvlL = rr_.uniform(-4, 4)
    for key, Lg in sides.items():
        sgn = Lg["sgn"]
        steep = rr_.uniform(0.8, 1.25)
        ant_slope = rr_.uniform(1.0, 1.6)
        for n in range(12):
            yn = yr[n] + (lvlL if key == "L" else 0.0) + rr_.uniform(-1.5, 1.5)
            drop = rr_.uniform(0.22, 0.34) * steep
            ylat = yn + drop * 60
            _, lat, _ = lung_borders(Lg, np.array([max(ylat, Lg["yap"] + 0.04 * (Lg["ycp"] - Lg["yap"]))]), P)
            X = float(lat[0])
            if n >= 10:
                X *= 0.85
            X = max(X, 45.0)
            ap = rr_.uniform(3.8, 5.2) * P["size"] * P["rib_w"] * (0.85 if n == 0 else 1.0)
            x0 = P["wv0"] * 0.5 - 4
            dropm = drop * X
            C = [[x0, yn], [x0 + 0.22 * (X - x0), yn - rr_.uniform(0, 5)],
                 [x0 + 0.62 * (X - x0), yn + 0.25 * dropm], [X + ap * 0.6, yn + dropm]]
            if n < 10:
                C += [[0.93 * X, yn + dropm + 0.16 * X],
                      [0.62 * X, yn + dropm + 0.26 * X * ant_slope],
                      [max(0.26 * X, 24.0), yn + dropm + 0.34 * X * ant_slope]]
                ttr = 0.5
            else:
                C += [[0.97 * X, yn + dropm + 0.1 * X]]
                ttr = 2.0
            pts = catmull(C, 1.0)
            pts = np.column_stack([xm + sgn * pts[:, 0], yap + pts[:, 1]])
            aa = ap * 1.35
            tf = tube_field(gr, pts, aa + 1.5)
            if tf is None:
                continue
            sl, d, t = tf
            wa = smoothstep(ttr - 0.08, ttr + 0.1, t)        # 0 posterior .. 1 anterior
            a = ap * (0.85 + 0.15 * smoothstep(0, 0.2, t)) * (1 - wa) + aa * wa
            b = ap * 0.62 * (1 - wa) + ap * 0.42 * wa
            c = P["cortex"] * (1 - wa) + 0.8 * wa
            mus = (1 - wa) * 1.0 + wa * rr_.uniform(0.5, 0.7)
            fade = 1 - smoothstep(0.9, 1.0, t) if n < 10 else 1 - smoothstep(0.85, 1.0, t)
            A[sl] += (bone_profile(d, a, b, c, MU_CB * 1.1, 0.002) * mus * fade).astype(np.float32)
            rib[sl] |= (d < a) & (fade > 0.3)

    # clavicles
    for key, Lg in sides.items():
        sgn = Lg["sgn"]
        ym = P["ycm"] + rr_.uniform(-4, 4)
        xl = Lg["wl"] + rr_.uniform(5, 30)
        yl = ym - P["clav_rise"]
        base = np.array([[rr_.uniform(14, 24), ym], [xl, yl]])
        tt = np.linspace(0, 1, 9)[:, None]
        pts = base[0] + (base[1] - base[0]) * tt
        nrm = np.array([-(base[1, 1] - base[0, 1]), base[1, 0] - base[0, 0]])
        nrm /= np.linalg.norm(nrm)
        pts = pts + nrm * (rr_.uniform(3, 7) * np.sin(2 * np.pi * tt))
        pts = catmull(pts, 1.0)
        pts = np.column_stack([xm + sgn * pts[:, 0], yap + pts[:, 1]])
        ac = P["clav_a"]
        tf = tube_field(gr, pts, ac * 1.4 + 2)
        if tf is not None:
            sl, d, t = tf
            a = ac * (1 + 0.2 * (1 - smoothstep(0, 0.15, t)) + 0.15 * smoothstep(0.8, 1.0, t))
            A[sl] += bone_profile(d, a, a * 0.9, 1.5, MU_CB, MU_TB + 0.004).astype(np.float32)
            rib[sl] |= d < a

    # scapulae
    for key, Lg in sides.items():
        sgn = Lg["sgn"]
        if P["scap_over"]:
            xs = Lg["wl"] * rr_.uniform(0.62, 0.9)
        else:
            xs = Lg["wl"] + rr_.uniform(2, 18)
        ytop = rr_.uniform(-25, -5)
        ybot = P["Lh"] * rr_.uniform(0.42, 0.58)
        xg = Lg["wl"] + P["wall"] * 0.3 + rr_.uniform(8, 22)
        poly = np.array([[xs + 4, ytop], [xs + 18, ybot], [xs + 30, ybot - 8],
                         [xg, 25.0], [xg + 10, -10.0], [xs + 30, ytop - 10]])
        polyabs = np.column_stack([xm + sgn * poly[:, 0], yap + poly[:, 1]])
        Pp = gr.px(polyabs)
        msk = np.zeros((h, w), np.uint8)
        cv2.fillPoly(msk, [np.round(Pp * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        plate = cv2.GaussianBlur(msk.astype(np.float32), (0, 0), 1.2 / gr.ps)
        A += (MU_CB * rr_.uniform(2.5, 4.5) * plate * (1 + 0.2 * (0 if True else 0))).astype(np.float32)
        # thick lateral border and thin medial border
        for seg, aa, bb in (([poly[2], poly[3]], 3.0, 5.0), ([poly[0], poly[1]], 1.2, 3.0)):
            pts = catmull(np.array(seg), 1.0)
            pts = np.column_stack([xm + sgn * pts[:, 0], yap + pts[:, 1]])
            tf = tube_field(gr, pts, aa + 2)
            if tf is not None:
                sl, d, t = tf
                A[sl] += (bone_profile(d, aa, bb, 1.0) * smoothstep(0, 0.15, t) * (1 - smoothstep(0.8, 1.0, t))).astype(np.float32)

    # arms / humeral heads at the upper corners
    if P["arms"]:
        for key, Lg in sides.items():
            sgn = Lg["sgn"]
            hx = Lg["wl"] + P["wall"] + P["shoulder"] * rr_.uniform(0.3, 0.9)
            hy = rr_.uniform(-25, 20)
            rh = rr_.uniform(20, 26) * P["size"]
            dd = np.sqrt((Xr - sgn * hx) ** 2 + (Yr - hy) ** 2)
            A += (bone_profile(dd, rh, rh, 1.6, MU_CB, MU_TB + 0.003)).astype(np.float32)
            # arm soft tissue going down-laterally
            ang = math.radians(rr_.uniform(15, 40))
            e1 = np.array([sgn * math.sin(ang), math.cos(ang)])
            rx = (Xr - sgn * hx) * e1[0] + (Yr - hy) * e1[1]
            ry = -(Xr - sgn * hx) * e1[1] + (Yr - hy) * e1[0]
            ra = rr_.uniform(40, 60) * (1 + 0.5 * P["fat"])
            arm = 2 * ra * np.sqrt(np.clip(1 - (ry / ra) ** 2, 0, None)) * smoothstep(-30, 10, rx)
            A += (MU * 0.8 * arm * (np.abs(Xr) > B * 0.7)).astype(np.float32)
            # humeral shaft
            hs = [[sgn * hx, hy], [sgn * hx + e1[0] * 250, hy + e1[1] * 250]]
            tf = tube_field(gr, np.array(hs) + [xm, yap], 14)
            if tf is not None:
                sl, d, t = tf
                A[sl] += bone_profile(d, 12 * P["size"], 12 * P["size"], 3.0).astype(np.float32)

    # ---- keep the nodule-placement masks
    pat = Patient()
    pat.P = P
    pat.gr = gr
    pat.s, pat.W, pat.H, pat.m = s, W, H, m
    pat.vis_half = vis.astype(np.float32)
    pat.rib_half = rib.astype(np.float32)
    pat.tl_half = tl
    pat.phys = phys

    # ---- vessels (full-resolution layer over the lung bounding box)
    ys_, xs_ = np.nonzero(phys)
    fx0 = max(0, int(xs_.min() * 2 - 20)); fx1 = min(Wc, int(xs_.max() * 2 + 22))
    fy0 = max(0, int(ys_.min() * 2 - 20)); fy1 = min(Hc, int(ys_.max() * 2 + 22))
    V = draw_vessels(pat, er, (fx0, fy0, fx1, fy1))
    # calcified granulomas (distractors, never in truth)
    grans = []
    ng = 0 if er.random() < 0.5 else int(er.integers(1, 4))
    vy, vx = np.nonzero(cv2.erode(vis.astype(np.uint8), np.ones((7, 7), np.uint8)))
    for _ in range(ng):
        if len(vx) == 0:
            break
        k = int(er.integers(len(vx)))
        cxp = vx[k] * 2 + 0.5 + er.uniform(-1, 1); cyp = vy[k] * 2 + 0.5 + er.uniform(-1, 1)
        dmm = er.uniform(2.0, 4.0)
        R = dmm / 2 / s
        x0 = int(cxp - R - 3); y0 = int(cyp - R - 3)
        xx = np.arange(x0, int(cxp + R + 4)) - cxp; yy = np.arange(y0, int(cyp + R + 4)) - cyp
        d = np.sqrt(xx[None, :] ** 2 + yy[:, None] ** 2)
        val = MU_CA * er.uniform(0.8, 1.5) * 2 * np.sqrt(np.clip(R ** 2 - d ** 2, 0, None)) * s
        val = cv2.GaussianBlur(val.astype(np.float32), (0, 0), 0.6)
        ly0, lx0 = y0 - fy0, x0 - fx0
        if ly0 < 0 or lx0 < 0 or ly0 + val.shape[0] > V.shape[0] or lx0 + val.shape[1] > V.shape[1]:
            continue
        V[ly0:ly0 + val.shape[0], lx0:lx0 + val.shape[1]] += val
        grans.append([cxp - m, cyp - m, dmm])
    pat.V = V
    pat.Voff = (fx0, fy0)
    pat.grans = grans
    pat.A_half = A.astype(np.float32)
    pat.body_half = body.astype(np.float32)
    return pat


def draw_vessels(pat, rng, roi):
    P, gr, s, m = pat.P, pat.gr, pat.s, pat.m
    fx0, fy0, fx1, fy1 = roi
    tl = pat.tl_half
    phys = pat.phys
    sides = P["sides"]
    xm, yap = P["xm"], P["yap"]

    def depth(x, y):
        j = int(round(((x / s + m) - 0.5) / 2)); i = int(round(((y / s + m) - 0.5) / 2))
        if 0 <= i < gr.h and 0 <= j < gr.w and phys[i, j]:
            return max(float(tl[i, j]), 25.0)
        return 0.0

    roots = []
    for key, Lg in sides.items():
        sgn = Lg["sgn"]
        yh = P["hil" + key]
        mh = float(med_line(P, key, np.array([yh]))[0])
        for kind, dy0, dirs in (("a", 0.0, [(-95, 4.0), (-40, 3.4), (10, 3.8), (55, 5.2), (85, 4.8), (120, 3.0)]),
                                ("v", 28.0, [(-70, 3.2), (0, 4.0), (40, 4.4), (75, 4.2)])):
            hx = xm + sgn * (mh + rng.uniform(6, 14)); hy = yap + yh + dy0 + rng.uniform(-5, 5)
            for ang, r0 in dirs:
                a = math.radians(ang + rng.uniform(-15, 15))
                d = np.array([sgn * math.cos(a), math.sin(a), rng.uniform(-0.5, 0.5)])
                d /= np.linalg.norm(d)
                roots.append((np.array([hx, hy, rng.uniform(-10, 10)]), d, r0 * rng.uniform(0.85, 1.15),
                              np.array([hx, hy, 0.0]), True))
    segs = []
    from collections import deque
    q = deque(roots)
    budget = 18000
    rmin = 0.42
    while q and len(segs) < budget:
        p, d, r, hil, root = q.popleft()
        L = r * rng.uniform(4.0, 8.0) + 1.5
        ok = False
        for frac in (1.0, 0.5):
            e = p + d * L * frac
            dep = depth(e[0], e[1])
            if dep > 0 and abs(e[2]) < 0.5 * dep:
                ok = True
                break
        if not ok and not root:
            continue
        if not ok:
            e = p + d * L
        segs.append((p[0], p[1], p[2], e[0], e[1], e[2], r))
        if r < rmin:
            continue
        f = rng.uniform(0.3, 0.7)
        r1, r2 = r * f ** (1 / 3), r * (1 - f) ** (1 / 3)
        rnd = rng.standard_normal(3)
        axis = rnd - d * np.dot(rnd, d)
        axis /= max(np.linalg.norm(axis), 1e-9)
        out = e - hil
        out[2] *= 0.4
        out /= max(np.linalg.norm(out), 1e-9)
        zc = -e[2] / max(0.5 * max(dep, 20.0), 1.0)
        for rc, th in ((max(r1, r2), math.radians(rng.uniform(8, 28))),
                       (min(r1, r2), -math.radians(rng.uniform(28, 60)))):
            c, sn = math.cos(th), math.sin(th)
            dn = d * c + np.cross(axis, d) * sn + axis * np.dot(axis, d) * (1 - c)
            dn = dn + 0.22 * out + np.array([0, 0.05, 0.3 * zc])
            dn /= np.linalg.norm(dn)
            q.append((e, dn, rc, hil, False))
    classes = [(0.0, 0.65, 0.45), (0.65, 1.3, 0.9), (1.3, 2.6, 1.8), (2.6, 99, 3.5)]
    layers = [np.zeros((fy1 - fy0, fx1 - fx0), np.float32) for _ in classes]
    rho = P["rho"]
    for (x0, y0, z0, x1, y1, z1, r) in reversed(segs):
        lp = math.hypot(x1 - x0, y1 - y0)
        l3 = math.sqrt(lp * lp + (z1 - z0) ** 2)
        sin_t = lp / max(l3, 1e-6)
        val = 1.25 * MU * (1 - rho) * 1.57 * r / max(sin_t, 0.32)
        ci = 0
        while r >= classes[ci][1]:
            ci += 1
        th = max(1, int(round(2 * r / s)))
        a = (int(round((x0 / s + m - fx0) * 8)), int(round((y0 / s + m - fy0) * 8)))
        b = (int(round((x1 / s + m - fx0) * 8)), int(round((y1 / s + m - fy0) * 8)))
        cv2.line(layers[ci], a, b, float(val), th, cv2.LINE_8, 3)
    V = np.zeros_like(layers[0])
    for (lo, hi, rep), L in zip(classes, layers):
        V += cv2.GaussianBlur(L, (0, 0), max(0.6, 0.42 * rep / s))
    return V


# ----------------------------------------------------------------------------
# nodules
# ----------------------------------------------------------------------------

def union_length(cfg, X, Y, scale):
    """Chord length (in units of `scale`) through a union of spheres along z.
    cfg rows: (ox, oy, oz, r) in diameter units; X, Y pixel offsets from centre."""
    los, his = [], []
    for (ox, oy, oz, r) in cfg:
        R = r * scale
        d2 = (X - ox * scale) ** 2 + (Y - oy * scale) ** 2
        hh = np.sqrt(np.clip(R * R - d2, 0, None))
        valid = hh > 0
        zc = oz * scale
        los.append(np.where(valid, zc - hh, -1e9))
        his.append(np.where(valid, zc + hh, -1e9))
    if len(cfg) == 1:
        return his[0] - los[0] if True else None
    lo = np.stack(los); hi = np.stack(his)
    order = np.argsort(lo, axis=0)
    lo = np.take_along_axis(lo, order, 0); hi = np.take_along_axis(hi, order, 0)
    total = hi[0] - lo[0]
    cur = hi[0].copy()
    for k in range(1, lo.shape[0]):
        total = total + np.maximum(0, hi[k] - np.maximum(lo[k], cur))
        cur = np.maximum(cur, hi[k])
    return np.where(total > 0, total, 0)


def footprint_axes(cfg, n=241):
    ext = max(max(abs(ox) + r, abs(oy) + r) for ox, oy, oz, r in cfg) * 1.05
    g = np.linspace(-ext, ext, n)
    X, Y = np.meshgrid(g, g)
    inside = np.zeros_like(X, bool)
    for ox, oy, oz, r in cfg:
        inside |= (X - ox) ** 2 + (Y - oy) ** 2 < r * r
    cx, cy = float(X[inside].mean()), float(Y[inside].mean())
    u8 = inside.astype(np.uint8)
    cnts, _ = cv2.findContours(u8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pts = np.vstack([c.reshape(-1, 2) for c in cnts]).astype(float)
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(float)
    dd = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=2)
    i, j = np.unravel_index(np.argmax(dd), dd.shape)
    step = g[1] - g[0]
    long_ax = dd[i, j] * step + step
    u = (hull[j] - hull[i]) / max(dd[i, j], 1e-9)
    perp = np.array([-u[1], u[0]])
    pr = hull @ perp
    short_ax = (pr.max() - pr.min()) * step + step
    return cx, cy, long_ax, short_ax


def make_nodule_cfg(rng, lobulated):
    if not lobulated:
        return [(0.0, 0.0, 0.0, 0.5)]
    k = int(rng.integers(2, 5))
    cfg = [(0.0, 0.0, 0.0, 0.5)]
    for _ in range(k - 1):
        ri = 0.5 * rng.uniform(0.45, 0.85)
        v = rng.standard_normal(3); v[2] *= 0.5
        v /= np.linalg.norm(v)
        dist = (0.5 + ri) * rng.uniform(0.45, 0.78)
        base = cfg[int(rng.integers(len(cfg)))]
        cfg.append((base[0] + v[0] * dist, base[1] + v[1] * dist, base[2] + v[2] * dist, ri))
    for _ in range(2):
        cx, cy, la, sa = footprint_axes(cfg)
        dm = 0.5 * (la + sa)
        cfg = [((ox - cx) / dm, (oy - cy) / dm, oz / dm, r / dm) for ox, oy, oz, r in cfg]
    return cfg


def render_nodule(A, cx, cy, dpx, cfg, amp_per_px, soft_px):
    ext = max(max(abs(ox) + r, abs(oy) + r) for ox, oy, oz, r in cfg) * dpx + 3 * soft_px + 3
    H, W = A.shape
    x0 = max(0, int(math.floor(cx - ext))); x1 = min(W, int(math.ceil(cx + ext)) + 1)
    y0 = max(0, int(math.floor(cy - ext))); y1 = min(H, int(math.ceil(cy + ext)) + 1)
    X = (np.arange(x0, x1) - cx)[None, :]
    Y = (np.arange(y0, y1) - cy)[:, None]
    # 2x2 supersampling for a smooth edge
    acc = np.zeros((y1 - y0, x1 - x0), np.float64)
    for ox in (-0.25, 0.25):
        for oy in (-0.25, 0.25):
            acc += union_length(cfg, X + ox, Y + oy, dpx)
    patch = (acc / 4.0 * amp_per_px).astype(np.float32)
    if soft_px > 0.3:
        patch = cv2.GaussianBlur(patch, (0, 0), soft_px)
    A[y0:y1, x0:x1] += patch


# ----------------------------------------------------------------------------
# exam rendering and imaging chain
# ----------------------------------------------------------------------------

def sample_exam_params(rng):
    U = rng.uniform
    return dict(
        I0=loguniform(rng, 2000, 16000), heel=U(-0.12, 0.12),
        spr=U(0.15, 0.9), scat_mm=U(35, 90),
        det_px=U(0.55, 1.1), glare=U(0, 0.04), enoise=U(1.0, 6.0),
        g1=U(0.0, 0.6), g2=U(0.2, 1.3), g3=U(0.0, 0.8), comp=U(0.2, 0.62),
        s1=U(0.5, 1.0), s2=U(2.0, 4.0), s3=U(8.0, 15.0), s4=U(40.0, 90.0),
        plo=U(0.1, 2.0), phi=U(98.5, 99.9), wlo=U(0.0, 0.12), whi=U(-0.03, 0.08),
        k=U(3.0, 9.0), x0=U(0.38, 0.62), beta=U(0.3, 1.0), gamma=U(0.75, 1.3),
        omin=U(0, 250), omax=U(3500, 4095))


def chain_signal(A, ex, s, scatter, I0map):
    prim = I0map * np.exp(-A)
    return prim + scatter


def detector(sig, ex, s):
    y = cv2.GaussianBlur(sig, (0, 0), ex["det_px"], borderType=cv2.BORDER_REFLECT)
    if ex["glare"] > 0.001:
        y = (1 - ex["glare"]) * y + ex["glare"] * gblur(sig, 20.0 / s)
    return y


def msproc(L, ex, s):
    b1 = gblur(L, ex["s1"] / s)
    b2 = gblur(L, ex["s2"] / s)
    b3 = gblur(L, ex["s3"] / s)
    b4 = gblur(L, ex["s4"] / s)
    out = L + ex["g1"] * (L - b1) + ex["g2"] * (b1 - b2) + ex["g3"] * (b2 - b3) - ex["comp"] * b4
    return out.astype(np.float32)


def lut(x, ex, win):
    lo, hi = win
    y = np.clip((x - lo) / (hi - lo), 0, 1)
    k, x0 = ex["k"], ex["x0"]
    s0 = 1 / (1 + math.exp(k * x0)); s1 = 1 / (1 + math.exp(-k * (1 - x0)))
    S = (1 / (1 + np.exp(-k * (y - x0))) - s0) / (s1 - s0)
    y = (1 - ex["beta"]) * y + ex["beta"] * S
    y = np.clip(y, 0, 1) ** ex["gamma"]
    return (ex["omin"] + (ex["omax"] - ex["omin"]) * y).astype(np.float32)


def to_exam(F, pts):
    pts = np.asarray(pts, float).reshape(-1, 2)
    return pts @ F[:, :2].T + F[:, 2]


def add_distractors(D, rng, pat, F, W, H, lung):
    """Exam-specific distractors drawn into attenuation layer D (exam pixels)."""
    P, s = pat.P, pat.s
    xm, yap = P["xm"] / s, P["yap"] / s
    sides = P["sides"]
    info = []

    def ex_pt(xr_mm, yr_mm):       # relative mm -> exam px
        return to_exam(F, [[(P["xm"] + xr_mm) / s, (P["yap"] + yr_mm) / s]])[0]

    # ECG electrodes
    if rng.random() < 0.4:
        ne = int(rng.integers(2, 6))
        for _ in range(ne):
            Lg = sides["R" if rng.random() < 0.5 else "L"]
            xr = Lg["sgn"] * rng.uniform(0.2, 1.1) * Lg["wl"]
            yr = rng.uniform(-10, Lg["ycp"] + 40)
            c = ex_pt(xr, yr)
            rp = rng.uniform(10, 15) / s
            cv2.circle(D, (int(c[0] * 8), int(c[1] * 8)), int(rp * 8), MU * 1.5, -1, cv2.LINE_AA, 3)
            cv2.circle(D, (int(c[0] * 8), int(c[1] * 8)), int(rp * 0.55 * 8), MU * 3.5, -1, cv2.LINE_AA, 3)
            ro = rng.uniform(3.2, 4.5) / s
            cv2.circle(D, (int(c[0] * 8), int(c[1] * 8)), int(ro * 8), rng.uniform(0.8, 2.0),
                       max(1, int(1.0 / s)), cv2.LINE_AA, 3)
            cv2.circle(D, (int(c[0] * 8), int(c[1] * 8)), int(1.3 / s * 8), rng.uniform(0.8, 1.6), -1, cv2.LINE_AA, 3)
            # lead wire to the image border
            ang = rng.uniform(0, 2 * math.pi)
            pts = [c]
            p = c.copy()
            for _ in range(6):
                ang += rng.uniform(-0.6, 0.6)
                p = p + np.array([math.cos(ang), math.sin(ang)]) * rng.uniform(60, 140) / s
                pts.append(p)
            pts = catmull(np.array(pts), 3.0)
            cv2.polylines(D, [np.round(pts * 8).astype(np.int32)], False, rng.uniform(0.12, 0.35),
                          max(1, int(round(1.2 / s))), cv2.LINE_AA, 3)
        info.append("ecg")
    # skin fold
    if rng.random() < 0.15:
        Lg = sides["R" if rng.random() < 0.5 else "L"]
        xr = Lg["sgn"] * rng.uniform(0.55, 0.95) * Lg["wl"]
        ya, yb = rng.uniform(0.1, 0.4) * P["Lh"], rng.uniform(0.7, 1.1) * P["Lh"]
        c0 = ex_pt(xr, ya); c1 = ex_pt(xr + Lg["sgn"] * rng.uniform(-25, 25), yb)
        y0, y1 = int(max(0, min(c0[1], c1[1]))), int(min(H, max(c0[1], c1[1])))
        if y1 - y0 > 20:
            rows = np.arange(y0, y1)
            tt = (rows - c0[1]) / (c1[1] - c0[1])
            xf = c0[0] + (c1[0] - c0[0]) * tt + rng.uniform(5, 15) / s * np.sin(np.pi * tt * rng.uniform(0.5, 1.5))
            lam = rng.uniform(4, 12) / s
            amp = MU * rng.uniform(1.5, 4.0)
            dirn = 1 if rng.random() < 0.5 else -1
            cols = np.arange(W)[None, :]
            dd = (cols - xf[:, None]) * dirn
            prof = np.where(dd > 0, np.exp(-dd / lam), 0) * np.sin(np.pi * np.clip(tt, 0, 1))[:, None] ** 0.5
            D[y0:y1] += (amp * prof).astype(np.float32)
            info.append("skinfold")
    # tubes / lines
    u = rng.random()
    if u < 0.2:
        kind = ["ett", "ngt", "cvc"][int(rng.integers(3))]
        if kind == "ett":
            pts = [ex_pt(0, -250), ex_pt(-P["trach_dev"] * 0.3, -60), ex_pt(-1, P["carina"] - rng.uniform(30, 60))]
            wid = 8.0
        elif kind == "ngt":
            Lg = sides["L"]
            pts = [ex_pt(5, -250), ex_pt(4, P["carina"]), ex_pt(10, Lg["ydome"]),
                   ex_pt(0.4 * Lg["wl"], Lg["ydome"] + 45)]
            wid = 5.0
        else:
            sg = -1 if rng.random() < 0.7 else 1
            Lg = sides["R" if sg < 0 else "L"]
            pts = [ex_pt(sg * (Lg["wl"] + 40), P["ycm"] - 35), ex_pt(sg * 0.55 * Lg["wl"], P["ycm"] + 5),
                   ex_pt(sg * 25, P["ycm"] + 20), ex_pt(-22, P["carina"] + rng.uniform(10, 45))]
            wid = 2.5
        pts = catmull(np.array(pts), 2.0)
        Q = [np.round(pts * 8).astype(np.int32)]
        cv2.polylines(D, Q, False, MU * wid * 0.3, max(1, int(wid / s)), cv2.LINE_AA, 3)
        cv2.polylines(D, Q, False, rng.uniform(0.2, 0.45), max(1, int(0.7 / s)), cv2.LINE_AA, 3)
        info.append(kind)
    # side marker letter (lead) in an upper corner, away from the lungs
    if rng.random() < 0.9:
        letter = "R" if rng.random() < 0.6 else "L"
        hmm = rng.uniform(9, 18)
        scale = hmm / s / 22.0
        thick = max(2, int(hmm / s / 8))
        for _ in range(8):
            left = (letter == "R") == (rng.random() < 0.85)
            px = rng.uniform(0.03, 0.14) * W if left else rng.uniform(0.8, 0.93) * W
            py = rng.uniform(0.05, 0.2) * H
            (tw, th), _ = cv2.getTextSize(letter, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            x0, y0 = int(px), int(py)
            if x0 + tw + 10 >= W or y0 - th - 10 < 0:
                continue
            if lung[max(0, y0 - th - 10):y0 + 10, max(0, x0 - 10):x0 + tw + 10].any():
                continue
            mk = np.zeros((th + 20, tw + 20), np.uint8)
            cv2.putText(mk, letter, (10, th + 10), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
            if rng.random() < 0.4:
                cv2.rectangle(mk, (2, 2), (tw + 17, th + 17), 255, max(1, thick // 3))
            D[y0 - th - 10:y0 + 10, x0 - 10:x0 + tw + 10] += mk.astype(np.float32) / 255 * rng.uniform(2.0, 4.0)
            info.append("marker")
            break
    return info


def render_exam(pat, F, ex_rng, nods):
    """F: 2x3 ref-px -> exam-px.  nods: list of dicts with ref-frame centre and exam diameter."""
    s, W, H, m = pat.s, pat.W, pat.H, pat.m
    Fa = np.vstack([F, [0, 0, 1]])
    Ainv = np.linalg.inv(Fa)[:2]               # exam px -> ref px
    gr = pat.gr
    Mg = np.hstack([Ainv[:, :2] / gr.f, ((Ainv[:, 2] + m - gr.off) / gr.f)[:, None]]).astype(np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    A = cv2.warpAffine(pat.A_half, Mg, (W, H), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    lung = cv2.warpAffine(pat.vis_half, Mg, (W, H), flags=flags, borderMode=cv2.BORDER_CONSTANT) > 0.5
    ribm = cv2.warpAffine(pat.rib_half, Mg, (W, H), flags=flags, borderMode=cv2.BORDER_CONSTANT) > 0.5
    body = cv2.warpAffine(pat.body_half, Mg, (W, H), flags=flags, borderMode=cv2.BORDER_REPLICATE) > 0.5
    fx0, fy0 = pat.Voff
    Mv = np.hstack([Ainv[:, :2], (Ainv[:, 2] + m - [fx0, fy0])[:, None]])
    A += cv2.warpAffine(pat.V, Mv, (W, H), flags=flags, borderMode=cv2.BORDER_CONSTANT)

    D = np.zeros((H, W), np.float32)
    dinfo = add_distractors(D, ex_rng, pat, F, W, H, lung)
    A += D
    del D
    Aw = A.copy()
    for nd in nods:
        render_nodule(Aw, nd["x"], nd["y"], nd["dpx"], nd["cfg"], nd["amp"] * s, nd["soft_px"])

    ex = sample_exam_params(ex_rng)
    yy = (np.arange(H, dtype=np.float32) / (H - 1) - 0.5)
    I0map = (ex["I0"] * (1 + ex["heel"] * yy))[:, None].astype(np.float32)
    prim_w = I0map * np.exp(-Aw)
    scatter = (ex["spr"] * gblur(prim_w, ex["scat_mm"] / s)).astype(np.float32)
    Ew = prim_w + scatter
    del prim_w
    noise = ex_rng.standard_normal((H, W), dtype=np.float32)
    noisy = Ew + np.sqrt(Ew) * noise
    del noise
    sig_n = detector(noisy, ex, s) + ex["enoise"] * ex_rng.standard_normal((H, W), dtype=np.float32)
    del noisy
    I0 = ex["I0"]
    Ln = -np.log(np.maximum(sig_n, 0.5) / I0)
    del sig_n
    Pn = msproc(Ln, ex, s)
    del Ln
    samp = Pn[::3, ::3][body[::3, ::3]]
    if samp.size < 1000:
        samp = Pn[::3, ::3].ravel()
    lo, hi = np.percentile(samp, [ex["plo"], ex["phi"]])
    span = hi - lo
    win = (lo - ex["wlo"] * span, hi + ex["whi"] * span)
    out_n = lut(Pn, ex, win)
    del Pn
    Lc = -np.log(np.maximum(detector(Ew, ex, s), 0.5) / I0)
    out_c = lut(msproc(Lc, ex, s), ex, win)
    del Lc, Ew
    prim_o = I0map * np.exp(-A)
    Lo = -np.log(np.maximum(detector(prim_o + scatter, ex, s), 0.5) / I0)
    out_o = lut(msproc(Lo, ex, s), ex, win)
    del Lo, prim_o, scatter, A, Aw

    img = np.clip(np.rint(out_n), 0, 4095).astype(np.uint16)
    noise_sigma = float(np.std(img[lung].astype(np.float32) - out_c[lung])) if lung.any() else 0.0

    # collimation bands (outside the lung fields)
    if ex_rng.random() < 0.35:
        ys_, xs_ = np.nonzero(lung[::4, ::4])
        bx0, bx1, by0, by1 = xs_.min() * 4, xs_.max() * 4, ys_.min() * 4, ys_.max() * 4
        style_bright = ex_rng.random() < 0.55
        val = int(ex_rng.uniform(3750, 4095)) if style_bright else 0
        rows = np.arange(H)[:, None]; cols = np.arange(W)[None, :]
        for side in ("l", "r", "t", "b"):
            if ex_rng.random() < 0.5:
                continue
            tilt = math.tan(math.radians(ex_rng.uniform(-1.0, 1.0)))
            if side == "l":
                lim = bx0 - 30; wd = min(ex_rng.uniform(0.01, 0.07) * W, lim)
                msk = cols < wd + tilt * (rows - H / 2)
            elif side == "r":
                lim = W - bx1 - 30; wd = min(ex_rng.uniform(0.01, 0.07) * W, lim)
                msk = cols > W - wd + tilt * (rows - H / 2)
            elif side == "t":
                lim = by0 - 30; wd = min(ex_rng.uniform(0.01, 0.06) * H, lim)
                msk = rows < wd + tilt * (cols - W / 2)
            else:
                lim = H - by1 - 30; wd = min(ex_rng.uniform(0.01, 0.06) * H, lim)
                msk = rows > H - wd + tilt * (cols - W / 2)
            if wd < 8:
                continue
            msk = msk & ~lung
            if style_bright:
                img[msk] = np.clip(val + ex_rng.normal(0, 6, int(msk.sum())), 0, 4095).astype(np.uint16)
            else:
                img[msk] = 0

    # per-nodule truth
    res = []
    for nd in nods:
        r = nd["dpx"] / 2
        x0 = max(0, int(nd["x"] - r - 2)); x1 = min(W, int(nd["x"] + r + 3))
        y0 = max(0, int(nd["y"] - r - 2)); y1 = min(H, int(nd["y"] + r + 3))
        XX, YY = np.meshgrid(np.arange(x0, x1), np.arange(y0, y1))
        disc = (XX - nd["x"]) ** 2 + (YY - nd["y"]) ** 2 <= r * r
        diff = (out_c[y0:y1, x0:x1] - out_o[y0:y1, x0:x1])[disc]
        contrast = float(diff.max()) if diff.size else 0.0
        rfrac = float(ribm[y0:y1, x0:x1][disc].mean()) if disc.any() else 0.0
        ci, cj = int(round(nd["y"])), int(round(nd["x"]))
        on_rib = bool(ribm[ci, cj] or rfrac >= 0.3)
        res.append(dict(contrast=contrast, on_rib=on_rib, in_mask=bool(lung[ci, cj])))
    ex_info = dict(params=ex, distractors=dinfo)
    return img, (lung.astype(np.uint8) * 255), noise_sigma, res, ex_info


# ----------------------------------------------------------------------------
# nodule placement
# ----------------------------------------------------------------------------

def place_nodules(rng, pat, n, diam_list, margin_mm):
    """Centres (ref px) inside the eroded visible lung mask; ~35% targeted on ribs."""
    gr = pat.gr
    er_px = max(1, int(round(margin_mm / gr.ps)))
    vis = cv2.erode(pat.vis_half.astype(np.uint8), np.ones((2 * er_px + 1, 2 * er_px + 1), np.uint8))
    ribh = pat.rib_half > 0.5
    cand_rib = np.flatnonzero(vis.astype(bool) & ribh)
    drib = cv2.distanceTransform((~ribh).astype(np.uint8), cv2.DIST_L2, 5) * gr.ps
    out = []
    for i in range(n):
        want_rib = rng.random() < 0.15
        cand_free = np.flatnonzero(vis.astype(bool) & (drib > 0.4 * diam_list[i] / 2 + 0.5))
        if len(cand_free) == 0:      # large nodule: take the least rib-covered places
            dv = np.where(vis.astype(bool), drib, 0)
            cand_free = np.flatnonzero(dv >= 0.85 * dv.max()) if dv.max() > 0 else np.flatnonzero(vis)
        for attempt in range(60):
            pool = cand_rib if (want_rib and len(cand_rib)) else cand_free
            if len(pool) == 0:
                pool = np.flatnonzero(vis)
            k = int(pool[int(rng.integers(len(pool)))])
            iy, ix = divmod(k, gr.w)
            x = ix * 2 + gr.off - pat.m + rng.uniform(-0.5, 0.5)
            y = iy * 2 + gr.off - pat.m + rng.uniform(-0.5, 0.5)
            ok = True
            for (xo, yo, do) in out:
                if math.hypot(x - xo, y - yo) * pat.s < 0.5 * (diam_list[i] + do) + 6:
                    ok = False
                    break
            for g in pat.grans:
                if math.hypot(x - g[0], y - g[1]) * pat.s < 0.5 * diam_list[i] + 4:
                    ok = False
            if ok:
                break
        out.append((x, y, diam_list[i]))
    return out


def new_nodule(rng):
    lob = bool(rng.random() < 0.3)
    return dict(lobulated=lob, cfg=make_nodule_cfg(rng, lob),
                soft=float(rng.uniform(0.04, 0.14)) if rng.random() < 0.3 else 0.0,
                dens=float(rng.uniform(0.45, 1.1)))


# ----------------------------------------------------------------------------
# tasks
# ----------------------------------------------------------------------------

def sample_geometry(rng, series=False):
    s0 = rng.uniform(0.14, 0.20)
    ppm = int(round(1000.0 / s0))
    s = 1000.0 / ppm
    lo = 360 if series else 320
    fw, fh = rng.uniform(lo, 470), rng.uniform(lo, 470)
    W = int(np.clip(round(fw / s), 1700, 2800))
    H = int(np.clip(round(fh / s), 1700, 2800))
    return s, W, H


def rand_date(rng):
    d = dt.date(2012, 1, 1) + dt.timedelta(days=int(rng.integers(0, 12 * 365)))
    return d


def save_image(path, img, s, pid, date, fmt, rng_mono, uid_key):
    mono1 = False
    if fmt == "dicom":
        mono1 = bool(rng_mono.random() < 0.25)
        write_dicom(path, img, s, pid, date, mono1, uid_key)
    else:
        write_png(path, img, 16, spacing_mm=s, sbit=12)
    return mono1


def nodule_amp(pat, nd):
    return MU * (nd["dens"] - pat.P["rho"])


def run_single(args):
    seed, idx, out, fmt = args
    t0 = time.time()
    rng = np.random.default_rng(np.random.SeedSequence([seed, idx, 0]))
    s, W, H = sample_geometry(rng)
    m = int(math.ceil(0.045 * max(W, H)))
    pat = build_patient(rng, s, W, H, m, margin_mm=14.0)
    # exam transform: small tilt/shift (patient positioning)
    rot = math.radians(rng.uniform(-2.0, 2.0))
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    R = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    t = rng.uniform(-4, 4, 2) / s
    F = np.hstack([R, (c - R @ c + t)[:, None]])
    nn = int(rng.choice(6, p=[0.17, 0.30, 0.23, 0.15, 0.09, 0.06]))
    diams = [loguniform(rng, 5.0, 30.0) for _ in range(nn)]
    cen = place_nodules(rng, pat, nn, diams, margin_mm=1.5)
    nods = []
    for (x, y, dmm) in cen:
        nd = new_nodule(rng)
        p = to_exam(F, [[x, y]])[0]
        nd.update(x=float(p[0]), y=float(p[1]), dmm=dmm, dpx=dmm / s)
        nd["amp"] = nodule_amp(pat, nd)
        nd["soft_px"] = nd["soft"] * dmm / s
        nods.append(nd)
    ex_rng = np.random.default_rng(np.random.SeedSequence([seed, idx, 1]))
    img, mask, nsig, res, exinfo = render_exam(pat, F, ex_rng, nods)
    name = "f%04d" % idx
    ext = "dcm" if fmt == "dicom" else "png"
    pid = "PF%d-%04d" % (seed, idx)
    date = rand_date(rng).isoformat()
    mono1 = save_image(os.path.join(out, "images", name + "." + ext), img, s, pid, date, fmt,
                       np.random.default_rng(np.random.SeedSequence([seed, idx, 2])), (seed, idx))
    write_png(os.path.join(out, ".masks", name + "_mask.png"), mask, 8)
    nl = []
    for i, (nd, r) in enumerate(zip(nods, res)):
        nl.append(dict(id=i + 1, x=round(nd["x"], 3), y=round(nd["y"], 3), diameter_mm=round(nd["dmm"], 3),
                       on_rib=r["on_rib"], lobulated=nd["lobulated"], contrast=round(r["contrast"], 3),
                       cnr=round(r["contrast"] / max(nsig, 1e-6), 3),
                       soft_edge=bool(nd["soft"] > 0), density=round(nd["dens"], 3)))
    rec = dict(path="images/%s.%s" % (name, ext), patient_id=pid, study_date=date, width=W, height=H,
               pixel_spacing_mm=s, lung_mask=".masks/%s_mask.png" % name, noise_sigma=round(nsig, 4),
               nodules=nl)
    if fmt == "dicom":
        rec["photometric"] = "MONOCHROME1" if mono1 else "MONOCHROME2"
    rec["_check"] = dict(in_mask=[r["in_mask"] for r in res], seconds=round(time.time() - t0, 2),
                         distractors=exinfo["distractors"], granulomas=len(pat.grans))
    return rec


def run_patient(args):
    seed, p, out, fmt = args
    t0 = time.time()
    rng = np.random.default_rng(np.random.SeedSequence([seed, p, 100]))
    s, W, H = sample_geometry(rng, series=True)
    diag = math.hypot(W, H)
    m = int(math.ceil(13.0 / s + 0.055 * diag / 2 + 0.035 * diag / 2 + 10))
    pat = build_patient(rng, s, W, H, m, margin_mm=30.0)
    pid = "PF-%04d" % p
    n_ex = int(rng.integers(2, 6))
    d0 = rand_date(rng)
    dates = [d0]
    for _ in range(n_ex - 1):
        dates.append(dates[-1] + dt.timedelta(days=int(rng.integers(30, 241))))
    span = (dates[-1] - dates[0]).days
    # nodules (patient level)
    nn = int(rng.choice(6, p=[0.08, 0.25, 0.27, 0.2, 0.12, 0.08]))
    pn = []
    for i in range(nn):
        u = rng.random()
        status = "growing" if u < 0.45 else ("stable" if u < 0.75 else ("shrinking" if u < 0.87 else "new"))
        vdt = None
        d0_date = dates[0]
        if status == "growing":
            for _ in range(100):
                vdt = loguniform(rng, 30, 800)
                G = 2 ** (span / (3 * vdt))
                if 30.0 / G >= 6.0:
                    break
            else:
                vdt = 800.0; G = 2 ** (span / (3 * vdt))
            D0 = loguniform(rng, 5.0, min(30.0 / G, 25.0))
        elif status == "shrinking":
            for _ in range(100):
                vdt = -loguniform(rng, 60, 800)
                G = 2 ** (span / (3 * -vdt))
                if 5.0 * G <= 24.0:
                    break
            else:
                vdt = -800.0; G = 2 ** (span / (3 * 800.0))
            D0 = loguniform(rng, max(5.0 * G, 7.0), 30.0)
        elif status == "stable":
            D0 = loguniform(rng, 5.0, 30.0)
        else:
            k = int(rng.integers(1, n_ex))
            gap = (dates[k] - dates[k - 1]).days
            d0_date = dates[k] - dt.timedelta(days=int(rng.integers(0, gap)))
            D0 = loguniform(rng, 5.0, 20.0)
        nd = new_nodule(rng)
        nd.update(id=i + 1, status=status, vdt=vdt, D0=D0, d0_date=d0_date)
        pn.append(nd)
    dmax = []
    for nd in pn:
        ds_ = []
        for d in dates:
            tdays = (d - nd["d0_date"]).days
            ds_.append(nd["D0"] * (2 ** (tdays / (3 * nd["vdt"])) if nd["vdt"] else 1.0))
        dmax.append(max(ds_))
    cen = place_nodules(rng, pat, nn, dmax, margin_mm=4.0)
    for nd, (x, y, _) in zip(pn, cen):
        nd["xr"], nd["yr"] = x, y
        nd["amp"] = nodule_amp(pat, nd)
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    images = []
    ref_path = None
    exam_paths = []
    for e, d in enumerate(dates):
        er = np.random.default_rng(np.random.SeedSequence([seed, p, 101, e]))
        if e == 0:
            tx = ty = rot = 0.0; sc = 1.0
        else:
            tx, ty = er.uniform(-12, 12), er.uniform(-12, 12)
            rot = er.uniform(-3, 3); sc = er.uniform(0.97, 1.03)
        th = math.radians(rot)
        R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        F = np.hstack([sc * R, (c - sc * R @ c + np.array([tx, ty]) / s)[:, None]])
        Ainv = np.linalg.inv(np.vstack([F, [0, 0, 1]]))[:2]
        nods = []
        for nd in pn:
            tdays = (d - nd["d0_date"]).days
            if tdays < 0:
                continue
            D = nd["D0"] * (2 ** (tdays / (3 * nd["vdt"])) if nd["vdt"] else 1.0)
            pxy = to_exam(F, [[nd["xr"], nd["yr"]]])[0]
            q = dict(nd)
            q.update(x=float(pxy[0]), y=float(pxy[1]), dmm=D, dpx=D * sc / s, soft_px=nd["soft"] * D * sc / s)
            nods.append(q)
        img, mask, nsig, res, exinfo = render_exam(pat, F, er, nods)
        ext = "dcm" if fmt == "dicom" else "png"
        rel = "%s/%s/pa.%s" % (pid, d.isoformat(), ext)
        relm = ".masks/%s/%s/pa_mask.png" % (pid, d.isoformat())
        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
        os.makedirs(os.path.dirname(os.path.join(out, relm)), exist_ok=True)
        mono1 = save_image(os.path.join(out, rel), img, s, pid, d.isoformat(), fmt,
                           np.random.default_rng(np.random.SeedSequence([seed, p, 102, e])), (seed, p, e))
        write_png(os.path.join(out, relm), mask, 8)
        if e == 0:
            ref_path = rel
        exam_paths.append(rel)
        nl = []
        for q, r in zip(nods, res):
            nl.append(dict(id=q["id"], x=round(q["x"], 3), y=round(q["y"], 3), diameter_mm=round(q["dmm"], 3),
                           projected_diameter_mm=round(q["dmm"] * sc, 3),
                           on_rib=r["on_rib"], lobulated=q["lobulated"], contrast=round(r["contrast"], 3),
                           cnr=round(r["contrast"] / max(nsig, 1e-6), 3), status=q["status"],
                           vdt_days=(round(q["vdt"], 2) if q["vdt"] else None),
                           soft_edge=bool(q["soft"] > 0), density=round(q["dens"], 3)))
        rec = dict(path=rel, patient_id=pid, study_date=d.isoformat(), width=W, height=H,
                   pixel_spacing_mm=s, lung_mask=relm, noise_sigma=round(nsig, 4), nodules=nl,
                   transform_to_reference=dict(tx_mm=round(tx, 4), ty_mm=round(ty, 4), rotation_deg=round(rot, 4),
                                               scale=round(sc, 6), reference=ref_path,
                                               pixel_affine=[[round(float(v), 9) for v in row] for row in Ainv]))
        if fmt == "dicom":
            rec["photometric"] = "MONOCHROME1" if mono1 else "MONOCHROME2"
        rec["_check"] = dict(in_mask=[r["in_mask"] for r in res], seconds=None, distractors=exinfo["distractors"])
        images.append(rec)
    for r in images:
        r["_check"]["seconds"] = round((time.time() - t0) / len(images), 2)
    patient = dict(patient_id=pid, exams=exam_paths,
                   nodules=[dict(id=nd["id"], status=nd["status"],
                                 vdt_days=(round(nd["vdt"], 2) if nd["vdt"] else None),
                                 d0_mm=round(nd["D0"], 3), d0_date=nd["d0_date"].isoformat(),
                                 lobulated=nd["lobulated"]) for nd in pn])
    return images, patient


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--count", type=int, help="number of single images")
    g.add_argument("--series", type=int, help="number of patients with serial exams")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--format", choices=["png", "dicom"], default="png")
    a = ap.parse_args(argv)
    out = a.out
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    if a.count is not None:
        os.makedirs(os.path.join(out, "images"), exist_ok=True)
        os.makedirs(os.path.join(out, ".masks"), exist_ok=True)
        tasks = [(a.seed, i, out, a.format) for i in range(1, a.count + 1)]
        fn = run_single
    else:
        tasks = [(a.seed, p, out, a.format) for p in range(1, a.series + 1)]
        fn = run_patient
    if a.jobs > 1 and len(tasks) > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(a.jobs) as pool:
            results = []
            for r in pool.imap(fn, tasks):
                results.append(r)
                sys.stderr.write(".")
                sys.stderr.flush()
    else:
        results = []
        for t in tasks:
            results.append(fn(t))
            sys.stderr.write(".")
            sys.stderr.flush()
    sys.stderr.write("\n")
    checks = []
    if a.count is not None:
        images = results
        truth = dict(generator=GENERATOR, version=VERSION, seed=a.seed, mode="single", images=images)
    else:
        images = [im for r in results for im in r[0]]
        truth = dict(generator=GENERATOR, version=VERSION, seed=a.seed, mode="series", images=images,
                     patients=[r[1] for r in results])
    for im in images:
        checks.append(dict(path=im["path"], **im.pop("_check")))
    with open(os.path.join(out, "truth.json"), "w") as fh:
        json.dump(truth, fh, indent=1)
    secs = [c["seconds"] for c in checks]
    bad = sum(1 for c in checks for v in c["in_mask"] if not v)
    sys.stderr.write("phantom-f: %d images in %.1f s (mean %.1f s/image, max %.1f), centres outside mask: %d\n"
                     % (len(images), time.time() - t0, float(np.mean(secs)), float(np.max(secs)), bad))


if __name__ == "__main__":
    main()
