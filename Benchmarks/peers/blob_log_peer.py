#!/usr/bin/env python3
"""scikit-image blob_log nodule-candidate peer, writing NoduleKit's detection contract (JSON Lines).

For every image (from a phantom truth.json, or given as paths) this runs
`skimage.feature.blob_log` in a configuration chosen to be fair to it:

  1. read the stored samples (16-bit PNG as stored; MONOCHROME2, nodules bright) and the pixel
     spacing from the PNG pHYs chunk (unit metre; spacing = 1000 / pixels-per-metre, mean of x/y);
  2. downsample with area averaging to ~0.6 mm/px (--target-mm), as published CXR systems do;
     images already coarser than that are used as they are; without a spacing, 0.175 mm/px is
     assumed for this step only (diameter_mm is then null);
  3. normalise intensity: clip to the 0.5th..99.5th percentile and scale to 0..1;
  4. blob_log with sigma from r/sqrt(2) of a 5 mm to a 30 mm diameter (in downsampled px),
     num_sigma=10 on a log scale, overlap=0.5, exclude_border=False, and a low threshold
     (default 0.01) so that enough candidates survive for a FROC sweep;
  5. score = the blob's own scale-normalised LoG response, -sigma^2 * LoG(image)(r, c), exactly
     the value blob_log thresholded (recomputed on a local patch, which equals the full-image
     filter because the patch is at least the kernel radius wide, or is clipped at the same image
     border); keep the --top (default 30) highest scores per image.

Output, one object per image (highest score first):
  {"path", "patient_id": null, "study_date": null, "width", "height", "pixel_spacing_mm",
   "spacing_source": "tag:PNG pHYs" | "unknown", "nodules": [{"x", "y", "diameter_px",
   "diameter_mm", "score", "features": {"sigma_px", "downsample"}}], "error"}
x is the column and y the row in pixels of the INPUT image (pixel centres at integer
coordinates); diameter_px = 2*sqrt(2)*sigma mapped back to input pixels. "path" is the truth's
relative path joined to the truth file's folder exactly as --truth was spelled (run from the
repository root with --truth Data/phantom/eval/truth.json to get Data/phantom/eval/images/...).

Timing: wall time per image for read + downsample + normalise + blob_log + scoring
(time.perf_counter); the median (and blob_log alone) are printed to stderr.

With --froc (truth input only), also prints sensitivity at 0.5/1/2/4/8 mean false positives per
image: a candidate hits a nodule when its centre is within max(radius, 4 mm) of the nodule
centre; one true positive per nodule; candidates matching no nodule are false positives.

Usage (from the repository root):
  python3 Benchmarks/peers/blob_log_peer.py --truth Data/phantom/eval/truth.json --out /tmp/blob_log.jsonl --froc
  python3 Benchmarks/peers/blob_log_peer.py IMAGE.png ... [--out FILE]
Options: --truth FILE, --out FILE (default stdout), --max-images N, --target-mm 0.6,
         --threshold 0.01, --top 30, --use-truth-mask (oracle: drop candidates outside the
         truth lung mask; off by default).
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

import cv2
import numpy as np
import skimage
from scipy import ndimage as ndi
from skimage.feature import blob_log

ASSUMED_SPACING = 0.175


def png_phys_spacing(path):
    """Mean pixel spacing (mm) from a PNG pHYs chunk with unit metre, else None."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    i = 8
    while i + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"pHYs" and n == 9:
            ppx, ppy, unit = struct.unpack(">IIB", data[i + 8:i + 17])
            if unit == 1 and ppx > 0 and ppy > 0:
                return (1000.0 / ppx + 1000.0 / ppy) / 2
            return None
        if kind in (b"IDAT", b"IEND"):
            return None
        i += 12 + n
    return None


