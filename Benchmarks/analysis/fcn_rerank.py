#!/usr/bin/env python3
"""Offline: how would a nodule map (an fcn_probe.py model) rank a pipeline's reported candidates?
(measuring tool, never part of the product)

Each record's candidates (from `nodules detect` with a map-free pipeline) get the score
sqrt(map peak x score), the peak taken as NoduleKit's `heatmap` does (largest map value within
half the reported radius, at least 2 map px, of the centre), and `nodules evaluate` scores the
result beside the records as they were. The map is computed by PyTorch on fcn_probe.py's cache,
so it differs slightly from the product's (a different resampling); `nodules detect --pipeline`
with the embedded network gives the product's own figures.

  fcn_rerank.py --model M.pt [--model M2.pt ...] [--flip] [--gammas G,...] --work W --records DIR --sets NAME=SET_DIR,... --out DIR
                [--nodules BIN]

With several --model, the map is the mean of their probabilities (an ensemble); with --flip, each
network's map is also computed on the left-right mirrored image, mirrored back, and averaged in.

DIR/NAME.jsonl are the records of SET_DIR's images; W/NAME.npz its fcn_probe.py cache.
Prints per set and in total: nodules >= 10 mm and 6-10 mm hit at 2 FP/image, and hits at
0.5/1/2/4 FP/image, re-ranked and as recorded.
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fcn_probe as fp  # noqa: E402


def evaluate(nodules, set_dir, path):
    out = subprocess.run([nodules, "evaluate", "--truth", os.path.join(set_dir, "truth.json"), "--results", path,
                          "--json"], capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    bands = {b["name"]: b for b in d["bands"]}
    return bands[">=10 mm"]["hits"], bands["6-10 mm"]["hits"], [round(f["sensitivity"] * d["nodules"]) for f in d["froc"]]


def added_maxima(p, reported, f, map_mm, args):
    """The map's local maxima >= args.add_maxima away from every reported candidate, as records."""
    dil = cv2.dilate(p, np.ones((5, 5), np.uint8))
    ys, xs = np.nonzero((p >= dil) & (p >= args.add_maxima))
    order = np.argsort(-p[ys, xs])
    out = []
    for i in order:
        y, x = int(ys[i]), int(xs[i])
        ix, iy = (x + 0.5) / f - 0.5, (y + 0.5) / f - 0.5  # input px
        near = False
        for c in reported + out:
            d_mm = math.hypot(c["x"] - ix, c["y"] - iy) * map_mm * f
            if d_mm < max(c["diameter_mm"] / 2, args.add_distance_mm):
                near = True
                break
        if near:
            continue
        region = (p > p[y, x] / 2).astype(np.uint8)
        _, labels = cv2.connectedComponents(region, connectivity=4)
        area = int((labels == labels[y, x]).sum())
        dmm = min(2 * math.sqrt(area / math.pi) * map_mm, 30.0)
        peak = float(p[y, x])
        out.append({"x": ix, "y": iy, "diameter_mm": dmm, "diameter_px": dmm / (map_mm * f),
                    "score": peak ** args.map_weight * args.added_score ** (1 - args.map_weight),
                    "features": {"heatmap": peak, "added": 1}})
        if len(out) >= args.add_limit:
            break
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, action="append")
    ap.add_argument("--flip", action="store_true", help="average in the map of the mirrored image")
    ap.add_argument("--shift", type=int, default=0, help="also average in the map of the image shifted by this many px (down and right), shifted back")
    ap.add_argument("--scales", default="", help="also average in the maps of the image resized by these factors (comma-separated), resized back")
    ap.add_argument("--gammas", default="", help="also average in the maps of the (0-1) image raised to these powers "
                    "(comma-separated; the training's gamma augmentation at test time)")
    ap.add_argument("--map-weight", type=float, default=0.5,
                    help="score = peak^W x score^(1-W); 0.5 is the product's geometric mean")
    ap.add_argument("--add-maxima", type=float, default=None, metavar="T",
                    help="also add the map's own local maxima (5x5 map px) >= T lying farther than max(radius, "
                         "--add-distance-mm) from every reported candidate, scored peak^W x --added-score^(1-W), sized by "
                         "the map blob (4-connected region above half the peak)")
    ap.add_argument("--added-score", type=float, default=0.3, help="feature score given to an added map maximum")
    ap.add_argument("--add-distance-mm", type=float, default=8.0)
    ap.add_argument("--report-limit", type=int, default=0, help="keep only this many best-scored per image (0: all)")
    ap.add_argument("--add-limit", type=int, default=5, help="added maxima per image, best first")
    ap.add_argument("--maps-cache", help="folder keeping each set's maps (NAME.npz): computed once, then read back; "
                         "keyed by the networks' SHA-256 and the views (--flip, --shift, --scales), so a cache "
                         "made with others is refused")
    ap.add_argument("--work", required=True)
    ap.add_argument("--records", required=True)
    ap.add_argument("--sets", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--nodules", default=os.path.join(os.path.dirname(__file__), "../../.build/release/nodules"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    nets = [fp.load_network(m)[0] for m in args.model]
    # What a cached map depends on: the networks' bytes and the test-time views averaged. A cache made
    # with anything else is refused, never read as if it were this one's.
    maps_key = json.dumps({"models": [hashlib.sha256(open(m, "rb").read()).hexdigest() for m in args.model],
                           "flip": args.flip, "shift": args.shift, "scales": args.scales,
                           **({"gammas": args.gammas} if args.gammas else {})})
    os.makedirs(args.out, exist_ok=True)
    totals = {"re-ranked": [0, 0, [0, 0, 0, 0]], "as recorded": [0, 0, [0, 0, 0, 0]]}
    for item in args.sets.split(","):
        name, set_dir = item.split("=", 1)
        images, _, meta = fp.load(args.work, name)
        records = {os.path.basename(json.loads(line)["path"]): json.loads(line)
                   for line in open(os.path.join(args.records, f"{name}.jsonl"))}
        path = os.path.join(args.out, f"{name}.jsonl")
        cached = os.path.join(args.maps_cache, f"{name}.npz") if args.maps_cache else None
        saved = dict(np.load(cached)) if cached and os.path.exists(cached) else {}
        if saved and str(saved.pop("key", "")) != maps_key:
            sys.exit(f"{cached} holds maps of other (or unrecorded) networks or views than these: use another --maps-cache")
        computed = {"key": np.array(maps_key)}
        with open(path, "w") as out:
            for index, (x, m) in enumerate(zip(images, meta)):
                maps = []

                def run(net, image):
                    with torch.no_grad():
                        return torch.sigmoid(net(torch.from_numpy(np.ascontiguousarray(image)[None, None]))).numpy()[0, 0]

                def views(image):
                    """(input, undo) pairs: the image as it is, and each augmentation asked for."""
                    out = [(image, lambda q: q)]
                    if args.shift:
                        k = args.shift
                        padded = np.pad(image, ((k, 0), (k, 0)), mode="edge")
                        out.append((padded, lambda q, k=k: q[k:, k:]))
                    for f in [float(v) for v in args.scales.split(",") if v]:
                        h, w = image.shape
                        small = cv2.resize(image, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
                        out.append((small, lambda q, w=w, h=h: cv2.resize(q, (w, h), interpolation=cv2.INTER_LINEAR)))
                    for g in [float(v) for v in args.gammas.split(",") if v]:
                        out.append((np.power(image, g, dtype=np.float32), lambda q: q))
                    return out

                if f"m{index}" in saved:
                    p = saved[f"m{index}"]
                else:
                    for net in nets:
                        for image, undo in views(x):
                            maps.append(undo(run(net, image)))
                            if args.flip:
                                maps.append(undo(run(net, image[:, ::-1])[:, ::-1]))
                    p = np.mean(maps, axis=0).astype(np.float32)
                computed[f"m{index}"] = p
                record = records[os.path.basename(m["path"])]
                f = m["scale"]
                map_mm = m["spacing"] / f
                for c in record["nodules"]:
                    cx, cy = (c["x"] + 0.5) * f - 0.5, (c["y"] + 0.5) * f - 0.5
                    r = max(2, c["diameter_mm"] / 2 / map_mm * 0.5)
                    y0, y1 = int(max(0, cy - r)), int(min(p.shape[0], cy + r + 1))
                    x0, x1 = int(max(0, cx - r)), int(min(p.shape[1], cx + r + 1))
                    peak = float(p[y0:y1, x0:x1].max()) if y1 > y0 and x1 > x0 else 0.0
                    c["score"] = max(peak, 1e-9) ** args.map_weight * c["score"] ** (1 - args.map_weight)
                if args.add_maxima is not None:
                    record["nodules"] += added_maxima(p, record["nodules"], f, map_mm, args)
                if args.report_limit:
                    record["nodules"] = sorted(record["nodules"], key=lambda c: -c["score"])[:args.report_limit]
                out.write(json.dumps(record) + "\n")
        if cached and not saved:
            os.makedirs(args.maps_cache, exist_ok=True)
            np.savez_compressed(cached, **computed)
        line = [name]
        for label, results in (("re-ranked", path), ("as recorded", os.path.join(args.records, f"{name}.jsonl"))):
            big, small, froc = evaluate(args.nodules, set_dir, results)
            t = totals[label]
            t[0] += big
            t[1] += small
            t[2] = [a + b for a, b in zip(t[2], froc)]
            line.append(f"{label}: >=10 mm {big}, 6-10 mm {small}, FROC {froc}")
        print(" | ".join(line), flush=True)
    for label, (big, small, froc) in totals.items():
        print(f"total {label}: >=10 mm {big}, 6-10 mm {small}, FROC {froc}")


if __name__ == "__main__":
    main()
