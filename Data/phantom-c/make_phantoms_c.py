#!/usr/bin/env python3
"""phantom-c: synthetic PA chest-radiograph phantoms from a 3-D attenuation model.

Written independently from the written specification only (see README.md).

The patient is a set of analytic solids in a patient frame (x: lateral, +x =
image right = patient's left; y: cranio-caudal, +y = down; z: antero-posterior,
+z = anterior), all in millimetres.  For every detector pixel the attenuation
line integral  sum(mu_i * L_i)  along z is computed (parallel beam), scatter is
added as a heavily blurred fraction of the primary, the detected signal is
log-converted, windowed to 12 bits, blurred by the detector MTF, given
signal-dependent quantum noise and optionally vendor-style unsharp-mask /
equalisation processing.

Usage:
  python3 make_phantoms_c.py --count N  --seed S --out DIR
  python3 make_phantoms_c.py --series P --seed S --out DIR
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
F32 = np.float32

# ---------------------------------------------------------------- constants
MU_T = 0.0185            # soft tissue / blood, 1/mm (hardened ~60 keV beam)
LUNG_REL = 0.26          # aerated parenchyma density relative to tissue
DMU_AIR = MU_T * (1.0 - LUNG_REL)   # tissue replacing aerated lung
MU_CORT = 0.050 - MU_T   # cortical bone, excess over the soft tissue it replaces
MU_MARROW = 0.0215 - MU_T  # rib / clavicle marrow, excess over soft tissue
MU_SPONGY = 0.0225 - MU_T  # vertebral cancellous bone, excess
HARDEN = 0.06            # beam-hardening: A_eff = A / (1 + HARDEN*A)
SUB = 2                  # smooth components are computed on a 1/SUB grid
SCAT = 8                 # scatter is computed on a 1/SCAT grid


def U(rng, a, b):
    return float(rng.uniform(a, b))


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# ---------------------------------------------------------------- PNG I/O
def _chunk(tag, data):
    return (struct.pack('>I', len(data)) + tag + data
            + struct.pack('>I', zlib.crc32(tag + data) & 0xffffffff))


def write_png(path, img, ppm, level=2):
    """Grayscale PNG (8 or 16 bit) with a pHYs chunk (pixels per metre)."""
    img = np.ascontiguousarray(img)
    h, w = img.shape
    if img.dtype == np.uint16:
        depth, bpp = 16, 2
        data = img.astype('>u2').view(np.uint8).reshape(h, 2 * w)
    else:
        depth, bpp = 8, 1
        data = img.astype(np.uint8)
    filt = np.empty((h, data.shape[1] + 1), np.uint8)
    filt[:, 0] = 1                                   # PNG "Sub" filter
    filt[:, 1:1 + bpp] = data[:, :bpp]
    filt[:, 1 + bpp:] = data[:, bpp:] - data[:, :-bpp]
    raw = zlib.compress(filt.tobytes(), level)
    png = (b'\x89PNG\r\n\x1a\n'
           + _chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, 0, 0, 0, 0))
           + _chunk(b'pHYs', struct.pack('>IIB', int(ppm), int(ppm), 1))
           + _chunk(b'IDAT', raw) + _chunk(b'IEND', b''))
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(png)
    os.replace(tmp, path)


def read_png_phys(path):
    """Return (ppm_x, ppm_y, unit) of the pHYs chunk, or None."""
    with open(path, 'rb') as f:
        b = f.read()
    pos = 8
    while pos < len(b):
        n, = struct.unpack('>I', b[pos:pos + 4])
        tag = b[pos + 4:pos + 8]
        if tag == b'pHYs':
            return struct.unpack('>IIB', b[pos + 8:pos + 17])
        if tag == b'IDAT':
            return None
        pos += 12 + n
    return None


# ---------------------------------------------------------------- geometry
class Pose:
    """Similarity mapping patient (x, y) mm -> full-resolution pixel (col, row).
    Pixel centres are at integer coordinates."""

    def __init__(self, M):
        self.M = np.asarray(M, dtype=np.float64)
        A = self.M[:, :2]
        self.Ai = np.linalg.inv(A)
        self.bi = -self.Ai @ self.M[:, 2]
        self.ppm = math.sqrt(abs(np.linalg.det(A)))      # pixels per patient mm

    @staticmethod
    def make(px_per_mm, rot_deg, c0, r0):
        t = math.radians(rot_deg)
        c, s = math.cos(t), math.sin(t)
        k = px_per_mm
        return Pose([[k * c, -k * s, c0], [k * s, k * c, r0]])

    def to_px(self, x, y):
        M = self.M
        return M[0, 0] * x + M[0, 1] * y + M[0, 2], M[1, 0] * x + M[1, 1] * y + M[1, 2]

    def to_mm(self, c, r):
        A, b = self.Ai, self.bi
        return A[0, 0] * c + A[0, 1] * r + b[0], A[1, 0] * c + A[1, 1] * r + b[1]

    def grid(self, r0, r1, c0, c1, f):
        """Patient mm coordinates of coarse-grid pixels [r0:r1, c0:c1] (factor f)."""
        cols = ((np.arange(c0, c1) + 0.5) * f - 0.5).astype(np.float64)
        rows = ((np.arange(r0, r1) + 0.5) * f - 0.5).astype(np.float64)
        A, b = self.Ai, self.bi
        X = (A[0, 0] * cols[None, :] + A[0, 1] * rows[:, None] + b[0]).astype(F32)
        Y = (A[1, 0] * cols[None, :] + A[1, 1] * rows[:, None] + b[1]).astype(F32)
        return X, Y

    def window(self, xmin, xmax, ymin, ymax, f, shape):
        """Coarse-grid index window covering a patient-mm box."""
        xs = np.array([xmin, xmax, xmin, xmax])
        ys = np.array([ymin, ymin, ymax, ymax])
        c, r = self.to_px(xs, ys)
        c = (c + 0.5) / f - 0.5
        r = (r + 0.5) / f - 0.5
        h, w = shape
        r0 = int(max(0, math.floor(r.min()) - 1))
        r1 = int(min(h, math.ceil(r.max()) + 2))
        c0 = int(max(0, math.floor(c.min()) - 1))
        c1 = int(min(w, math.ceil(c.max()) + 2))
        if r1 <= r0 or c1 <= c0:
            return None
        return r0, r1, c0, c1


def union_len(lo, hi, ivals):
    """Length of [lo,hi] covered by the union of intervals (arrays)."""
    if not ivals:
        return np.zeros_like(lo)
    S = np.stack([np.clip(a, lo, hi) for a, _ in ivals])
    E = np.stack([np.clip(b, lo, hi) for _, b in ivals])
    E = np.maximum(E, S)
    if len(ivals) == 1:
        return E[0] - S[0]
    order = np.argsort(S, axis=0)
    S = np.take_along_axis(S, order, 0)
    E = np.take_along_axis(E, order, 0)
    cur = lo.copy()
    tot = np.zeros_like(lo)
    for i in range(len(ivals)):
        tot += np.maximum(E[i] - np.maximum(S[i], cur), 0)
        cur = np.maximum(cur, E[i])
    return tot


# ---------------------------------------------------------------- anatomy
def make_lung(rng, g, s, yd, x_lat):
    L = {'s': s}
    L['y_apex'] = g * U(rng, -6, 6)
    x_med = g * U(rng, 15, 30)                  # upper mediastinal border
    L['x_med'] = x_med
    L['x_med_bot'] = g * U(rng, 10, 20)         # lung wraps behind the heart
    L['y_medt'] = L['y_apex'] + (yd - L['y_apex']) * U(rng, 0.35, 0.5)
    L['x_lat'] = x_lat
    L['yd'] = yd
    yc = L['y_apex'] + (yd - L['y_apex']) * U(rng, 0.62, 0.78)
    L['yc'] = yc
    xc = x_med + U(rng, 0.50, 0.60) * (x_lat - x_med)
    L['xc'] = s * xc
    L['a_lat'] = x_lat - xc
    L['a_med'] = xc - x_med
    L['a_med_bot'] = xc - L['x_med_bot']
    L['b_top'] = yc - L['y_apex']
    L['D_lat'] = g * U(rng, 22, 52)              # lateral costophrenic depth
    L['b_bot'] = yd + L['D_lat'] + g * U(rng, 18, 40) - yc
    L['q_lat'] = U(rng, 2.0, 2.8)
    L['q_med'] = U(rng, 2.6, 5.0)
    L['p_top'] = U(rng, 1.4, 2.0)
    L['p_bot'] = U(rng, 3.0, 6.0)
    L['shear'] = U(rng, 0.06, 0.22)
    L['taper'] = U(rng, 0.2, 0.45)
    L['fk'] = [(k, float(rng.normal(0, 0.022)), U(rng, 0, 2 * math.pi)) for k in (2, 3, 4, 5)]
    L['c0'] = g * U(rng, 58, 78)
    L['r_exp'] = U(rng, 1.8, 2.6)
    L['zc'] = -g * U(rng, 5, 20)
    # diaphragm dome
    L['xd'] = s * (x_med + U(rng, 0.35, 0.55) * (x_lat - x_med))
    L['span_lat'] = x_lat - abs(L['xd'])
    L['span_med'] = abs(L['xd']) - x_med
    L['D_med'] = g * U(rng, 8, 30)
    L['e_lat'] = U(rng, 1.7, 2.5)
    L['e_med'] = U(rng, 1.6, 2.4)
    L['zd'] = g * U(rng, 5, 35)
    L['Wz'] = g * U(rng, 60, 90)
    L['Hz'] = g * U(rng, 9, 22)
    return L


def lung_F(L, x, y):
    s = L['s']
    dy = y - L['yc']
    xc = L['xc'] + s * L['shear'] * dy
    ul = (x - xc) * s
    lat = ul > 0
    am = L['a_med'] + (L['a_med_bot'] - L['a_med']) * smoothstep(L['y_medt'] - 25, L['y_medt'] + 35, y)
    u = np.where(lat, ul / L['a_lat'], -ul / am)
    v = np.where(dy < 0, -dy / L['b_top'], dy / L['b_bot'])
    u = u / np.where(dy < 0, 1.0 - L['taper'] * np.minimum(v, 1.0), 1.0)
    q = np.where(lat, F32(L['q_lat']), F32(L['q_med']))
    p = np.where(dy < 0, F32(L['p_top']), F32(L['p_bot']))
    F = np.power(np.maximum(u, 1e-6), q) + np.power(np.maximum(v, 1e-6), p)
    th = np.arctan2(np.where(dy < 0, -v, v), np.where(lat, u, -u))
    pert = 1.0
    for k, e, ph in L['fk']:
        pert = pert + e * np.cos(k * th + ph)
    return (F * pert).astype(F32)


def lung_halfdepth(L, y, F):
    t = np.clip((y - L['y_apex']) / (L['yc'] - L['y_apex']), 0, 1.4)
    c = L['c0'] * (0.68 + 0.32 * t)
    return (c * np.power(np.clip(1.0 - F, 0, 1), 1.0 / L['r_exp'])).astype(F32)


def dome_top(L, x):
    dx = (x - L['xd']) * L['s']
    lat = dx > 0
    a = np.abs(dx)
    al = a / L['span_lat']
    am = a / L['span_med']
    return np.where(lat, L['yd'] + L['D_lat'] * (np.power(np.minimum(al, 1), L['e_lat']) + 0.3 * np.maximum(al - 1, 0)),
                    L['yd'] + L['D_med'] * (np.power(np.minimum(am, 1), L['e_med']) + 0.5 * np.maximum(am - 1, 0))
                    ).astype(F32)


def heart_e(H, x, y):
    dx = x - H['x']
    dy = y - H['y']
    c, s = H['cos'], H['sin']
    xr = c * dx + s * dy
    yr = -s * dx + c * dy
    return (xr / H['a']) ** 2 + (yr / H['b']) ** 2


def exclusions(an, L, x, y):
    """z-intervals inside the lung envelope that are not aerated."""
    iv = []
    # diaphragm / abdomen below the dome surface
    dlt = y - dome_top(L, x)
    w = L['Wz'] * np.sqrt(np.maximum(dlt, 0) / L['Hz'])
    iv.append((L['zd'] - w, L['zd'] + w))
    H = an['heart']
    e = heart_e(H, x, y)
    hc = H['c'] * np.power(np.maximum(1 - np.power(np.minimum(e, 1.0), H['pz']), 0), 1.0 / (2 * H['pz']))
    iv.append((H['z'] - hc, H['z'] + hc))
    for K in an['blobs']:
        ee = ((x - K['x']) / K['a']) ** 2 + ((y - K['y']) / K['b']) ** 2
        if L['s'] * K['x'] < -5:
            continue
        kc = K['c'] * np.sqrt(np.maximum(1 - ee, 0))
        iv.append((K['z'] - kc, K['z'] + kc))
    for C in (an['dao'], an['svc']):
        if L['s'] * C['x'] < 0:
            continue
        cc = C['cz'] * np.sqrt(np.maximum(1 - ((x - C['x']) / C['r']) ** 2, 0)) * \
            smoothstep(C['y0'] - 8, C['y0'] + 8, y) * (1 - smoothstep(C['y1'] - 8, C['y1'] + 8, y))
        iv.append((C['z'] - cc, C['z'] + cc))
    return iv


def lung_air(an, X, Y, texture=None):
    """Aerated chord length (mm) and lung-field mask for patient coords X, Y."""
    air = np.zeros(X.shape, F32)
    mask = np.zeros(X.shape, bool)
    H = an['heart']
    for L in an['lungs']:
        F = lung_F(L, X, Y)
        ins = F < 1.0
        if not ins.any():
            continue
        idx = np.nonzero(ins)
        x = X[idx]
        y = Y[idx]
        f = F[idx]
        d = lung_halfdepth(L, y, f)
        lo = L['zc'] - d
        hi = L['zc'] + d
        ex = union_len(lo, hi, exclusions(an, L, x, y))
        a = np.maximum(2 * d - ex, 0)
        a = np.minimum(a, 0.9 * torso_chord(an, x, y))
        air[idx] += a
        m = (y < dome_top(L, x)) & (heart_e(H, x, y) > 1.0) & (a > 0.4 * 2 * d) & (a > 0.5)
        mask[idx] |= m
    if texture is not None:
        air *= texture
    return air, mask


def in_air_points(an, P):
    """Boolean: 3-D points (n,3) lie in aerated lung (for vessel growth)."""
    x, y, z = (P[:, 0].astype(F32), P[:, 1].astype(F32), P[:, 2].astype(F32))
    ok = np.zeros(len(P), bool)
    for L in an['lungs']:
        F = lung_F(L, x, y)
        d = lung_halfdepth(L, y, F)
        m = (F < 0.97) & (np.abs(z - L['zc']) < 0.92 * d) & (x * L['s'] > 0)
        for lo, hi in exclusions(an, L, x, y):
            m &= ~((z > lo - 1.5) & (z < hi + 1.5))
        ok |= m
    return ok


def clean_mask(mask, px_per_mm):
    """Keep the two largest lung components, open with a ~3 mm disc, fill holes."""
    m = mask.astype(np.uint8)
    k = max(1, int(round(1.5 * px_per_mm)))
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, ker)
    n, lab, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return m.astype(bool)
    areas = st[1:, cv2.CC_STAT_AREA]
    order = np.argsort(-areas)[:2]
    keep = [i + 1 for i in order if areas[i] >= 0.05 * areas.max()]
    m = np.isin(lab, keep).astype(np.uint8)
    # fill holes
    inv = (1 - m).astype(np.uint8)
    n2, lab2, st2, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    h, w = m.shape
    for i in range(1, n2):
        x, y, ww, hh, _a = st2[i]
        if x > 0 and y > 0 and x + ww < w and y + hh < h:
            m[lab2 == i] = 1
    return m.astype(bool)


def breast_chord(E, x, y):
    dx = ((x - E['x']) / E['a']) ** 2
    dy = (y - E['y']) / E['b']
    low = 2 * E['c'] * np.sqrt(np.maximum(1 - dx - dy * dy, 0))
    up = 2 * E['c'] * np.sqrt(np.maximum(1 - dx, 0)) * np.exp(-(dy / 0.9) ** 2)
    return np.where(dy >= 0, low, up)


def torso_chord(an, x, y):
    T = an['torso']
    A = T['A'] * (1 + 0.06 * (y - T['yref']) / 100.0) + T['sh'] * np.exp(-((y - T['ysh']) / T['wsh']) ** 2)
    A = T['neck'] + (A - T['neck']) * smoothstep(T['ysh'] - T['hneck'], T['ysh'] - 10, y)
    B = T['B'] * (1 + 0.04 * (y - T['yref']) / 100.0) * (1 - 0.25 * smoothstep(T['ysh'] + 50, T['ysh'] - 60, y))
    return 2 * B * np.sqrt(np.maximum(1 - (x / A) ** 2, 0))


def ellipsoid_chord(E, x, y):
    e = ((x - E['x']) / E['a']) ** 2 + ((y - E['y']) / E['b']) ** 2
    return 2 * E['c'] * np.sqrt(np.maximum(1 - e, 0))


def make_rib_curves(rng, an, g):
    """Ribs and clavicles as 3-D parametric curves with cross-section tables."""
    tubes = []
    T = an['torso']
    bd = an['bone_density']
    y01 = an['y_apex'] + g * U(rng, 2, 12)
    sp0 = g * U(rng, 16.5, 21.0)
    dp_f = U(rng, 0.9, 1.6)
    da_f = U(rng, 1.7, 2.6)
    bow = g * U(rng, 3, 12)
    ka = U(rng, 0.8, 1.1)
    x0 = g * U(rng, 14, 20)
    h_post = g * U(rng, 4.2, 5.6)
    h_ant = h_post * U(rng, 1.05, 1.3)
    t_post = g * U(rng, 2.8, 3.8)
    t_ant = t_post * U(rng, 0.5, 0.65)
    c_post = U(rng, 0.8, 1.4)
    c_ant = c_post * U(rng, 0.4, 0.6)
    Rz = T['B'] * 0.85
    yk = [y01]
    for k in range(1, 12):
        yk.append(yk[-1] + sp0 * (1 + 0.03 * (k - 1)) * U(rng, 0.95, 1.05))
    an['rib_y'] = yk
    an['rib_sp'] = sp0
    xs_probe = np.linspace(0, 260, 521).astype(F32)
    for L in an['lungs']:
        s = L['s']
        for k in range(12):
            spk = sp0 * (1 + 0.03 * k)
            Dp = spk * dp_f * (0.85 + 0.05 * k) * U(rng, 0.9, 1.1)
            Da = spk * da_f * U(rng, 0.85, 1.15)
            if k == 0:
                Dp, Da = spk * U(rng, 0.3, 0.6), spk * U(rng, 0.6, 1.0)
            y0 = yk[k] + g * U(rng, -1.5, 1.5)
            ylat = y0 + Dp
            # lateral extreme: just outside the lung edge at that level
            F = lung_F(L, s * xs_probe, np.full_like(xs_probe, ylat))
            inside = np.nonzero(F < 1)[0]
            if len(inside):
                xe = float(xs_probe[inside.max()])
            else:
                xe = float(T['A'] * 0.86)
            xe = max(xe, g * 40)
            t_k = t_post * (1.25 if k == 0 else 1.0)
            Rx = xe + t_k * 0.9 - x0
            if k == 0:
                phi_end = math.pi * 0.95
            elif k < 7:
                phi_end = math.pi * U(rng, 0.84, 0.90)
            elif k < 10:
                phi_end = math.pi * U(rng, 0.74, 0.84)
            elif k == 10:
                phi_end = math.pi * 0.5
            else:
                phi_end = math.pi * 0.38
            n = 900
            phi = np.linspace(0.0, phi_end, n)
            x = s * (x0 + Rx * np.sin(phi))
            z = -Rz * np.cos(phi) + T['B'] * 0.05
            bk = bow * max(1.3 - 0.15 * k, 0.0)
            y = np.where(phi <= math.pi / 2,
                         y0 - bk * np.sin(2 * phi) + Dp * (1 - np.cos(phi)) ** 1.1,
                         y0 + Dp + Da * ((1 - np.sin(phi)) / max(1 - math.sin(phi_end), 1e-3)) ** ka)
            # resample to uniform 3-D arc length
            P = np.stack([x, y, z], 1)
            seg = np.linalg.norm(np.diff(P, axis=0), axis=1)
            sarc = np.concatenate([[0], np.cumsum(seg)])
            m = int(sarc[-1] / 0.1) + 2
            si = np.linspace(0, sarc[-1], m)
            P = np.stack([np.interp(si, sarc, P[:, j]) for j in range(3)], 1)
            ph = np.interp(si, sarc, phi)
            w_ant = smoothstep(0.45 * math.pi, 0.75 * math.pi, ph)
            h = h_post * (1 - w_ant) + h_ant * w_ant
            if k == 0:
                h = h * 1.25
            t = t_k * (1 - w_ant) + t_ant * w_ant
            c = c_post * (1 - w_ant) + c_ant * w_ant
            tang = np.gradient(P, axis=0)
            tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-9
            cosa = np.sqrt(tang[:, 0] ** 2 + tang[:, 1] ** 2)
            cs_ = np.convolve(np.pad(cosa, 150, mode='edge'), np.ones(301) / 301, mode='same')[150:-150]
            hw = h * (0.65 + 0.35 * cs_)              # projected half width (narrower where the rib runs AP)
            tilt = 1.0 / np.maximum(cs_, 0.65)
            dens = bd * np.ones_like(si)
            # costal cartilage: fade out the anterior end; head merges into spine
            sa = si[-1] - si
            dens *= smoothstep(0, g * U(rng, 12, 25), sa) * (1 - 0.3 * w_ant)
            dens *= 0.55 + 0.45 * smoothstep(0, g * 10, si)
            tubes.append({'P': P, 'hw': hw, 'h': h, 't': t, 'c': c, 'tilt': tilt,
                          'dens': dens, 'kind': 'rib'})
    # clavicles
    for s in (-1, 1):
        xm = s * g * U(rng, 12, 26)
        ym = an['y_apex'] + g * U(rng, -2, 28)
        xl = s * (T['A'] - g * U(rng, 15, 45))
        yl = ym - g * U(rng, 0, 35)
        n = 2000
        u = np.linspace(0, 1, n)
        x = xm + (xl - xm) * u
        y = ym + (yl - ym) * u + g * U(rng, 3, 8) * np.sin(2 * math.pi * u) * U(rng, 0.6, 1.0)
        z = T['B'] * 0.6 - g * 40 * u ** 2
        P = np.stack([x, y, z], 1)
        seg = np.linalg.norm(np.diff(P, axis=0), axis=1)
        sarc = np.concatenate([[0], np.cumsum(seg)])
        m = int(sarc[-1] / 0.1) + 2
        si = np.linspace(0, sarc[-1], m)
        P = np.stack([np.interp(si, sarc, P[:, j]) for j in range(3)], 1)
        uu = si / si[-1]
        hc = g * U(rng, 5.5, 7.5)
        h = hc * (1 + 0.45 * np.exp(-(uu / 0.12) ** 2) + 0.25 * smoothstep(0.7, 1.0, uu))
        t = g * U(rng, 4.5, 6.0) * (1 - 0.35 * smoothstep(0.6, 1.0, uu))
        c = U(rng, 1.2, 1.8) * np.ones_like(si)
        tang = np.gradient(P, axis=0)
        tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-9
        cosa = np.sqrt(tang[:, 0] ** 2 + tang[:, 1] ** 2)
        tubes.append({'P': P, 'hw': h, 'h': h, 't': t, 'c': c, 'tilt': 1 / np.maximum(cosa, 0.5),
                      'dens': bd * np.ones_like(si), 'kind': 'clavicle'})
    return tubes


def grow_vessels(rng, an):
    """Branching tapered vessel trees from each hilum (3-D segments)."""
    P0, P1, R = [], [], []
    for L in an['lungs']:
        s = L['s']
        hil = L['hilum']
        roots = []
        # pulmonary arteries from the hilum
        for d, r in (((0.30, -0.95, 0.10), U(rng, 3.8, 5.2)), ((0.85, -0.35, 0.25), U(rng, 3.0, 4.2)),
                     ((0.95, 0.15, -0.10), U(rng, 3.2, 4.4)), ((0.65, 0.60, 0.45), U(rng, 3.2, 4.4)),
                     ((0.40, 0.90, -0.35), U(rng, 4.2, 5.6)), ((0.75, 0.55, -0.45), U(rng, 3.4, 4.6))):
            roots.append((hil, (s * d[0], d[1], d[2]), r))
        # pulmonary veins towards the left atrium (lower, more medial)
        vh = (hil[0] - s * an['g'] * 8, hil[1] + an['g'] * U(rng, 25, 40), hil[2] + 10)
        for d, r in (((0.90, 0.25, 0.2), U(rng, 3.0, 4.0)), ((0.80, 0.60, -0.2), U(rng, 3.0, 4.0)),
                     ((0.90, -0.35, 0.1), U(rng, 2.6, 3.6))):
            roots.append((vh, (s * d[0], d[1], d[2]), r))
        pos = np.array([r[0] for r in roots], float)
        dr = np.array([r[1] for r in roots], float)
        dr += rng.normal(0, 0.15, dr.shape)
        dr /= np.linalg.norm(dr, axis=1, keepdims=True)
        rad = np.array([r[2] for r in roots], float) * an['g']
        # hilar trunks (main pulmonary artery branch, partly outside the lung)
        P0.append(np.array([[hil[0] - s * 22 * an['g'], hil[1] - 6, hil[2]]]))
        P1.append(np.array([hil]))
        R.append(np.array([U(rng, 6.5, 8.5) * an['g']]))
        origin = np.array(hil, float)
        for it in range(80):
            n = len(pos)
            if n == 0:
                break
            ell = np.maximum(rad * rng.uniform(3.0, 6.0, n), 2.0)
            out = pos - origin
            out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-6
            d = dr + 0.35 * out + rng.normal(0, 0.16, (n, 3))
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            p1 = pos + ell[:, None] * d
            ok = in_air_points(an, p1) if it > 0 else np.ones(n, bool)
            for _try in range(4):          # re-aim tips that would leave the lung
                bad = np.nonzero(~ok)[0]
                if len(bad) == 0:
                    break
                dn = d[bad] + (0.5 + 0.3 * _try) * rng.normal(0, 1, (len(bad), 3)) + 0.4 * out[bad]
                dn /= np.linalg.norm(dn, axis=1, keepdims=True)
                en = ell[bad] * (0.8 - 0.12 * _try)
                pn = pos[bad] + en[:, None] * dn
                okn = in_air_points(an, pn)
                d[bad[okn]] = dn[okn]
                p1[bad[okn]] = pn[okn]
                ell[bad[okn]] = en[okn]
                ok[bad[okn]] = True
            P0.append(pos[ok])
            P1.append(p1[ok])
            R.append(rad[ok])
            pos, d, rad = p1[ok], d[ok], rad[ok]
            n = len(pos)
            if n == 0:
                break
            br = rng.random(n) < 0.72
            rs = rad * rng.uniform(0.45, 0.78, n)
            rm = np.where(br, np.cbrt(np.maximum(rad ** 3 - rs ** 3, 0)), rad * 0.95)
            v = np.cross(d, rng.normal(0, 1, (n, 3)))
            v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
            ang = rng.uniform(math.radians(30), math.radians(70), n)[:, None]
            ds = np.cos(ang) * d + np.sin(ang) * v
            # some side branches run antero-posteriorly (end-on dots)
            eo = br & (rng.random(n) < 0.10) & (rs > 1.0) & (rs < 3.2)
            if eo.any():
                zz = np.sign(rng.normal(0, 1, eo.sum()))
                ds[eo] = np.stack([rng.normal(0, 0.15, eo.sum()), rng.normal(0, 0.15, eo.sum()), zz], 1)
                ds[eo] /= np.linalg.norm(ds[eo], axis=1, keepdims=True)
            dm = d - 0.35 * np.sin(ang) * v
            dm /= np.linalg.norm(dm, axis=1, keepdims=True)
            pos = np.concatenate([pos, pos[br]])
            dr = np.concatenate([dm, ds[br]])
            rad = np.concatenate([rm, rs[br]])
            keep = rad >= 0.55
            pos, dr, rad = pos[keep], dr[keep], rad[keep]
            if len(pos) > 5000:
                sel = np.argsort(-rad)[:5000]
                pos, dr, rad = pos[sel], dr[sel], rad[sel]
    return np.concatenate(P0), np.concatenate(P1), np.concatenate(R)


def make_anatomy(rng, g):
    an = {'g': g}
    an['bone_density'] = U(rng, 0.75, 1.15)
    yd_R = g * U(rng, 192, 232)
    yd_L = yd_R + g * U(rng, 4, 24)
    x_lat = g * U(rng, 112, 140)
    lungs = []
    for s, yd in ((-1, yd_R), (1, yd_L)):
        lungs.append(make_lung(rng, g, s, yd, x_lat * U(rng, 0.95, 1.05)))
    an['lungs'] = lungs
    an['y_apex'] = min(L['y_apex'] for L in lungs)
    an['yd'] = (yd_R, yd_L)
    xl = max(L['x_lat'] for L in lungs)
    an['torso'] = {'A': xl + g * U(rng, 18, 45), 'B': g * U(rng, 92, 128), 'yref': yd_R,
                   'sh': g * U(rng, 10, 35), 'ysh': an['y_apex'] + g * U(rng, -25, 10), 'wsh': g * U(rng, 40, 70),
                   'neck': g * U(rng, 55, 70), 'hneck': g * U(rng, 70, 120)}
    # heart
    ctr = U(rng, 0.38, 0.54)
    Wh = ctr * (lungs[0]['x_lat'] + lungs[1]['x_lat'] + 16 * g)
    psi = math.radians(U(rng, 18, 38))
    rho = U(rng, 0.68, 0.88)
    cs, sn = math.cos(psi), math.sin(psi)
    a = (Wh / 2) / math.sqrt(cs ** 2 + (rho * sn) ** 2)
    b = rho * a
    hy = math.sqrt((a * sn) ** 2 + (b * cs) ** 2)
    H = {'x': g * U(rng, 8, 28), 'a': a, 'b': b, 'cos': cs, 'sin': sn,
         'c': g * U(rng, 55, 70), 'z': g * U(rng, 10, 30), 'ctr': ctr, 'pz': U(rng, 1.4, 2.2)}
    # heart rests on the diaphragm: its whole lower border reaches below the domes
    tt = np.linspace(0, 2 * math.pi, 721)
    ex = a * np.cos(tt) * cs - b * np.sin(tt) * sn
    ey = a * np.cos(tt) * sn + b * np.sin(tt) * cs
    low = (ey > 0) & (ex > -0.45 * a) & (ex < 0.85 * a)
    bx = (H['x'] + ex[low]).astype(F32)
    dome = np.where(bx > 0, dome_top(lungs[1], bx), dome_top(lungs[0], bx))
    margin = g * U(rng, 3, 15)
    H['y'] = float(np.max(dome + margin - ey[low]))
    an['heart'] = H
    r_k = g * U(rng, 12, 17)
    K = {'x': g * U(rng, 20, 30), 'y': an['y_apex'] + g * U(rng, 58, 82), 'z': -g * U(rng, 0, 20),
         'a': r_k, 'b': r_k, 'c': r_k * 1.2}
    an['knob'] = K
    top_h = H['y'] - hy
    pt = {'x': K['x'] - g * U(rng, 0, 6), 'y': 0.5 * (K['y'] + top_h) + g * U(rng, 0, 12), 'z': g * U(rng, 0, 20),
          'a': g * U(rng, 12, 17), 'b': max(0.5 * (top_h - K['y']) + 12 * g, 15 * g), 'c': g * U(rng, 20, 30)}
    an['blobs'] = [K, pt]
    an['dao'] = {'x': K['x'] - g * U(rng, 2, 8), 'r': r_k * U(rng, 0.65, 0.8), 'cz': r_k * 0.8, 'z': -g * U(rng, 35, 55),
                 'y0': K['y'], 'y1': yd_L + 60 * g}
    an['svc'] = {'x': -g * U(rng, 12, 20), 'r': g * U(rng, 9, 13), 'cz': g * U(rng, 25, 40), 'z': g * U(rng, 0, 20),
                 'y0': an['y_apex'] + 15 * g, 'y1': H['y'] + 0 * g}
    # airways
    xt = g * U(rng, -6, 3)
    ycar = an['y_apex'] + g * U(rng, 65, 90)
    for L in lungs:
        L['hilum'] = (L['s'] * (L['x_med'] + g * U(rng, 12, 26)),
                      an['y_apex'] + (L['yd'] - an['y_apex']) * U(rng, 0.42, 0.50) - (g * U(rng, 6, 18) if L['s'] > 0 else 0),
                      L['zc'] + g * U(rng, -5, 10))
    an['airways'] = [((xt, an['y_apex'] - 150, g * 20), (xt, ycar, 0), g * U(rng, 7, 9.5))]
    for L in lungs:
        hx, hy, _ = L['hilum']
        ex = hx - L['s'] * 8 * g
        an['airways'].append(((xt, ycar, 0), (ex, hy - 5 * g, 0), g * U(rng, 5, 6.5)))
    # stomach gas bubble under the left dome
    if rng.random() < 0.65:
        Lf = lungs[1]
        an['stomach'] = {'x': abs(Lf['xd']) + g * U(rng, -15, 20), 'y': yd_L + g * U(rng, 22, 40),
                         'a': g * U(rng, 25, 45), 'b': g * U(rng, 14, 24), 'c': g * U(rng, 20, 35),
                         'level': U(rng, -0.2, 0.5)}
    # breast shadows
    an['breasts'] = []
    if rng.random() < 0.35:
        r = g * U(rng, 50, 85)
        yb = yd_R - g * U(rng, 0, 45)
        for s in (-1, 1):
            an['breasts'].append({'x': s * g * U(rng, 65, 100), 'y': yb + g * U(rng, -8, 8),
                                  'a': r * U(rng, 0.9, 1.1), 'b': r * U(rng, 0.8, 1.0), 'c': r * U(rng, 0.2, 0.4)})
    # arms with humeral heads (often at or beyond the image corners)
    an['humeri'] = []
    Atop = an['torso']['A'] + an['torso']['sh']
    for s in (-1, 1):
        ra = g * U(rng, 38, 52)
        an['humeri'].append({'x': s * (Atop + ra * U(rng, 0.5, 1.6)), 'y': an['y_apex'] + g * U(rng, -10, 25),
                             'r': g * U(rng, 21, 27), 'ra': ra})
    # scapulae (optional)
    an['scapulae'] = []
    if rng.random() < 0.7:
        for s in (-1, 1):
            A = an['torso']['A']
            xl_ = max(L['x_lat'] for L in lungs)
            sup = (s * (xl_ - g * U(rng, -5, 25)), an['y_apex'] - g * U(rng, 0, 15))
            inf = (s * (xl_ + g * U(rng, -15, 15)), an['y_apex'] + g * U(rng, 110, 150))
            lat = (s * (A + g * U(rng, 10, 30)), an['y_apex'] + g * U(rng, 10, 30))
            an['scapulae'].append({'pts': [sup, inf, lat], 't': g * U(rng, 1.5, 2.5), 'rim': g * U(rng, 1, 2.5)})
    # ribs / clavicles
    an['tubes'] = make_rib_curves(rng, an, g)
    # spine
    verts = []
    scol_a = g * U(rng, -6, 6)
    scol_p = U(rng, 0, 2 * math.pi)
    for k in range(13):
        if k < 12:
            yk = an['rib_y'][k] + an['rib_sp'] * 0.35
        else:
            yk = verts[-1]['y'] + an['rib_sp'] * 1.15
        hv = an['rib_sp'] * (1 + 0.03 * k) * U(rng, 0.36, 0.41)
        wv = g * (15 + 1.0 * k) * U(rng, 0.92, 1.08)
        verts.append({'x': scol_a * math.sin(yk / 250 * math.pi + scol_p), 'y': yk, 'h': hv, 'w': wv,
                      'd': g * U(rng, 13, 17) * (1 + 0.02 * k)})
    an['verts'] = verts
    # vessels
    an['vessels'] = grow_vessels(rng, an)
    # parenchymal texture in patient coordinates (0.5 mm grid)
    tx0, ty0, tstep = -230.0, -120.0, 0.5
    th, tw = 1040, 920
    n1 = cv2.GaussianBlur(rng.standard_normal((th, tw)).astype(F32), (0, 0), 1.3)
    n2 = cv2.GaussianBlur(rng.standard_normal((th, tw)).astype(F32), (0, 0), 5.0)
    n1 /= n1.std() + 1e-9
    n2 /= n2.std() + 1e-9
    tau = U(rng, 0.008, 0.02)
    an['texture'] = {'img': (1 + tau * (0.75 * n1 + 0.5 * n2)).astype(F32), 'x0': tx0, 'y0': ty0, 'step': tstep}
    return an


# ---------------------------------------------------------------- nodules
def sample_diameter(rng):
    if rng.random() < 0.34:
        return float(math.exp(rng.uniform(math.log(5.0), math.log(10.0))))
    return float(math.exp(rng.uniform(math.log(10.0), math.log(30.0))))


def make_lobes(rng):
    """Relative sphere list (dx,dy,dz,r) in units of the nodule radius."""
    lobes = [(0.0, 0.0, 0.0, U(rng, 0.74, 0.84))]
    k = int(rng.integers(2, 5))
    for _ in range(k):
        v = rng.normal(0, 1, 3)
        v[2] *= 0.7
        v /= np.linalg.norm(v)
        rs = U(rng, 0.38, 0.58)
        dist = 1.0 - rs
        lobes.append((float(v[0] * dist), float(v[1] * dist), float(v[2] * dist), rs))
    return lobes


def place_nodules(rng, an, specs, fov_checks):
    """specs: list of dicts with 'dmax' (mm).  Adds 'x','y' (patient mm).
    fov_checks: list of (pose, W, H) that every nodule must fit in."""
    # patient-grid lung field at 1 mm
    xs = np.arange(-230, 231, 1.0, dtype=F32)
    ys = np.arange(-60, 340, 1.0, dtype=F32)
    X, Y = np.meshgrid(xs, ys)
    air, mask = lung_air(an, X, Y)
    mask = clean_mask(mask, 1.0)
    inside = mask.astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    placed = []
    for sp in specs:
        r = sp['dmax'] / 2
        cand = np.nonzero((dist >= r + 1.5) & (air >= sp['dmax'] + 6))
        ok = False
        if len(cand[0]):
            for _ in range(200):
                i = int(rng.integers(len(cand[0])))
                x = float(xs[cand[1][i]] + rng.uniform(-0.5, 0.5))
                y = float(ys[cand[0][i]] + rng.uniform(-0.5, 0.5))
                if any(math.hypot(x - q['x'], y - q['y']) < r + q['dmax'] / 2 + 3 for q in placed):
                    continue
                fit = True
                for pose, W, Hh in fov_checks:
                    c, rr = pose.to_px(x, y)
                    m = (r + 8) * pose.ppm
                    if not (m <= c <= W - 1 - m and m <= rr <= Hh - 1 - m):
                        fit = False
                if not fit:
                    continue
                sp['x'], sp['y'] = x, y
                placed.append(sp)
                ok = True
                break
        if not ok:
            sp['x'] = None
    return [s for s in specs if s.get('x') is not None]


def nodule_chord(lobes, R, cx, cy, X, Y):
    """Projected chord (mm) through a union of spheres; X,Y patient mm arrays."""
    iv = []
    for dx, dy, dz, rf in lobes:
        r = rf * R
        h = np.sqrt(np.maximum(r * r - (X - cx - dx * R) ** 2 - (Y - cy - dy * R) ** 2, 0))
        z = dz * R
        iv.append((z - h, z + h))
    if len(iv) == 1:
        return iv[0][1] - iv[0][0]
    lo = np.full(X.shape, -1e4, F32)
    hi = np.full(X.shape, 1e4, F32)
    return union_len(lo, hi, iv)


# ---------------------------------------------------------------- rendering
def render_tube(bone, tb, pose, ribmask=None):
    """Add the projected bone path (mm*mu) of one tube into `bone` (full res)."""
    H, W = bone.shape
    P = tb['P']
    c, r = pose.to_px(P[:, 0], P[:, 1])
    k = pose.ppm
    hwmax = float(tb['hw'].max()) * k
    pad = int(hwmax + 4)
    x0 = int(math.floor(c.min())) - pad
    x1 = int(math.ceil(c.max())) + pad + 1
    y0 = int(math.floor(r.min())) - pad
    y1 = int(math.ceil(r.max())) + pad + 1
    bx0, by0 = max(x0, 0), max(y0, 0)
    bx1, by1 = min(x1, W), min(y1, H)
    if bx1 <= bx0 or by1 <= by0:
        return
    # axis pixels (the whole curve, clipped to an extended box)
    ic = np.round(c).astype(np.int64)
    ir = np.round(r).astype(np.int64)
    ex0, ey0 = max(x0, -pad), max(y0, -pad)
    ex1, ey1 = min(x1, W + pad), min(y1, H + pad)
    v = (ic >= ex0) & (ic < ex1) & (ir >= ey0) & (ir < ey1)
    if not v.any():
        return
    sub = np.ones((ey1 - ey0, ex1 - ex0), np.uint8)
    sub[ir[v] - ey0, ic[v] - ex0] = 0
    dist, lab = cv2.distanceTransformWithLabels(sub, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(lab.max()) + 1, np.int64)
    idx_v = np.nonzero(v)[0]
    lut[lab[ir[v] - ey0, ic[v] - ex0]] = idx_v
    # restrict to the visible part of the box and to the band around the axis
    oy, ox = by0 - ey0, bx0 - ex0
    dsub = dist[oy:oy + (by1 - by0), ox:ox + (bx1 - bx0)]
    rr, cc = np.nonzero(dsub < hwmax + 2.5)
    if len(rr) == 0:
        return
    i = lut[lab[rr + oy, cc + ox]]
    tg_c = np.gradient(c)
    tg_r = np.gradient(r)
    nrm = np.sqrt(tg_c ** 2 + tg_r ** 2) + 1e-9
    tx, ty = tg_c / nrm, tg_r / nrm
    dx = (cc + bx0) - c[i]
    dy = (rr + by0) - r[i]
    along = dx * tx[i] + dy * ty[i]
    perp = -dx * ty[i] + dy * tx[i]
    n = len(c)
    beyond = ((i == 0) & (along < 0)) | ((i == n - 1) & (along > 0))
    rho = np.where(beyond, np.sqrt(perp ** 2 + along ** 2), np.abs(perp)) / k
    hw = tb['hw'][i]
    t = tb['t'][i]
    cx = np.minimum(tb['c'][i], 0.45 * t)
    outer = 2 * t * np.sqrt(np.maximum(1 - (rho / hw) ** 2, 0))
    hin = np.maximum(hw - cx, 0.2)
    inner = 2 * (t - cx) * np.sqrt(np.maximum(1 - (rho / hin) ** 2, 0))
    val = (MU_CORT * (outer - inner) + MU_MARROW * inner) * tb['dens'][i] * tb['tilt'][i]
    bone[rr + by0, cc + bx0] += val.astype(F32)
    if ribmask is not None:
        # dense bone only: posterior/lateral rib arcs and clavicles (the thin, faint
        # anterior rib arms and cartilage ends are not counted)
        strength = tb['dens'] * tb['t']
        dense = strength[i] >= 0.6 * float(strength.max())
        ribmask[rr + by0, cc + bx0] |= (outer > 0.3) & dense


def disc_kernel(rpx):
    n = int(math.ceil(rpx + 1))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1].astype(F32)
    # area-weighted coverage (4x4 supersampling)
    acc = np.zeros_like(xx)
    for a in (-0.375, -0.125, 0.125, 0.375):
        for b in (-0.375, -0.125, 0.125, 0.375):
            acc += ((xx + a) ** 2 + (yy + b) ** 2 <= rpx * rpx)
    return acc / 16.0


def render_vessels(an, pose, shape, f):
    """Projected vessel path length (mm) on the 1/f grid (disc-kernel splatting)."""
    P0, P1, R = an['vessels']
    out = np.zeros(shape, F32)
    if len(R) == 0:
        return out
    kf = pose.ppm / f                                   # coarse px per mm
    c0, r0 = pose.to_px(P0[:, 0], P0[:, 1])
    c1, r1 = pose.to_px(P1[:, 0], P1[:, 1])
    c0, r0, c1, r1 = [(a + 0.5) / f - 0.5 for a in (c0, r0, c1, r1)]
    l3 = np.linalg.norm(P1 - P0, axis=1)
    lp = np.hypot(c1 - c0, r1 - r0)
    m = np.maximum(1, np.ceil(lp / 0.6)).astype(np.int64)
    seg = np.repeat(np.arange(len(R)), m)
    start = np.repeat(np.cumsum(m) - m, m)
    j = np.arange(len(seg)) - start
    fr = (j + 0.5) / m[seg]
    sc = c0[seg] + fr * (c1[seg] - c0[seg])
    sr = r0[seg] + fr * (r1[seg] - r0[seg])
    w = (l3 / m)[seg]
    rad = R[seg]
    edges = np.exp(np.arange(math.log(0.5), math.log(12.0), math.log(1.22)))
    b = np.digitize(rad, edges)
    H, W = shape
    for bi in np.unique(b):
        sel = b == bi
        lo = edges[bi - 1] if bi > 0 else 0.5
        hi = edges[bi] if bi < len(edges) else 12.0
        rmm = math.sqrt(lo * hi)
        rpx = rmm * kf
        x = sc[sel]
        y = sr[sel]
        ww = w[sel]
        pad = int(rpx + 3)
        xa0 = max(int(math.floor(x.min())) - pad, 0)
        xa1 = min(int(math.ceil(x.max())) + pad + 1, W)
        ya0 = max(int(math.floor(y.min())) - pad, 0)
        ya1 = min(int(math.ceil(y.max())) + pad + 1, H)
        if xa1 - xa0 < 2 or ya1 - ya0 < 2:
            continue
        bw, bh = xa1 - xa0, ya1 - ya0
        xf = x - xa0
        yf = y - ya0
        ix = np.floor(xf).astype(np.int64)
        iy = np.floor(yf).astype(np.int64)
        fx = xf - ix
        fy = yf - iy
        acc = np.zeros(bh * bw, np.float64)
        for ddx, ddy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                             (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            jx = ix + ddx
            jy = iy + ddy
            ok = (jx >= 0) & (jx < bw) & (jy >= 0) & (jy < bh)
            acc += np.bincount(jy[ok] * bw + jx[ok], weights=(ww * wt)[ok], minlength=bh * bw)
        img = acc.reshape(bh, bw).astype(F32)
        if rpx < 1.0:
            img = cv2.GaussianBlur(img, (0, 0), max(rpx * 0.5, 0.3)) * F32(math.pi * rpx * rpx)
        else:
            img = cv2.filter2D(img, -1, disc_kernel(rpx), borderType=cv2.BORDER_CONSTANT)
        out[ya0:ya1, xa0:xa1] += img
    return out


def tube_chord_2d(X, Y, p0, p1, r):
    """Chord through a capsule lying in the detector plane (for airways)."""
    ax, ay = p1[0] - p0[0], p1[1] - p0[1]
    L2 = ax * ax + ay * ay + 1e-9
    t = np.clip(((X - p0[0]) * ax + (Y - p0[1]) * ay) / L2, 0, 1)
    dx = X - p0[0] - t * ax
    dy = Y - p0[1] - t * ay
    return 2 * np.sqrt(np.maximum(r * r - dx * dx - dy * dy, 0))


def render_smooth(an, pose, shape, f):
    """Attenuation (sum mu*L) of all smooth structures on the 1/f grid.
    Returns (muL, air, lung_mask)."""
    X, Y = pose.grid(0, shape[0], 0, shape[1], f)
    g = an['g']
    tissue = torso_chord(an, X, Y)
    for E in an['breasts']:
        tissue += breast_chord(E, X, Y)
    mu = MU_T * tissue
    # texture sampled at patient coordinates
    T = an['texture']
    mx = ((X - T['x0']) / T['step']).astype(F32)
    my = ((Y - T['y0']) / T['step']).astype(F32)
    tex = cv2.remap(T['img'], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    air = np.zeros(shape, F32)
    mask = np.zeros(shape, bool)
    for L in an['lungs']:
        xa, xb = sorted((L['s'] * (L['x_med'] - 15), L['s'] * (L['x_lat'] + 10)))
        wdw = pose.window(xa, xb, L['y_apex'] - 10, L['yc'] + L['b_bot'] + 10, f, shape)
        if wdw is None:
            continue
        r0, r1, c0, c1 = wdw
        a, m = lung_air(an, X[r0:r1, c0:c1], Y[r0:r1, c0:c1])
        air[r0:r1, c0:c1] += a
        mask[r0:r1, c0:c1] |= m
    air *= tex
    mask = clean_mask(mask, pose.ppm / f)
    # vessels replace aerated lung
    ves = render_vessels(an, pose, shape, f)
    ves = np.minimum(ves, 0.8 * air)
    mu -= DMU_AIR * air
    mu += DMU_AIR * ves
    # airways (max-combined air tubes), reduced where lung air already counted
    aw = np.zeros(shape, F32)
    for p0, p1, r in an['airways']:
        wdw = pose.window(min(p0[0], p1[0]) - r, max(p0[0], p1[0]) + r,
                          min(p0[1], p1[1]) - r, max(p0[1], p1[1]) + r, f, shape)
        if wdw is None:
            continue
        r0, r1, c0, c1 = wdw
        aw[r0:r1, c0:c1] = np.maximum(aw[r0:r1, c0:c1],
                                      tube_chord_2d(X[r0:r1, c0:c1], Y[r0:r1, c0:c1], p0, p1, r))
    mu -= MU_T * 0.9 * aw * np.clip(1 - air / 30.0, 0, 1)
    if 'stomach' in an:
        S = an['stomach']
        ch = ellipsoid_chord(S, X, Y) * smoothstep(-2, 2, (S['y'] + S['level'] * S['b']) - Y)
        mu -= MU_T * 0.95 * ch
    # bones on the smooth grid: spine, scapulae, humeral heads
    bone = np.zeros(shape, F32)
    bd = an['bone_density']
    for V in an['verts']:
        wdw = pose.window(V['x'] - V['w'] - 30 * g, V['x'] + V['w'] + 30 * g,
                          V['y'] - V['h'] - 12 * g, V['y'] + V['h'] + 14 * g, f, shape)
        if wdw is None:
            continue
        r0, r1, c0, c1 = wdw
        x = X[r0:r1, c0:c1] - V['x']
        y = Y[r0:r1, c0:c1] - V['y']
        cx = 0.6
        wy = V['w'] * (1 - 0.07 * (1 - np.minimum((y / V['h']) ** 2, 1)))
        outer = 2 * V['d'] * np.sqrt(np.maximum(1 - (x / wy) ** 2, 0))
        inner = 2 * (V['d'] - cx) * np.sqrt(np.maximum(1 - (x / (wy - cx)) ** 2, 0))
        he = V['h'] * (1 - 0.12 * np.minimum(np.abs(x) / V['w'], 1) ** 4)
        vert = smoothstep(-he - 1.5, -he + 1.5, y) * (1 - smoothstep(he - 1.5, he + 1.5, y))
        endp = np.exp(-((np.abs(y) - he + 0.7) / 0.7) ** 2) * (np.abs(x) < wy)
        b = (MU_CORT * (outer - inner) + MU_SPONGY * inner) * vert + MU_CORT * 0.08 * outer * endp
        # pedicles seen end-on (cortical rings), spinous and transverse processes
        for sgn in (-1, 1):
            pe = ((x - sgn * (V['w'] - 4.5 * g)) / (3.2 * g)) ** 2 + ((y + 0.3 * V['h']) / (4.8 * g)) ** 2
            ring = np.exp(-((np.sqrt(pe) - 0.85) / 0.18) ** 2)
            b += MU_CORT * 3 * ring + MU_SPONGY * 4 * smoothstep(0.9, 0.6, pe)
            tp = ((x - sgn * (V['w'] + 9 * g)) / (11 * g)) ** 2 + ((y + 0.25 * V['h']) / (4.5 * g)) ** 2
            b += MU_SPONGY * 8 * np.sqrt(np.maximum(1 - tp, 0))
        sp = (x / (3.0 * g)) ** 2 + ((y - 0.55 * V['h']) / (6.5 * g)) ** 2
        b += MU_CORT * 2.5 * np.sqrt(np.maximum(1 - sp, 0))
        bone[r0:r1, c0:c1] += b
    for S in an['scapulae']:
        pts = np.array(S['pts'])
        wdw = pose.window(pts[:, 0].min() - 10, pts[:, 0].max() + 10, pts[:, 1].min() - 10,
                          pts[:, 1].max() + 10, f, shape)
        if wdw is None:
            continue
        r0, r1, c0, c1 = wdw
        x = X[r0:r1, c0:c1]
        y = Y[r0:r1, c0:c1]
        # signed distance (inside > 0) to the triangle
        cen = pts.mean(0)
        sd = None
        for i in range(3):
            p, q = pts[i], pts[(i + 1) % 3]
            nx, ny = q[1] - p[1], -(q[0] - p[0])
            nn = math.hypot(nx, ny)
            nx, ny = nx / nn, ny / nn
            if (cen[0] - p[0]) * nx + (cen[1] - p[1]) * ny < 0:
                nx, ny = -nx, -ny
            d = (x - p[0]) * nx + (y - p[1]) * ny
            sd = d if sd is None else np.minimum(sd, d)
        inside = smoothstep(-2.5 * g, 4.0 * g, sd)
        b = inside * (S['t'] + S['rim'] * np.exp(-np.maximum(sd, 0) / (6 * g)))
        bone[r0:r1, c0:c1] += (MU_CORT * 0.55 + MU_MARROW * 0.45) * b
    for Hh in an['humeri']:
        ra = Hh['ra']
        wdw = pose.window(Hh['x'] - ra - 2, Hh['x'] + ra + 2, Hh['y'] - ra - 2, Hh['y'] + 2000, f, shape)
        if wdw is None:
            continue
        r0, r1, c0, c1 = wdw
        x = X[r0:r1, c0:c1] - Hh['x']
        y = Y[r0:r1, c0:c1] - Hh['y']
        rr = Hh['r']
        outer = 2 * np.sqrt(np.maximum(rr * rr - x * x - y * y, 0))
        inner = 2 * np.sqrt(np.maximum((rr - 1.5) ** 2 - x * x - y * y, 0))
        rs = 0.45 * rr
        xs = x - 0.08 * np.maximum(y, 0) * np.sign(Hh['x'])
        shaft_o = 2 * np.sqrt(np.maximum(rs ** 2 - xs * xs, 0)) * smoothstep(0, 0.8 * rr, y)
        shaft_i = 2 * np.sqrt(np.maximum((rs - 3.0) ** 2 - xs * xs, 0)) * smoothstep(0, 0.8 * rr, y)
        b = MU_CORT * (outer - inner) + MU_MARROW * 0.6 * inner
        b = np.maximum(b, MU_CORT * (shaft_o - shaft_i) + MU_MARROW * 0.4 * shaft_i)
        bone[r0:r1, c0:c1] += b
        # arm soft tissue (capsule: hemispherical top)
        ya = np.minimum(y + 0.3 * ra, 0)
        mu[r0:r1, c0:c1] += MU_T * 2 * np.sqrt(np.maximum(ra * ra - x * x - ya * ya, 0)) * 0.9
    mu += bone * bd
    return mu.astype(F32), air, mask


def tone_curve(t, TP):
    """Monotone tone curve on [0,1] (gamma blended with a logistic)."""
    g, m, c, k = TP['gamma'], TP['mix'], TP['c'], TP['k']
    a = np.power(np.clip(t, 0, 1), g)
    s0 = 1 / (1 + math.exp(k * c))
    s1 = 1 / (1 + math.exp(-k * (1 - c)))
    sg = (1 / (1 + np.exp(-k * (t - c))) - s0) / (s1 - s0)
    return (1 - m) * a + m * sg


def blur_big(img, sigma):
    """Gaussian blur with large sigma via down-sampling."""
    if sigma < 8:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    d = max(2, int(sigma / 4))
    h, w = img.shape
    hs, ws = max(1, h // d), max(1, w // d)
    small = cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA)
    ss = math.sqrt(max(sigma ** 2 - d * d / 12.0, 1.0)) / d
    small = cv2.GaussianBlur(small, (0, 0), ss)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def sample_exam_params(rng, sp):
    E = {}
    E['phi'] = math.exp(rng.uniform(math.log(4e5), math.log(4e6)))   # photons/mm^2 detected
    E['k_scatter'] = U(rng, 0.15, 0.5)
    E['sig_scatter_mm'] = U(rng, 45, 90)
    E['bone_scale'] = U(rng, 0.85, 1.12)                                  # kVp-like bone contrast
    E['mtf_sigma_px'] = U(rng, 0.5, 1.3)
    E['glare'] = U(rng, 0.0, 0.08)
    E['noise_corr_px'] = U(rng, 0.4, 0.9)
    E['elec_sigma'] = U(rng, 0.5, 3.0)
    E['win_lo'] = U(rng, 0.08, 0.35)
    E['win_hi'] = U(rng, -0.04, 0.15)
    E['vmin'] = U(rng, 0, 250)
    E['vmax'] = U(rng, 3500, 4095)
    E['tone'] = {'gamma': U(rng, 0.75, 1.25), 'mix': U(rng, 0.0, 0.6), 'c': U(rng, 0.35, 0.6), 'k': U(rng, 4, 9)}
    E['usm'] = rng.random() < 0.75
    E['usm_amount'] = U(rng, 0.2, 1.2)
    E['usm_sigma_mm'] = U(rng, 1.5, 8.0)
    E['eq'] = rng.random() < 0.5
    E['eq_amount'] = U(rng, 0.15, 0.5)
    E['eq_sigma_mm'] = U(rng, 15, 40)
    return E


def render_exam(an, nods, E, pose, H, W, sp, rng):
    """Render one radiograph.  nods: list of dicts with x,y (mm), d (mm), lobes, dens.
    Returns (img uint16, mask uint8, per-nodule info list, noise_sigma)."""
    Hc = int(math.ceil(H / SCAT)) * SCAT
    Wc = int(math.ceil(W / SCAT)) * SCAT
    hs, ws = Hc // SUB, Wc // SUB
    mu_s, air_s, mask_s = render_smooth(an, pose, (hs, ws), SUB)
    mu = cv2.resize(mu_s, (Wc, Hc), interpolation=cv2.INTER_LINEAR)
    # bones with sharp cortical rims at full resolution
    bone = np.zeros((Hc, Wc), F32)
    ribm = np.zeros((Hc, Wc), bool)
    for tb in an['tubes']:
        render_tube(bone, tb, pose, ribm)
    mu += bone * F32(E['bone_scale'])
    # nodules (exact projected chords at full resolution)
    npatch = []
    for nd in nods:
        R = nd['d'] / 2
        cc, rr = pose.to_px(nd['x'], nd['y'])
        rp = R * pose.ppm + 3
        r0, r1 = max(int(rr - rp), 0), min(int(rr + rp) + 2, Hc)
        c0, c1 = max(int(cc - rp), 0), min(int(cc + rp) + 2, Wc)
        Xn, Yn = pose.grid(r0, r1, c0, c1, 1)
        ch = nodule_chord(nd['lobes'], R, nd['x'], nd['y'], Xn, Yn)
        add = (DMU_AIR * nd['dens'] * ch).astype(F32)
        mu[r0:r1, c0:c1] += add
        npatch.append((r0, r1, c0, c1, add, cc, rr))
    # primary, scatter, log
    A = mu / (1 + HARDEN * np.maximum(mu, 0))
    P = np.exp(-A)
    Ps = cv2.resize(P, (Wc // SCAT, Hc // SCAT), interpolation=cv2.INTER_AREA)
    src = np.sqrt(Ps) * (1 - Ps)
    sig = E['sig_scatter_mm'] * pose.ppm / SCAT
    S_s = E['k_scatter'] * cv2.GaussianBlur(src, (0, 0), sig, borderType=cv2.BORDER_REFLECT)
    S = cv2.resize(S_s.astype(F32), (Wc, Hc), interpolation=cv2.INTER_LINEAR)
    Ltot = -np.log(P + S)
    # window from the histogram of the lung fields / body
    mask = cv2.resize(mask_s.astype(F32), (Wc, Hc), interpolation=cv2.INTER_LINEAR) > 0.5
    sub = Ltot[::4, ::4]
    msub = mask[::4, ::4]
    lung_vals = sub[msub] if msub.sum() > 100 else sub.ravel()
    lo = float(np.percentile(lung_vals, 2))
    hi = float(np.percentile(sub, 99.7))
    rng_l = hi - lo
    L_lo = lo - E['win_lo'] * rng_l
    L_hi = hi + E['win_hi'] * rng_l
    TP = E['tone']
    vr = E['vmax'] - E['vmin']

    def to12(Lv):
        return E['vmin'] + vr * tone_curve((Lv - L_lo) / (L_hi - L_lo), TP)

    v = to12(Ltot).astype(F32)
    # detector MTF (+ glare)
    ms = E['mtf_sigma_px']
    v = cv2.GaussianBlur(v, (0, 0), ms)
    if E['glare'] > 0:
        v = (1 - E['glare']) * v + E['glare'] * blur_big(v, 10 * pose.ppm)
    # signal-dependent quantum noise
    N = E['phi'] * sp * sp * (P + S)
    sigL = 1.0 / np.sqrt(np.maximum(N, 1.0))
    tt = (Ltot - L_lo) / (L_hi - L_lo)
    eps = 1e-3
    dv = vr * (tone_curve(tt + eps, TP) - tone_curve(tt - eps, TP)) / (2 * eps) / (L_hi - L_lo)
    dv = np.where((tt > 0) & (tt < 1), dv, 0.0)
    sig_v = (sigL * dv).astype(F32)
    nc = E['noise_corr_px']
    noise = rng.standard_normal((Hc, Wc), dtype=F32) * sig_v
    noise = cv2.GaussianBlur(noise, (0, 0), nc)
    noise += rng.standard_normal((Hc, Wc), dtype=F32) * F32(E['elec_sigma'])
    v = v + noise
    # vendor processing (linear)
    s_usm = E['usm_sigma_mm'] * pose.ppm
    s_eq = E['eq_sigma_mm'] * pose.ppm

    def process(img, patch=False):
        out = img
        if E['usm']:
            out = out + E['usm_amount'] * (img - (cv2.GaussianBlur(img, (0, 0), s_usm) if patch else blur_big(img, s_usm)))
        if E['eq']:
            if patch:
                out = out - E['eq_amount'] * (img.sum() / (2 * math.pi * s_eq * s_eq))
            else:
                b = blur_big(img, s_eq)
                out = out - E['eq_amount'] * (b - float(b.mean()))
        return out

    v = process(v)
    img = np.clip(np.rint(v[:H, :W]), 0, 4095).astype(np.uint16)
    mask8 = (mask[:H, :W] * 255).astype(np.uint8)
    # noise sigma in the lung fields (after correlation and processing)
    lsig = sig_v[::4, ::4][msub] if msub.sum() > 100 else sig_v[::4, ::4].ravel()
    sig_med = float(np.median(lsig))
    tr = np.random.default_rng(12345)
    tp = tr.standard_normal((384, 384)).astype(F32) * F32(sig_med)
    tp = cv2.GaussianBlur(tp, (0, 0), nc) + tr.standard_normal((384, 384)).astype(F32) * F32(E['elec_sigma'])
    tpp = process(tp)
    noise_sigma = float(tpp[64:-64, 64:-64].std())
    # per-nodule contrast (noise-free, through the whole chain) and rib overlap
    info = []
    for nd, (r0, r1, c0, c1, add, cc, rr) in zip(nods, npatch):
        pad = int(3 * max(ms, 1) + (3 * s_usm if E['usm'] else 0) + 4)
        R0, R1 = max(r0 - pad, 0), min(r1 + pad, Hc)
        C0, C1 = max(c0 - pad, 0), min(c1 + pad, Wc)
        mw = mu[R0:R1, C0:C1]
        addp = np.zeros_like(mw)
        addp[r0 - R0:r1 - R0, c0 - C0:c1 - C0] = add
        mo = mw - addp
        Pw = np.exp(-mw / (1 + HARDEN * np.maximum(mw, 0)))
        Po = np.exp(-mo / (1 + HARDEN * np.maximum(mo, 0)))
        Sw = S[R0:R1, C0:C1]
        diff = (to12(-np.log(Pw + Sw)) - to12(-np.log(Po + Sw))).astype(F32)
        diff = cv2.GaussianBlur(diff, (0, 0), ms) * F32(1 - E['glare'])
        diff = process(diff, patch=True)
        R = nd['d'] / 2 * pose.ppm
        yy, xx = np.mgrid[R0:R1, C0:C1]
        disc = (xx - cc) ** 2 + (yy - rr) ** 2 <= (R + 1) ** 2
        contrast = float(diff[disc].max()) if disc.any() else 0.0
        ic, ir = int(round(cc)), int(round(rr))
        d2 = (xx - cc) ** 2 + (yy - rr) ** 2 <= R ** 2
        frac = float(ribm[R0:R1, C0:C1][d2].mean()) if d2.any() else 0.0
        on_rib = bool(ribm[min(max(ir, 0), Hc - 1), min(max(ic, 0), Wc - 1)] or frac >= 0.3)
        info.append({'x': float(cc), 'y': float(rr), 'contrast': contrast, 'on_rib': on_rib})
    return img, mask8, info, noise_sigma


# ---------------------------------------------------------------- scene setup
def sample_frame(rng):
    """Detector spacing and size, patient scale and placement."""
    ppm = int(rng.integers(5000, 7143))          # pixels per metre -> 0.14-0.20 mm
    sp = 1000.0 / ppm
    lo_h, hi_h = max(345.0, 1800 * sp), min(440.0, 2600 * sp)
    fov_h = U(rng, lo_h, max(lo_h, hi_h))
    H = int(np.clip(round(fov_h / sp), 1800, 2600))
    fov_h = H * sp
    lo_w, hi_w = max(330.0, 1800 * sp), min(fov_h * 1.02, 2600 * sp, 440.0)
    fov_w = U(rng, lo_w, max(lo_w, hi_w))
    W = int(np.clip(round(fov_w / sp), 1800, 2600))
    g = float(np.clip(fov_h / 430.0 * U(rng, 0.92, 1.07), 0.78, 1.15))
    return ppm, sp, H, W, g


def reference_pose(rng, an, sp, H, W):
    fov_h = H * sp
    yb = max(L['yd'] + L['D_lat'] for L in an['lungs'])
    ytop = an['y_apex']
    span = yb - ytop
    top = U(rng, 0.22, 0.5) * max(fov_h - span, 20)
    c0 = (W - 1) / 2 + U(rng, -12, 12) / sp
    r0 = (top - ytop) / sp
    return Pose.make(1.0 / sp, U(rng, -2.0, 2.0), c0, r0)


def nodule_specs(rng, n):
    out = []
    for i in range(n):
        d = sample_diameter(rng)
        lob = rng.random() < 0.3
        dens = float(np.clip(rng.beta(2.2, 1.6) * 1.0 + 0.12, 0.2, 1.1))
        out.append({'d0': d, 'dmax': d, 'lobulated': bool(lob),
                    'lobes': make_lobes(rng) if lob else [(0.0, 0.0, 0.0, 1.0)], 'dens': dens})
    return out


def count_nodules(rng):
    return int(rng.choice(5, p=[0.14, 0.30, 0.26, 0.18, 0.12]))


# ---------------------------------------------------------------- drivers
def gen_single(i, seed, outdir):
    rng = np.random.default_rng([seed, 1, i])
    ppm, sp, H, W, g = sample_frame(rng)
    an = make_anatomy(rng, g)
    pose = reference_pose(rng, an, sp, H, W)
    specs = nodule_specs(rng, count_nodules(rng))
    specs = place_nodules(rng, an, specs, [(pose, W, H)])
    E = sample_exam_params(rng, sp)
    nods = [{'x': s['x'], 'y': s['y'], 'd': s['d0'], 'lobes': s['lobes'], 'dens': s['dens']} for s in specs]
    img, mask, info, nsig = render_exam(an, nods, E, pose, H, W, sp, rng)
    name = 'c%04d' % (i + 1)
    write_png(os.path.join(outdir, 'images', name + '.png'), img, ppm)
    write_png(os.path.join(outdir, 'masks', name + '_mask.png'), mask, ppm)
    nl = []
    for k, (s, inf) in enumerate(zip(specs, info)):
        nl.append({'id': 'N%d' % (k + 1), 'x': round(inf['x'], 3), 'y': round(inf['y'], 3),
                   'diameter_mm': round(s['d0'], 3), 'on_rib': inf['on_rib'], 'lobulated': s['lobulated'],
                   'contrast': round(inf['contrast'], 2), 'cnr': round(inf['contrast'] / nsig, 3)})
    return {'path': 'images/%s.png' % name, 'patient_id': None, 'study_date': None,
            'width': W, 'height': H, 'pixel_spacing_mm': sp, 'lung_mask': 'masks/%s_mask.png' % name,
            'noise_sigma': round(nsig, 3), 'nodules': nl}


def gen_patient(p, seed, outdir):
    rng = np.random.default_rng([seed, 2, p])
    pid = 'PC-%04d' % (p + 1)
    ppm, sp, H, W, g = sample_frame(rng)
    an = make_anatomy(rng, g)
    pose_ref = reference_pose(rng, an, sp, H, W)
    n_ex = int(rng.integers(2, 4))
    d0 = datetime.date(2015, 1, 1) + datetime.timedelta(days=int(rng.integers(0, 3200)))
    days = [0]
    for _ in range(n_ex - 1):
        days.append(days[-1] + int(rng.integers(30, 241)))
    dates = [(d0 + datetime.timedelta(days=d)).isoformat() for d in days]
    # repositioning relative to the reference exam (about the image centre)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    poses, deltas = [pose_ref], [(0.0, 0.0, 0.0, 1.0)]
    for e in range(1, n_ex):
        tx, ty = U(rng, -12, 12), U(rng, -12, 12)
        th, sc = U(rng, -3, 3), U(rng, 0.97, 1.03)
        t = math.radians(th)
        Rm = sc * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        D = np.zeros((2, 3))
        D[:, :2] = Rm
        D[:, 2] = np.array([cx, cy]) - Rm @ np.array([cx, cy]) + np.array([tx, ty]) / sp
        M = np.vstack([D, [0, 0, 1]]) @ np.vstack([pose_ref.M, [0, 0, 1]])
        poses.append(Pose(M[:2]))
        deltas.append((tx, ty, th, sc))
    # nodules with growth
    nn = count_nodules(rng)
    specs = []
    for k in range(nn):
        st = rng.choice(['growing', 'stable', 'shrinking', 'new'], p=[0.45, 0.35, 0.08, 0.12])
        for _ in range(100):
            dd = sample_diameter(rng)
            vdt = None
            if st in ('growing', 'new'):
                vdt = float(math.exp(rng.uniform(math.log(60), math.log(900))))
            elif st == 'shrinking':
                vdt = -float(math.exp(rng.uniform(math.log(60), math.log(600))))
            first = 0 if st != 'new' else int(rng.integers(1, n_ex))
            ds = [dd * (2 ** ((days[e] - days[first]) / (3 * vdt)) if vdt else 1.0) for e in range(n_ex)]
            ds = [ds[e] if e >= first else None for e in range(n_ex)]
            dv = [x for x in ds if x is not None]
            if min(dv) >= 5.0 and max(dv) <= 30.0:
                break
        else:
            st, vdt, first = 'stable', None, 0
            dd = float(np.clip(dd, 5, 30))
            ds = [dd] * n_ex
        lob = rng.random() < 0.3
        specs.append({'id': 'N%d' % (k + 1), 'status': str(st), 'vdt': vdt, 'first': first, 'ds': ds,
                      'd0': dd, 'dmax': max(x for x in ds if x is not None), 'lobulated': bool(lob),
                      'lobes': make_lobes(rng) if lob else [(0.0, 0.0, 0.0, 1.0)],
                      'dens': float(np.clip(rng.beta(2.2, 1.6) + 0.12, 0.2, 1.1))})
    specs = place_nodules(rng, an, specs, [(ps, W, H) for ps in poses])
    for k, s in enumerate(specs):
        s['id'] = 'N%d' % (k + 1)
    dev = sample_exam_params(rng, sp)
    keep_dev = [bool(rng.random() < 0.7) for _ in range(n_ex)]
    images = []
    ref_path = '%s/%s/pa.png' % (pid, dates[0])
    for e in range(n_ex):
        erng = np.random.default_rng([seed, 3, p, e])
        E = sample_exam_params(erng, sp)
        if keep_dev[e]:   # same detector / processing as the patient's default
            for key in ('mtf_sigma_px', 'noise_corr_px', 'tone', 'usm', 'usm_amount', 'usm_sigma_mm',
                        'eq', 'eq_amount', 'eq_sigma_mm', 'glare'):
                E[key] = dev[key]
        nods = [{'x': s['x'], 'y': s['y'], 'd': s['ds'][e], 'lobes': s['lobes'], 'dens': s['dens'], 'spec': s}
                for s in specs if s['ds'][e] is not None]
        img, mask, info, nsig = render_exam(an, nods, E, poses[e], H, W, sp, erng)
        rel = '%s/%s/pa.png' % (pid, dates[e])
        mrel = '.masks/%s/%s/pa_mask.png' % (pid, dates[e])
        os.makedirs(os.path.dirname(os.path.join(outdir, rel)), exist_ok=True)
        os.makedirs(os.path.dirname(os.path.join(outdir, mrel)), exist_ok=True)
        write_png(os.path.join(outdir, rel), img, ppm)
        write_png(os.path.join(outdir, mrel), mask, ppm)
        # pixel affine: this exam -> reference exam
        Me = np.vstack([poses[e].M, [0, 0, 1]])
        Mr = np.vstack([poses[0].M, [0, 0, 1]])
        Aff = (Mr @ np.linalg.inv(Me))[:2]
        tx, ty, th, sc = deltas[e]
        nl = []
        for nd, inf in zip(nods, info):
            s = nd['spec']
            nl.append({'id': s['id'], 'x': round(inf['x'], 3), 'y': round(inf['y'], 3),
                       'diameter_mm': round(nd['d'], 3), 'on_rib': inf['on_rib'], 'lobulated': s['lobulated'],
                       'contrast': round(inf['contrast'], 2), 'cnr': round(inf['contrast'] / nsig, 3),
                       'status': s['status'], 'vdt_days': (round(s['vdt'], 1) if s['vdt'] else None)})
        images.append({'path': rel, 'patient_id': pid, 'study_date': dates[e], 'width': W, 'height': H,
                       'pixel_spacing_mm': sp, 'lung_mask': mrel, 'noise_sigma': round(nsig, 3),
                       'nodules': nl,
                       'transform_to_reference': {'tx_mm': round(tx, 4), 'ty_mm': round(ty, 4),
                                                  'rotation_deg': round(th, 5), 'scale': round(sc, 6),
                                                  'reference': ref_path,
                                                  'pixel_affine': [[float(a) for a in row] for row in Aff]}})
    pat = {'patient_id': pid, 'exams': dates,
           'nodules': [{'id': s['id'], 'status': s['status'], 'vdt_days': (round(s['vdt'], 1) if s['vdt'] else None),
                        'd0_mm': round(s['ds'][s['first']], 3), 'd0_date': dates[s['first']],
                        'lobulated': s['lobulated']} for s in specs]}
    return images, pat


def main(argv=None):
    ap = argparse.ArgumentParser(description='phantom-c chest radiograph phantom generator')
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--count', type=int, help='number of single images')
    g.add_argument('--series', type=int, help='number of patients with 2-3 exams each')
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    truth = {'generator': 'phantom-c', 'version': 1, 'seed': a.seed, 'images': []}
    if a.count is not None:
        os.makedirs(os.path.join(a.out, 'images'), exist_ok=True)
        os.makedirs(os.path.join(a.out, 'masks'), exist_ok=True)
        for i in range(a.count):
            truth['images'].append(gen_single(i, a.seed, a.out))
            if not a.quiet:
                print('[%d/%d] %.1fs' % (i + 1, a.count, time.time() - t0), file=sys.stderr)
    else:
        truth['patients'] = []
        for p in range(a.series):
            ims, pat = gen_patient(p, a.seed, a.out)
            truth['images'].extend(ims)
            truth['patients'].append(pat)
            if not a.quiet:
                print('[%d/%d] %.1fs' % (p + 1, a.series, time.time() - t0), file=sys.stderr)
    with open(os.path.join(a.out, 'truth.json'), 'w') as f:
        json.dump(truth, f, indent=1)
    if not a.quiet:
        print('done: %d images in %.1fs' % (len(truth['images']), time.time() - t0), file=sys.stderr)


if __name__ == '__main__':
    main()