def detect(path, args):
    t0 = time.perf_counter()
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("cannot decode %s" % path)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    H, W = img.shape
    spacing = png_phys_spacing(path)
    sp = spacing if spacing else ASSUMED_SPACING
    f = min(1.0, sp / args.target_mm)
    w, h = max(1, int(round(W * f))), max(1, int(round(H * f)))
    small = img.astype(np.float32)
    if (w, h) != (W, H):
        small = cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA)
    sx, sy = W / w, H / h                      # input px per downsampled px
    mm_small = sp * (sx + sy) / 2              # mm per downsampled px
    lo, hi = np.percentile(small, [0.5, 99.5])
    norm = np.clip((small - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float64)
    smin = 5.0 / 2 / math.sqrt(2) / mm_small
    smax = 30.0 / 2 / math.sqrt(2) / mm_small
    t1 = time.perf_counter()
    blobs = blob_log(norm, min_sigma=smin, max_sigma=smax, num_sigma=10, threshold=args.threshold,
                     overlap=0.5, log_scale=True, exclude_border=False)
    t2 = time.perf_counter()
    cands = []
    for r, c, s in blobs:
        R = int(4.0 * s + 0.5) + 2
        r0, r1 = max(0, int(r) - R), min(h, int(r) + R + 1)
        c0, c1 = max(0, int(c) - R), min(w, int(c) + R + 1)
        patch = norm[r0:r1, c0:c1]
        resp = -s * s * ndi.gaussian_laplace(patch, s)[int(r) - r0, int(c) - c0]
        cands.append((float(resp), float(r), float(c), float(s)))
    cands.sort(key=lambda t: -t[0])
    if args.mask is not None:
        m = args.mask
        keep = []
        for cand in cands:
            xi = int(round((cand[2] + 0.5) * sx - 0.5))
            yi = int(round((cand[1] + 0.5) * sy - 0.5))
            if 0 <= yi < m.shape[0] and 0 <= xi < m.shape[1] and m[yi, xi]:
                keep.append(cand)
        cands = keep
    nodules = []
    for resp, r, c, s in cands[:args.top]:
        dpx = 2 * math.sqrt(2) * s * (sx + sy) / 2
        nodules.append({"x": round((c + 0.5) * sx - 0.5, 3), "y": round((r + 0.5) * sy - 0.5, 3),
                        "diameter_px": round(dpx, 3),
                        "diameter_mm": round(dpx * spacing, 3) if spacing else None,
                        "score": round(resp, 6), "features": {"sigma_px": round(s * (sx + sy) / 2, 3), "downsample": round(f, 5)}})
    t3 = time.perf_counter()
    rec = {"path": None, "patient_id": None, "study_date": None, "width": int(W), "height": int(H),
           "pixel_spacing_mm": round(spacing, 6) if spacing else None,
           "spacing_source": "tag:PNG pHYs" if spacing else "unknown", "nodules": nodules, "error": None}
    return rec, t3 - t0, t2 - t1


def froc(records, truth_images, fps=(0.5, 1, 2, 4, 8)):
    """Sensitivity at mean FP/image; hit = within max(radius, 4 mm) of the centre."""
    entries = []   # (score, is_tp, nodule_key)
    n_nod = 0
    for rec, ti in zip(records, truth_images):
        sp = ti["pixel_spacing_mm"]
        nods = ti["nodules"]
        n_nod += len(nods)
        for cand in rec["nodules"]:
            best = None
            for k, n in enumerate(nods):
                d = math.hypot(cand["x"] - n["x"], cand["y"] - n["y"]) * sp
                if d <= max(n["diameter_mm"] / 2, 4.0) and (best is None or d < best[0]):
                    best = (d, k)
            entries.append((cand["score"], best is not None, (ti["path"], best[1]) if best else None))
    entries.sort(key=lambda e: -e[0])
    n_img = len(records)
    out = {}
    for target in fps:
        seen, fp = set(), 0
        for score, tp, key in entries:
            if tp:
                seen.add(key)
            else:
                fp += 1
                if fp / n_img > target:
                    break
        out[target] = len(seen) / max(n_nod, 1)
    return out, n_nod


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="image paths (instead of --truth)")
    ap.add_argument("--truth", help="phantom truth.json; images are its 'path' entries")
    ap.add_argument("--out", help="JSON Lines output (default stdout)")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--target-mm", type=float, default=0.6)
    ap.add_argument("--threshold", type=float, default=0.01)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--use-truth-mask", action="store_true")
    ap.add_argument("--froc", action="store_true")
    args = ap.parse_args(argv)
    truth_images = None
    if args.truth:
        with open(args.truth) as f:
            truth = json.load(f)
        base = os.path.dirname(args.truth)
        truth_images = truth["images"][:args.max_images] if args.max_images else truth["images"]
        items = [(os.path.join(base, ti["path"]), ti) for ti in truth_images]
    else:
        if not args.paths:
            ap.error("give --truth or image paths")
        items = [(p, None) for p in (args.paths[:args.max_images] if args.max_images else args.paths)]
    out = open(args.out, "w") if args.out else sys.stdout
    times, blob_times, records = [], [], []
    for path, ti in items:
        args.mask = None
        if args.use_truth_mask and ti is not None and ti.get("lung_mask"):
            args.mask = cv2.imread(os.path.join(os.path.dirname(args.truth), ti["lung_mask"]), cv2.IMREAD_GRAYSCALE) > 0
        try:
            rec, t, tb = detect(path, args)
            times.append(t)
            blob_times.append(tb)
        except Exception as e:  # one bad file must not stop the batch
            rec = {"path": None, "patient_id": None, "study_date": None, "width": 0, "height": 0,
                   "pixel_spacing_mm": None, "spacing_source": "unknown", "nodules": [], "error": "%s: %s" % (path, e)}
        rec["path"] = path
        if ti is not None:
            rec["patient_id"] = ti.get("patient_id")
            rec["study_date"] = ti.get("study_date")
        records.append(rec)
        out.write(json.dumps(rec) + "\n")
        out.flush()
        print("%s %d candidates %.2f s" % (path, len(rec["nodules"]), times[-1] if times else 0), file=sys.stderr)
    if args.out:
        out.close()
    if times:
        print("blob_log peer (scikit-image %s): %d images, median %.3f s/image (blob_log alone %.3f s)"
              % (skimage.__version__, len(times), statistics.median(times), statistics.median(blob_times)), file=sys.stderr)
    if args.froc and truth_images is not None:
        res, n_nod = froc(records, truth_images)
        print("FROC (%d nodules, %d images; hit within max(radius, 4 mm)): " % (n_nod, len(records))
              + ", ".join("%g FP/img: %.3f" % (k, v) for k, v in res.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
