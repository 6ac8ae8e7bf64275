#!/usr/bin/env python3
"""Decode-timing peers (Pillow, OpenCV) for the NoduleKit decode benchmark.

For each input file (a 16-bit grayscale PNG and an 8-bit grayscale JPEG) it times:
  pillow-file    np.asarray(Image.open(path))              (np.asarray forces the full load)
  pillow-bytes   np.asarray(Image.open(io.BytesIO(data)))  (data read once, outside the timing)
  opencv-file    cv2.imread(path, cv2.IMREAD_UNCHANGED)
  opencv-bytes   cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
The *-file variants open and read the file every run (it stays in the page cache); the
*-bytes variants decode from memory, so file-open/read overhead = file - bytes.
Note np.asarray(Image) goes through Image.tobytes(), i.e. it includes one extra copy.

Each variant gets one warm-up call, then --repeats timed calls (time.perf_counter); the
median and all runs are reported, in seconds. Checks (reported, not fatal): output dtype
and shape, for the 16-bit PNG that the array is uint16 and holds values > 255 (full
precision), and whether Pillow and OpenCV decode to identical samples.

Usage (from the repository root):
  python3 Benchmarks/peers/make_decode_inputs.py
  python3 Benchmarks/peers/decode_peers.py \\
      --png Benchmarks/inputs/chest-2048-u16.png --jpeg Benchmarks/inputs/chest-2048-q90.jpg \\
      [--repeats 15]
Prints one JSON object on stdout. OpenCV uses its default thread count (decoding of a single
PNG/JPEG is single-threaded in both libraries); results depend on machine load.
"""
import argparse
import io
import json
import os
import platform
import statistics
import sys
import time

import cv2
import numpy as np
import PIL
from PIL import Image, features


def pillow_file(path, _data):
    return np.asarray(Image.open(path))


def pillow_bytes(_path, data):
    return np.asarray(Image.open(io.BytesIO(data)))


def opencv_file(path, _data):
    return cv2.imread(path, cv2.IMREAD_UNCHANGED)


def opencv_bytes(_path, data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


VARIANTS = {
    "pillow-file": pillow_file,
    "pillow-bytes": pillow_bytes,
    "opencv-file": opencv_file,
    "opencv-bytes": opencv_bytes,
}


def time_variant(fn, path, data, repeats):
    out = fn(path, data)  # warm-up
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(path, data)
        runs.append(time.perf_counter() - t0)
    return out, runs


def describe(arr):
    if arr is None:
        return {"ok": False, "error": "decoder returned None"}
    return {"ok": True, "dtype": str(arr.dtype), "shape": list(arr.shape),
            "min": int(arr.min()), "max": int(arr.max())}


def bench_file(kind, path, repeats):
    with open(path, "rb") as f:
        data = f.read()
    result = {"path": os.path.abspath(path), "bytes": len(data), "variants": {}, "checks": {}}
    with Image.open(path) as im:
        result["pillow_mode"] = im.mode
    outputs = {}
    for name, fn in VARIANTS.items():
        print(f"[decode] {kind}: {name} x{repeats}", file=sys.stderr)
        out, runs = time_variant(fn, path, data, repeats)
        outputs[name] = out
        result["variants"][name] = {"median_s": statistics.median(runs), "runs_s": runs, "output": describe(out)}

    checks = result["checks"]
    ref = outputs["opencv-file"]
    for name, out in outputs.items():
        if name == "opencv-file" or out is None or ref is None:
            continue
        same = out.dtype == ref.dtype and out.shape == ref.shape and np.array_equal(out, ref)
        checks[f"{name}==opencv-file"] = bool(same)
        if not same and out.shape == ref.shape:
            checks[f"{name}-vs-opencv-file-max-abs-diff"] = int(
                np.abs(out.astype(np.int64) - ref.astype(np.int64)).max())
    if kind == "png":
        for lib in ("pillow-file", "opencv-file"):
            out = outputs[lib]
            full = out is not None and out.dtype == np.uint16 and int(out.max()) > 255
            checks[f"{lib}-keeps-16-bit"] = bool(full)
            if not full:
                checks[f"{lib}-precision-warning"] = (
                    f"expected uint16 with values > 255, got {None if out is None else out.dtype} "
                    f"max={None if out is None else int(out.max())}")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--png", required=True, help="16-bit grayscale PNG")
    ap.add_argument("--jpeg", required=True, help="8-bit grayscale JPEG")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()

    report = {
        "benchmark": "decode",
        "repeats": args.repeats,
        "warmup": 1,
        "statistic": "median of timed runs, seconds (time.perf_counter)",
        "env": {
            "python": platform.python_version(), "numpy": np.__version__,
            "pillow": PIL.__version__, "pillow_libjpeg": features.version("jpg"),
            "pillow_zlib": features.version("zlib"),
            "opencv": cv2.__version__, "opencv_threads": cv2.getNumThreads(),
            "cpu_count": os.cpu_count(), "loadavg_at_start": list(os.getloadavg()),
        },
        "files": {"png": bench_file("png", args.png, args.repeats),
                  "jpeg": bench_file("jpeg", args.jpeg, args.repeats)},
    }
    report["env"]["loadavg_at_end"] = list(os.getloadavg())
    report["summary_median_s"] = {
        kind: {name: v["median_s"] for name, v in f["variants"].items()}
        for kind, f in report["files"].items()
    }
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
