#!/usr/bin/env python3
"""The blob_log peer over a folder with a multiprocessing pool (batch benchmark).

Runs blob_log_peer.detect (read + downsample to 0.6 mm + normalise + skimage.feature.blob_log +
scoring, the configuration documented in blob_log_peer.py) on every *.png in FOLDER (sorted;
the first --limit of them if given) with a Pool of --processes workers, each single-threaded
(OMP/OpenBLAS/MKL threads = 1, so the pool uses exactly that many cores). Prints one JSON object:
{"images", "processes", "wall_s", "images_per_s", "failed"}. Wall time starts after the pool is
up and ends when the last image is done; no results are written (the JSON Lines contract is the
peer script's own job).

Usage: blob_log_pool.py FOLDER [--processes 2] [--limit N]
"""
import os
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
import argparse
import glob
import json
import multiprocessing
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blob_log_peer  # noqa: E402

ARGS = argparse.Namespace(target_mm=0.6, threshold=0.01, top=30, mask=None)


def work(path):
    try:
        rec, _, _ = blob_log_peer.detect(path, ARGS)
        return len(rec["nodules"]), None
    except Exception as e:  # count, do not stop
        return 0, "%s: %s" % (path, e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(args.folder, "*.png")))[:args.limit]
    with multiprocessing.Pool(args.processes) as pool:
        pool.map(abs, range(args.processes))  # workers started and imported before timing
        t0 = time.perf_counter()
        results = pool.map(work, paths, chunksize=1)
        wall = time.perf_counter() - t0
    failed = [e for _, e in results if e]
    for e in failed:
        print(e, file=sys.stderr)
    print(json.dumps({"images": len(paths), "processes": args.processes, "wall_s": round(wall, 3),
                      "images_per_s": round(len(paths) / wall, 4), "failed": len(failed)}))


if __name__ == "__main__":
    main()
