#!/usr/bin/env python3
"""pydicom (+ pylibjpeg, pylibjpeg-openjpeg, pylibjpeg-libjpeg) decode time per file:
dcmread + pixel_array + apply_modality_lut, the same work NoduleKit's reader does.
Usage: python dicom_decode_peers.py --repeats N FILE...   -> JSON on stdout (seconds)."""
import argparse
import json
import statistics
import time

import pydicom
from pydicom.pixels import apply_modality_lut

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=9)
ap.add_argument("files", nargs="+")
args = ap.parse_args()
out = {"pydicom": pydicom.__version__, "files": {}}
for path in args.files:
    def once():
        ds = pydicom.dcmread(path)
        return apply_modality_lut(ds.pixel_array, ds)
    once()
    runs = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        once()
        runs.append(time.perf_counter() - t)
    out["files"][path] = {"median_s": statistics.median(runs), "runs_s": runs}
print(json.dumps(out))
