#!/usr/bin/env python3
"""Would a learned patch classifier rank candidates better than the pipeline's score?

An offline probe, never part of the product (numpy, OpenCV, PyTorch CPU). It takes detection
records that report many candidates per image (e.g. a copy of the pipeline with
candidates.minimum_blobness 0 and maximum_candidates = maximum_reported = 300), cuts a patch of
the image around every reported candidate, trains a small convolutional network on training
sets, and ranks the evaluation sets' candidates by it, beside the records' own score, with the
`nodules evaluate` hit rule (centre within max(true radius, 4 mm); one true positive per nodule;
a candidate reaching only nodules already hit is neither true nor false positive).

Patches (32 x 32) are read from the image normalised roughly as the detector does (area average
to 0.35 mm/px, the 1st/99th percentiles of the central 80 % of a 0.7 mm/px copy mapped to 0 and
1, Gaussian sigma 1 px; stored polarity taken as it is, dense bright, as in every phantom set here),
by bilinear sampling with 2 x 2 supersampling per patch pixel:
  scale  - a square 3 x max(scale_diameter_mm, 5 mm) wide: the candidate at its own scale;
  fixed  - a square 40 mm wide: the candidate in its surroundings at one size for all.
Each patch enters as two channels: standardised (zero mean, unit SD) and its deviation from the
mean x 20 clipped to +-5 (contrast in normalised units). Side inputs: the blob-stage features
(log_response, blobness, scale_diameter_mm, lung_depth_mm) and the patch SD, with --side all
also the measured features the score uses (contrast_to_noise, sphere_fit, circularity,
fit_residual, contrast) and the record's score as a logit.

Network: three 3 x 3 convolutions (8, 16, 32 channels; ReLU; 2 x 2 max-pool each), flattened,
joined with the standardised side inputs, one hidden layer of 32 ReLU units, one logit. Adam
(1e-3, weight decay 1e-4), batches of 256, random 90-degree rotations and flips, positives
weighted by a quarter of the class ratio; predictions average the four rotations.
Columns: hits ranked by the records' own score, by the network, and by the records' score among
only the network's --top candidates of each image (the network as the pre-rank, the score after).
Labels: --labels any makes every candidate within a nodule's hit radius positive; --labels
right-size keeps as positive only those whose scale diameter is 0.5-2 x the nodule's and leaves
the other ones reaching a nodule out of training (they are still counted in evaluation).

Usage (from the repository root):
  python3 Benchmarks/analysis/patch_cnn_probe.py extract NAME TRUTH RESULTS --work DIR
  python3 Benchmarks/analysis/patch_cnn_probe.py run --work DIR --train A,B --eval C,D \\
      [--context scale|fixed|both] [--side all|blob] [--labels any|right-size] [--epochs 8] [--seed 0] [--top 50]
"""
import argparse
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from miss_breakdown import events, load, nodules_hit  # noqa: E402  the results loader and the evaluate rule, one copy

P, SUB = 32, 2
MEASURED = ["contrast_to_noise", "sphere_fit", "circularity", "fit_residual", "contrast"]
BLOB = ["log_response", "blobness", "scale_diameter_mm", "lung_depth_mm"]


