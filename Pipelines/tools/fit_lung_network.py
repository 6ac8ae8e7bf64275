#!/usr/bin/env python3
"""Fit a lung-field network for a NoduleKit pipeline definition (`lung_field.network`, used by
Pipelines/cxr-nodules-lungnet.json).

Offline tooling, never part of the product (numpy, opencv-python-headless, PyTorch CPU). The network
is the nodule map's U-Net (Benchmarks/analysis/fcn_probe.py's `network`, format nodulekit-unet-1),
trained to mark the truth lung masks of phantom sets at 4 mm/px:

  fit_lung_network.py cache NAME SET_DIR --work W     each image area-averaged to 4 mm/px and mapped
                                                      to 0-1 by fcn_probe.py's normalisation (1st-99th
                                                      percentiles of the central 80 %); its truth lung
                                                      mask area-averaged onto the same grid, cut at 1/2
  fit_lung_network.py train --work W --train NAME,... [--epochs 40] [--width 8] [--seed 0] --model M.pt
                                                      random 96 px (384 mm) crops, 8 a batch, gamma,
                                                      gain and offset jitter, no flips (the heart is on
                                                      one side); BCE; Adam 2e-3 cosine-annealed; one
                                                      thread, seeded
  fit_lung_network.py check --work W --model M.pt NAME,...   IoU of the final masks on cached sets
                                                      (fit_lung_model.py's final_mask: threshold 1/2,
                                                      per half the largest region, holes filled)

  then: fcn_probe.py export --model M.pt --spacing 4.0 --out NET.json, and NET.json goes into the
  definition as lung_field.network (with its fitted_on).

The product feeds the network the pipeline's normalised working image (0.7 mm/px)
area-averaged to 4 mm/px and clipped to 0-1, reads its probability at each mask px (about 2 mm)
bilinearly and keeps the pixels above 1/2, then the same clean-up as the pixel classifier's
(LungField.swift). The IoU it reaches is measured by Benchmarks/analysis/lung_iou.py on
`nodules detect --overlay` masks. The network measured in session 34: `train --train
ours5000,ours5001,b201,c101,d301 --epochs 40 --width 8 --seed 0`
(Benchmarks/recorded/2026-12-07-session34.txt, sections 3-5; docs/detection-measurements.md).
"""
import argparse
import json
import math
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Benchmarks", "analysis"))
from fcn_probe import network, normalise, optimisation_step  # noqa: E402
from fit_lung_model import final_mask  # noqa: E402  (the clean-up the classifier's fit is judged by)

SPACING_MM = 4.0
CROP = 96


def cache(args):
    truth = json.load(open(os.path.join(args.set_dir, "truth.json")))
    arrays = {}
    names = []
    for k, image in enumerate(truth["images"]):
        raw = cv2.imread(os.path.join(args.set_dir, image["path"]), cv2.IMREAD_UNCHANGED).astype(np.float32)
        f = image["pixel_spacing_mm"] / SPACING_MM
        size = (max(8, round(raw.shape[1] * f)), max(8, round(raw.shape[0] * f)))
        x = normalise(cv2.resize(raw, size, interpolation=cv2.INTER_AREA))
        m = cv2.imread(os.path.join(args.set_dir, image["lung_mask"]), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
        m = (cv2.resize(m, size, interpolation=cv2.INTER_AREA) > 0.5).astype(np.float32)
        arrays[f"x{k}"], arrays[f"m{k}"] = x, m
        names.append(os.path.splitext(os.path.basename(image["path"]))[0])
    os.makedirs(args.work, exist_ok=True)
    np.savez_compressed(os.path.join(args.work, f"{args.name}.npz"), names=np.array(names), **arrays)
    print(f"{args.name}: {len(names)} images cached at {SPACING_MM} mm/px")


def load(work, name):
    z = np.load(os.path.join(work, f"{name}.npz"))
    n = len(z["names"])
    return [z[f"x{k}"] for k in range(n)], [z[f"m{k}"] for k in range(n)], list(z["names"])


def train(args):
    import torch
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    X, M = [], []
    for name in args.train.split(","):
        x, m, _ = load(args.work, name)
        X += x
        M += m
    net = network(args.width)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    lossf = torch.nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        order = rng.permutation(len(X))
        total = 0.0
        net.train()
        for b0 in range(0, len(order), 8):
            xs, ms = [], []
            for k in order[b0:b0 + 8]:
                x, m = X[k], M[k]
                h, w = x.shape
                if h < CROP or w < CROP:
                    pad = ((0, max(0, CROP - h)), (0, max(0, CROP - w)))
                    x, m = np.pad(x, pad, mode="edge"), np.pad(m, pad)
                    h, w = x.shape
                y0, x0 = rng.integers(0, h - CROP + 1), rng.integers(0, w - CROP + 1)
                cx, cm = x[y0:y0 + CROP, x0:x0 + CROP], m[y0:y0 + CROP, x0:x0 + CROP]
                cx = np.clip(cx, 0, 1) ** math.exp(rng.normal(0, 0.3))
                cx = cx * rng.uniform(0.8, 1.2) + rng.normal(0, 0.05)
                xs.append(cx.astype(np.float32))
                ms.append(cm.astype(np.float32))
            total += optimisation_step(net, opt, lossf, xs, ms)
        sched.step()
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / len(X):.4f}", flush=True)
    torch.save({"width": args.width, "state": net.state_dict()}, args.model)


def check(args):
    import torch
    torch.set_num_threads(1)
    saved = torch.load(args.model)
    net = network(saved["width"])
    net.load_state_dict(saved["state"])
    net.eval()
    for name in args.sets.split(","):
        X, M, _ = load(args.work, name)
        ious = []
        for x, m in zip(X, M):
            h, w = x.shape
            padded = np.pad(x, ((0, (-h) % 8), (0, (-w) % 8)), mode="edge")
            with torch.no_grad():
                p = torch.sigmoid(net(torch.from_numpy(padded[None, None].astype(np.float32)))).numpy()[0, 0, :h, :w]
            lung = final_mask(p)
            ious.append((lung & (m > 0)).sum() / max(1, (lung | (m > 0)).sum()))
        print(f"{name}: {len(ious)} images, IoU median {np.median(ious):.3f}, mean {np.mean(ious):.3f}, "
              f"10th percentile {np.percentile(ious, 10):.3f}, min {np.min(ious):.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("name")
    c.add_argument("set_dir")
    c.add_argument("--work", required=True)
    t = sub.add_parser("train")
    t.add_argument("--work", required=True)
    t.add_argument("--train", required=True)
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--width", type=int, default=8)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--model", required=True)
    k = sub.add_parser("check")
    k.add_argument("--work", required=True)
    k.add_argument("--model", required=True)
    k.add_argument("sets")
    args = ap.parse_args()
    {"cache": cache, "train": train, "check": check}[args.command](args)


if __name__ == "__main__":
    main()