def normalised(path, spacing):
    """(image at the measurement spacing, normalised; input px per its px along x; along y; its mm/px)."""
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.float32)
    if raw.ndim == 3:
        raw = raw.mean(axis=2)
    fine = max(0.35, spacing)
    h, w = raw.shape
    meas = cv2.resize(raw, (max(1, round(w * spacing / fine)), max(1, round(h * spacing / fine))), interpolation=cv2.INTER_AREA)
    g = max(0.7, fine) / fine
    work = cv2.resize(meas, (max(1, round(meas.shape[1] / g)), max(1, round(meas.shape[0] / g))), interpolation=cv2.INTER_AREA)
    hh, ww = work.shape
    lo, hi = np.percentile(work[hh // 10: hh - hh // 10, ww // 10: ww - ww // 10], [1, 99])
    meas = cv2.GaussianBlur((meas - lo) / max(hi - lo, 1e-6), (0, 0), 1.0)
    return meas, w / meas.shape[1], h / meas.shape[0], fine


def patch(image, cx, cy, step):
    """P x P cells of `step` px of `image` centred on (cx, cy), SUB x SUB bilinear samples per cell."""
    o = (np.arange(P * SUB) - (P * SUB - 1) / 2) * (step / SUB)
    xs, ys = np.meshgrid(cx + o, cy + o)
    s = cv2.remap(image, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return s.reshape(P, SUB, P, SUB).mean(axis=(1, 3))


def extract_image(job):
    folder, image, record, index = job
    spacing = image["pixel_spacing_mm"]  # phantom truth always states it (the hit rule needs it)
    meas, sx, sy, fine = normalised(os.path.join(folder, image["path"]), spacing)
    rows = []
    for score, reach, c in events(image, record):
        f = c["features"]
        cx, cy = (c["x"] + 0.5) / sx - 0.5, (c["y"] + 0.5) / sy - 0.5
        scaled = patch(meas, cx, cy, 3 * max(f["scale_diameter_mm"], 5.0) / P / fine)
        fixed = patch(meas, cx, cy, 40.0 / P / fine)
        first_d = image["nodules"][reach[0]]["diameter_mm"] if reach else 0.0
        rows.append((scaled, fixed, [f[k] for k in BLOB + MEASURED], score, index, (reach + [-1] * 4)[:4], first_d))
    return rows


def extract(args):
    from multiprocessing import Pool
    truth, folder, records = load(args.truth, args.results)
    jobs = [(folder, im, records[im["path"]], i) for i, im in enumerate(truth["images"])]
    with Pool(2) as pool:
        rows = [r for rr in pool.map(extract_image, jobs, chunksize=2) for r in rr]
    os.makedirs(args.work, exist_ok=True)
    np.savez_compressed(os.path.join(args.work, args.name + ".npz"),
                        scaled=np.stack([r[0] for r in rows]).astype(np.float32),
                        fixed=np.stack([r[1] for r in rows]).astype(np.float32),
                        feats=np.array([r[2] for r in rows], np.float32), score=np.array([r[3] for r in rows]),
                        image=np.array([r[4] for r in rows]), reach=np.array([r[5] for r in rows]),
                        reach_d=np.array([r[6] for r in rows]),
                        nimages=len(truth["images"]),
                        truth_d=np.array([n["diameter_mm"] for im in truth["images"] for n in im["nodules"]]),
                        truth_image=np.array([i for i, im in enumerate(truth["images"]) for _ in im["nodules"]]))
    print(f"{args.name}: {len(rows)} candidates from {len(jobs)} images", file=sys.stderr)


def hits(z, score, rate, kept=None):
    """(hits >= 10 mm, hits 6-10 mm, nodules >= 10 mm, nodules 6-10 mm) at `rate` FP/image, among the
    `kept` candidates (default all)."""
    first = {}
    for g, im in enumerate(z["truth_image"]):
        first.setdefault(int(im), g)
    td = z["truth_d"]
    hit = nodules_hit(([first[int(z["image"][i])] + int(k) for k in z["reach"][i] if k >= 0]
                       for i in np.argsort(-score, kind="stable") if kept is None or kept[i]), rate * int(z["nimages"]))
    big = sum(1 for g in hit if td[g] >= 10)
    mid = sum(1 for g in hit if 6 <= td[g] < 10)
    return big, mid, int((td >= 10).sum()), int(((td >= 6) & (td < 10)).sum())


def run(args):
    import torch
    import torch.nn as nn
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    contexts = {"scale": ["scaled"], "fixed": ["fixed"], "both": ["scaled", "fixed"]}[args.context]

    def channels(z):
        out = []
        for key in contexts:
            p = z[key]
            m = p.reshape(len(p), -1).mean(1)[:, None, None]
            s = p.reshape(len(p), -1).std(1)[:, None, None]
            out += [(p - m) / (s + 1e-3), np.clip((p - m) * 20, -5, 5)]
        return np.stack(out, 1).astype(np.float32)

    def side(z):
        f = z["feats"].astype(np.float64)
        logr, blob, sd, depth = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
        cols = [np.log(np.maximum(logr, 1e-4)), blob, np.log(sd), np.clip(depth, -40, 40) / 40]
        cols += [np.log(z[key].reshape(len(f), -1).std(1) + 1e-4) for key in contexts]
        if args.side == "all":
            cnr, sph, circ, res, con = f[:, 4:9].T
            s = np.clip(z["score"], 1e-6, 1 - 1e-6)
            cols += [np.log(np.maximum(cnr, 1e-3)), sph, circ, res, np.log(np.maximum(con, 1e-4)), np.log(s / (1 - s))]
        return np.stack(cols, 1).astype(np.float32)

    class Net(nn.Module):
        def __init__(self, nin, nside):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(nin, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.head = nn.Sequential(nn.Linear(32 * (P // 8) ** 2 + nside, 32), nn.ReLU(), nn.Linear(32, 1))

        def forward(self, x, s):
            return self.head(torch.cat([self.conv(x).flatten(1), s], 1)).squeeze(1)

    def data(name):
        return np.load(os.path.join(args.work, name + ".npz"))

    train = [data(n) for n in args.train.split(",")]
    X = np.concatenate([channels(z) for z in train])
    S = np.concatenate([side(z) for z in train])
    Y = np.concatenate([(z["reach"][:, 0] >= 0).astype(np.float32) for z in train])
    if args.labels == "right-size":
        # scale diameter over the diameter of the first nodule reached
        ratio = np.concatenate([z["feats"][:, 2] / np.maximum(z["reach_d"], 1e-3) for z in train])
        keep = (Y == 0) | ((ratio > 0.5) & (ratio < 2.0))
        X, S, Y = X[keep], S[keep], Y[keep]
    mean, sd = S.mean(0), S.std(0) + 1e-6
    S = (S - mean) / sd
    print(f"training on {len(Y)} candidates, {int(Y.sum())} positive ({args.labels}); context {args.context}, side {args.side}",
          file=sys.stderr)
    net = Net(X.shape[1], S.shape[1])
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    Xt, St, Yt = torch.from_numpy(X), torch.from_numpy(S), torch.from_numpy(Y)
    loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float((len(Y) - Y.sum()) / Y.sum() / 4)))
    for epoch in range(args.epochs):
        order, total = torch.from_numpy(rng.permutation(len(Y))), 0.0
        for i in range(0, len(Y), 256):
            b = order[i:i + 256]
            x = torch.rot90(Xt[b], int(rng.integers(4)), (2, 3))
            if rng.random() < 0.5:
                x = torch.flip(x, (3,))
            opt.zero_grad()
            value = loss(net(x, St[b]), Yt[b])
            value.backward()
            opt.step()
            total += value.item() * len(b)
        print(f"epoch {epoch}: loss {total / len(Y):.4f}", file=sys.stderr)
    net.eval()

    print(f"| set | >= 10 mm at 2 FP/image: records' score | network | score within the network's top {args.top} | nodules "
          f"| 6-10 mm: score | network | nodules | >= 10 mm at 0.5 FP/image: score | network |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    pooled = np.zeros(9, int)
    for name in args.eval.split(","):
        z = data(name)
        x, s = torch.from_numpy(channels(z)), torch.from_numpy((side(z) - mean) / sd)
        with torch.no_grad():
            logit = sum(net(torch.rot90(x, k, (2, 3)), s) for k in range(4)).numpy() / 4
        a, b = hits(z, z["score"], 2.0), hits(z, logit, 2.0)
        a5, b5 = hits(z, z["score"], 0.5), hits(z, logit, 0.5)
        # the network as a pre-rank: per image only its top `--top` candidates go on, ranked by the records' score
        kept = np.zeros(len(logit), bool)
        for image in np.unique(z["image"]):
            on = np.where(z["image"] == image)[0]
            kept[on[np.argsort(-logit[on], kind="stable")[:args.top]]] = True
        c = hits(z, z["score"], 2.0, kept)
        row = np.array([a[0], b[0], c[0], a[2], a[1], b[1], a[3], a5[0], b5[0]])
        pooled += row
        print(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    print("| pooled | " + " | ".join(str(v) for v in pooled) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract")
    e.add_argument("name")
    e.add_argument("truth")
    e.add_argument("results")
    e.add_argument("--work", required=True)
    r = sub.add_parser("run")
    r.add_argument("--work", required=True)
    r.add_argument("--train", required=True)
    r.add_argument("--eval", required=True)
    r.add_argument("--context", choices=["scale", "fixed", "both"], default="scale")
    r.add_argument("--side", choices=["all", "blob"], default="all")
    r.add_argument("--labels", choices=["any", "right-size"], default="right-size")
    r.add_argument("--epochs", type=int, default=8)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--top", type=int, default=50, help="candidates per image the network passes on to the records' score")
    args = parser.parse_args()
    extract(args) if args.command == "extract" else run(args)


if __name__ == "__main__":
    main()
