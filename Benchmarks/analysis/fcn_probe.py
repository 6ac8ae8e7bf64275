#!/usr/bin/env python3
"""Would a small fully convolutional network, trained on whole images of some generators, find
nodules on the others better than the pipeline? (offline probe, never part of the product)

numpy, OpenCV, PyTorch CPU. Each phantom image is area-averaged to SPACING mm/px (default 1.0;
the truth's own spacing), its 1st-99th percentiles of the central 80 % mapped to 0-1, clipped, and
cached. (The product, `NoduleHeatmap`, feeds the network the pipeline's normalised working image
at 0.7 mm/px area-averaged to the network's spacing and clipped: the same normalisation from a slightly
different resampling; its results on the held-out sets match this tool's re-ranking, 40 of 69 on
our eval set with the map alone.) A U-Net of three levels (WIDTH/2·WIDTH/4·WIDTH channels, default
16) is trained to a heatmap that is 1 inside every true nodule >= MIN_MM (a disc of its radius) and
0 elsewhere (pixel-wise binary cross-entropy, positives weighted 5x), on random 192² crops (half
of them near a nodule) with left-right flips and gamma.
Detections are the heatmap's local maxima (7 px window) above 0.02, scored by the peak, at most
50 per image, written as `nodules detect` records (x, y in the image's own pixels; diameter from
the area of the connected region above half the peak) so that `nodules evaluate` scores them by
its own rule.

  fcn_probe.py cache NAME SET_DIR --work W [--spacing 1.0]
  fcn_probe.py train --work W --train NAME,... [--epochs 40] [--seed 0] [--width 16] [--augment processing]
                     [--insert P [--insert-contrast LO HI]] [--fade P [--fade-strength LO HI]] [--init M0.pt [--lr 2e-3] [--frozen-batch-norm]] --model M.pt
  fcn_probe.py detect --work W --model M.pt NAME --out RESULTS.jsonl
  fcn_probe.py export --model M.pt --out NETWORK.json          (for NoduleKit: batch norm folded)
  fcn_probe.py reference --model M.pt --out REFERENCE.json     (a seeded input and its logits)
  fcn_probe.py embed --pipeline P.json --network NETWORK.json --describe TEXT [--combine replace|geometric-mean]
                     [--resize-log-ratio R [--resize-recentres]] [--context-mm C] [--scores-measured] [--mirror-averaged]
                     [--version V] --out P2.json   (the network as P's `heatmap` section)
  fcn_probe.py extract --pipeline P.json --model M.pt   (P's embedded network back as a model, batch norm as identity)

Python here is tooling for measuring, never part of the product.
"""
import argparse
import json
import math
import os

import cv2
import numpy as np


def normalise(img):
    h, w = img.shape
    c = img[h // 10: h - h // 10, w // 10: w - w // 10]
    lo, hi = np.percentile(c, 1), np.percentile(c, 99)
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def cache(args):
    truth = json.load(open(os.path.join(args.set_dir, "truth.json")))
    images, masks, meta = [], [], []
    for im in truth["images"]:
        raw = cv2.imread(os.path.join(args.set_dir, im["path"]), cv2.IMREAD_UNCHANGED).astype(np.float32)
        f = im["pixel_spacing_mm"] / args.spacing
        small = cv2.resize(raw, (max(1, round(raw.shape[1] * f)), max(1, round(raw.shape[0] * f))),
                           interpolation=cv2.INTER_AREA)
        x = normalise(small)
        m = np.zeros_like(x, dtype=np.uint8)
        for n in im["nodules"]:
            if n["diameter_mm"] >= args.min_mm:
                cv2.circle(m, (int(round((n["x"] + 0.5) * f - 0.5)), int(round((n["y"] + 0.5) * f - 0.5))),
                           max(1, int(round(n["diameter_mm"] / 2 / args.spacing))), 1, -1)
        images.append(x)
        masks.append(m)
        meta.append({"path": os.path.join(os.path.abspath(args.set_dir), im["path"]), "scale": f,
                     "width": im["width"], "height": im["height"], "spacing": im["pixel_spacing_mm"]})
    os.makedirs(args.work, exist_ok=True)
    np.savez_compressed(os.path.join(args.work, f"{args.name}.npz"),
                        **{f"i{k}": v for k, v in enumerate(images)}, **{f"m{k}": v for k, v in enumerate(masks)})
    json.dump(meta, open(os.path.join(args.work, f"{args.name}.json"), "w"))
    print(f"{args.name}: {len(images)} images cached at {args.spacing} mm/px")


def load(work, name):
    z = np.load(os.path.join(work, f"{name}.npz"))
    meta = json.load(open(os.path.join(work, f"{name}.json")))
    return [z[f"i{k}"] for k in range(len(meta))], [z[f"m{k}"] for k in range(len(meta))], meta


def network(width=16):
    import torch.nn as nn
    import torch

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                             nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            w1, w2, w3 = width, 2 * width, 4 * width
            self.e1, self.e2, self.e3 = block(1, w1), block(w1, w2), block(w2, w3)
            self.b = block(w3, w3)
            self.d3, self.d2, self.d1 = block(2 * w3, w2), block(2 * w2, w1), block(2 * w1, w1)
            self.out = nn.Conv2d(w1, 1, 1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            up = lambda t, ref: nn.functional.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)
            e1 = self.e1(x)
            e2 = self.e2(self.pool(e1))
            e3 = self.e3(self.pool(e2))
            b = self.b(self.pool(e3))
            d3 = self.d3(torch.cat([up(b, e3), e3], 1))
            d2 = self.d2(torch.cat([up(d3, e2), e2], 1))
            d1 = self.d1(torch.cat([up(d2, e1), e1], 1))
            return self.out(d1)

    return UNet()


def processing_augmentation(x, rng):
    """A random imitation of vendor processing and acquisition on a 0-1 crop (map px at 2 mm):
    equalisation (subtracting part of a wide blur) or unsharp masking, a sigmoid tone curve about
    the crop's median, blur and additive noise, each applied with probability 1/2, then clipped."""
    if rng.random() < 0.5:  # equalisation / unsharp masking at a random scale
        sigma = float(rng.uniform(1.0, 20.0))
        k = float(rng.uniform(-0.3, 0.7))
        x = x + k * (x - cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT))
    if rng.random() < 0.5:  # sigmoid tone curve, renormalised to the crop's range
        c = float(np.median(x)) + float(rng.normal(0, 0.1))
        w = float(rng.uniform(0.1, 0.4))
        y = 1 / (1 + np.exp(-(x - c) / w))
        lo, hi = float(y.min()), float(y.max())
        x = (y - lo) / max(hi - lo, 1e-6) * (float(x.max()) - float(x.min())) + float(x.min())
    if rng.random() < 0.5:
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.3, 1.0)), borderType=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        x = x + rng.normal(0, float(rng.uniform(0.005, 0.04)), x.shape).astype(np.float32)
    return np.clip(x, 0, 1).astype(np.float32)


def insert_nodules(x, m, rng, contrast=(0.4, 3.0)):
    """Lesion insertion on a 0-1 crop and its mask (map px at 2 mm): 1-2 synthetic nodules of 6-30 mm
    (a projected sphere, sometimes a union of 2-3 smaller spheres, sometimes with a blurred edge) added
    where the crop is neither black nor white and no true nodule is, at a peak contrast of CONTRAST x the
    standard deviation of the crop's band-pass texture near it (log-uniform), their discs marked in the mask."""
    x = x.copy()
    m = m.copy()
    h, w = x.shape
    band = x - cv2.GaussianBlur(x, (0, 0), 8.0, borderType=cv2.BORDER_REFLECT)
    yy, xx = np.mgrid[:h, :w]
    for _ in range(int(rng.integers(1, 3))):
        R = math.exp(rng.uniform(math.log(1.5), math.log(7.5)))
        for _try in range(10):
            cy, cx = float(rng.uniform(R, h - R)), float(rng.uniform(R, w - R))
            iy, ix = int(cy), int(cx)
            y0, y1, x0, x1 = max(0, iy - int(2 * R) - 2), min(h, iy + int(2 * R) + 3), max(0, ix - int(2 * R) - 2), min(w, ix + int(2 * R) + 3)
            if 0.05 < x[iy, ix] < 0.8 and not m[y0:y1, x0:x1].any():
                break
        else:
            continue
        t = np.zeros_like(x)
        parts = [(cy, cx, R)]
        if rng.random() < 0.3:
            parts = []
            for _k in range(int(rng.integers(2, 4))):
                a = rng.uniform(0, 2 * math.pi)
                o = R * rng.uniform(0.2, 0.45)
                parts.append((cy + o * math.sin(a), cx + o * math.cos(a), R * rng.uniform(0.55, 0.8)))
        for py, px, pr in parts:
            r2 = ((yy - py) ** 2 + (xx - px) ** 2) / (pr * pr)
            t = np.maximum(t, np.sqrt(np.clip(1 - r2, 0, None)) * pr / R)
        if rng.random() < 0.5:
            t = cv2.GaussianBlur(t.astype(np.float32), (0, 0), float(rng.uniform(0.1, 0.4)) * R + 0.3)
        sd = float(band[y0:y1, x0:x1].std()) + 1e-3
        amp = sd * math.exp(rng.uniform(math.log(contrast[0]), math.log(contrast[1])))
        x = x + amp * t / max(float(t.max()), 1e-6)
        m[((yy - cy) ** 2 + (xx - cx) ** 2) <= R * R] = 1
    return np.clip(x, 0, 1).astype(np.float32), m


def fade_nodules(x, m, rng, strength=(0.25, 1.0)):
    """The true nodules of a 0-1 crop made fainter (map px at 2 mm): each marked disc's excess over the local
    background (a normalised convolution of the crop outside the discs, sigma 4 px) scaled by a factor drawn
    log-uniformly from STRENGTH, through the disc feathered by a 1 px Gaussian; the mask is kept, so the
    network learns that a fainter nodule of the same shape is still one (unseen generators' nodules are
    fainter than the training generators')."""
    if not m.any():
        return x
    x = x.copy()
    outside = (cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0).astype(np.float32)
    num = cv2.GaussianBlur(x * outside, (0, 0), 4.0, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(outside, (0, 0), 4.0, borderType=cv2.BORDER_REFLECT)
    background = num / np.maximum(den, 1e-3)
    count, labels = cv2.connectedComponents(m.astype(np.uint8))
    for k in range(1, count):
        a = math.exp(rng.uniform(math.log(strength[0]), math.log(strength[1])))
        w = np.clip(cv2.GaussianBlur((labels == k).astype(np.float32), (0, 0), 1.0), 0, 1)
        x = x - (1 - a) * w * (x - background)
    return np.clip(x, 0, 1).astype(np.float32)


def optimisation_step(net, opt, lossf, xs, ms):
    """One optimiser step on a batch of 2-D crops `xs` and their targets `ms` (one channel each);
    returns the batch's loss times its size (for the epoch's mean). fit_lung_network.py uses it too."""
    import torch
    xb = torch.from_numpy(np.stack(xs)[:, None].astype(np.float32))
    mb = torch.from_numpy(np.stack(ms)[:, None].astype(np.float32))
    opt.zero_grad()
    loss = lossf(net(xb), mb)
    loss.backward()
    opt.step()
    return float(loss.detach()) * len(xs)


def train(args):
    import torch
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    X, M = [], []
    for name in args.train.split(","):
        i, m, _ = load(args.work, name)
        X += i
        M += m
    net = network(args.width)
    if args.init:  # fine-tuning: start from a trained model of the same width
        saved = torch.load(args.init)
        assert saved["width"] == args.width, f"{args.init} has width {saved['width']}, not {args.width}"
        net.load_state_dict(saved["state"])
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(args.pos_weight))
    S = args.crop
    for epoch in range(args.epochs):
        order = rng.permutation(len(X))
        total = 0.0
        net.train()
        if args.frozen_batch_norm:  # keep the batch norms as loaded (an extracted network's are identities)
            for module in net.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.eval()
        for b0 in range(0, len(order), args.batch):
            xs, ms = [], []
            for k in order[b0:b0 + args.batch]:
                x, m = X[k], M[k]
                h, w = x.shape
                ph, pw = max(0, S - h), max(0, S - w)
                if ph or pw:
                    x = np.pad(x, ((0, ph), (0, pw)), mode="reflect")
                    m = np.pad(m, ((0, ph), (0, pw)))
                    h, w = x.shape
                # crops centred on a nodule half the time, so positives are seen often
                ys, xs_ = np.nonzero(m)
                if len(ys) and rng.random() < 0.5:
                    j = rng.integers(len(ys))
                    cy, cx = ys[j] + rng.integers(-S // 3, S // 3), xs_[j] + rng.integers(-S // 3, S // 3)
                    y0 = int(np.clip(cy - S // 2, 0, h - S))
                    x0 = int(np.clip(cx - S // 2, 0, w - S))
                else:
                    y0, x0 = int(rng.integers(0, h - S + 1)), int(rng.integers(0, w - S + 1))
                cx_, cm = x[y0:y0 + S, x0:x0 + S], m[y0:y0 + S, x0:x0 + S]
                if rng.random() < 0.5:
                    cx_, cm = cx_[:, ::-1], cm[:, ::-1]
                g = math.exp(rng.normal(0, 0.25))
                cx_ = np.clip(cx_, 0, 1) ** g
                if args.insert > 0 and rng.random() < args.insert:
                    cx_, cm = insert_nodules(np.ascontiguousarray(cx_, dtype=np.float32), np.ascontiguousarray(cm), rng,
                                             (args.insert_contrast[0], args.insert_contrast[1]))
                if args.fade > 0 and rng.random() < args.fade:
                    cx_ = fade_nodules(np.ascontiguousarray(cx_, dtype=np.float32), cm, rng,
                                       (args.fade_strength[0], args.fade_strength[1]))
                if args.augment == "processing":
                    cx_ = processing_augmentation(np.ascontiguousarray(cx_, dtype=np.float32), rng)
                xs.append(cx_.copy())
                ms.append(cm.copy())
            total += optimisation_step(net, opt, lossf, xs, ms)
        sched.step()
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / len(X):.4f}", flush=True)
    torch.save({"width": args.width, "state": net.state_dict()}, args.model)


def detect(args):
    import torch
    net, _ = load_network(args.model)
    X, _, meta = load(args.work, args.name)
    with open(args.out, "w") as out:
        for x, m in zip(X, meta):
            with torch.no_grad():
                p = torch.sigmoid(net(torch.from_numpy(x[None, None]))).numpy()[0, 0]
            peaks = (p == cv2.dilate(p, np.ones((7, 7), np.uint8))) & (p > 0.02)
            ys, xs = np.nonzero(peaks)
            order = np.argsort(-p[ys, xs])[:50]
            nodules = []
            for k in order:
                y, xx = ys[k], xs[k]
                region = (p > p[y, xx] / 2).astype(np.uint8)
                _, lab = cv2.connectedComponents(region)
                area = float((lab == lab[y, xx]).sum())
                d_mm = 2 * math.sqrt(area / math.pi) * (m["spacing"] / m["scale"])  # map px → mm
                f = m["scale"]
                nodules.append({"x": (xx + 0.5) / f - 0.5, "y": (y + 0.5) / f - 0.5, "diameter_mm": d_mm,
                                "diameter_px": d_mm / m["spacing"], "score": float(p[y, xx]),
                                "features": {"peak": float(p[y, xx]), "area_px": area}})
            out.write(json.dumps({"path": m["path"], "width": m["width"], "height": m["height"],
                                  "pixel_spacing_mm": m["spacing"], "error": None, "nodules": nodules}) + "\n")
    print(f"{args.name}: {len(X)} images -> {args.out}")


def load_network(path):
    import torch
    saved = torch.load(path)
    if "state" not in saved:  # a model saved before --width existed
        saved = {"width": 16, "state": saved}
    net = network(saved["width"])
    net.load_state_dict(saved["state"])
    net.eval()
    return net, saved["width"]


def export(args):
    """The network as JSON for NoduleKit (`nodulekit-unet-1`): each convolution with its batch
    normalisation folded in, weights in (out, in, ky, kx) order, float32 values."""
    import torch
    net, width = load_network(args.model)
    layers = {}
    for name in ("e1", "e2", "e3", "b", "d3", "d2", "d1"):
        seq = getattr(net, name)
        for k, (conv, bn) in enumerate(((seq[0], seq[1]), (seq[3], seq[4]))):
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            w = conv.weight.detach() * scale[:, None, None, None]
            b = (conv.bias.detach() - bn.running_mean) * scale + bn.bias.detach()
            layers[f"{name}.{k}"] = {"out": w.shape[0], "in": w.shape[1], "kernel": w.shape[2],
                                     "weight": [float(v) for v in w.flatten().float()],
                                     "bias": [float(v) for v in b.float()]}
    o = net.out
    layers["out"] = {"out": 1, "in": o.weight.shape[1], "kernel": 1,
                     "weight": [float(v) for v in o.weight.detach().flatten()],
                     "bias": [float(v) for v in o.bias.detach()]}
    doc = {"format": "nodulekit-unet-1", "width": width, "spacing_mm": args.spacing,
           "normalisation": {"central_fraction": 0.8, "lower_percentile": 1, "upper_percentile": 99},
           "architecture": "U-Net, 3 poolings: e1=block(x), e2=block(pool(e1)), e3=block(pool(e2)), "
                           "b=block(pool(e3)), d3=block(cat(up(b),e3)), d2=block(cat(up(d3),e2)), "
                           "d1=block(cat(up(d2),e1)), out=conv1x1(d1); block = conv3x3+ReLU twice (padding 1, "
                           "zeros); pool = 2x2 max, floor; up = bilinear to the skip's size, half-pixel centres "
                           "(PyTorch align_corners=False); cat = upsampled channels first; sigmoid at the end",
           "layers": layers}
    json.dump(doc, open(args.out, "w"), separators=(",", ":"))
    print(f"{args.out}: width {width}, {sum(len(l['weight']) + len(l['bias']) for l in layers.values())} values")


def reference(args):
    """A seeded input of odd size and the network's logits for it, as JSON (the Swift port's test)."""
    import torch
    net, _ = load_network(args.model)
    rng = np.random.default_rng(7)
    x = rng.random((args.height, args.width_px)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x[None, None])).numpy()[0, 0]
    json.dump({"height": args.height, "width": args.width_px, "input": [float(v) for v in x.flatten()],
               "logits": [float(v) for v in y.flatten()]}, open(args.out, "w"), separators=(",", ":"))
    print(f"{args.out}: {args.height}x{args.width_px}")


def embed(args):
    """A copy of a pipeline definition with the exported network as its `heatmap` section; the
    weights are written to 7 significant digits, each layer's arrays on one line."""
    definition = json.load(open(args.pipeline))
    network = json.load(open(args.network))
    for layer in network["layers"].values():
        layer["weight"] = [float(f"{v:.7g}") for v in layer["weight"]]
        layer["bias"] = [float(f"{v:.7g}") for v in layer["bias"]]
    network["fitted_on"] = args.describe
    definition["heatmap"] = {"combine": args.combine, "window_fraction": args.window, "minimum_window_px": 2,
                             "network": "@NETWORK@"}
    if args.resize_log_ratio is not None:
        definition["heatmap"]["resize_log_ratio"] = args.resize_log_ratio
    if args.context_mm is not None:
        definition["heatmap"]["context_mm"] = args.context_mm
    if args.scores_measured:
        definition["heatmap"]["scores_measured"] = True
    if args.resize_recentres:
        definition["heatmap"]["resize_recentres"] = True
    if args.mirror_averaged:
        definition["heatmap"]["mirror_averaged"] = True
    if args.version:
        definition["version"] = args.version
    text = json.dumps(definition, indent=2, ensure_ascii=False)
    layers = ",\n".join(f'        "{name}": ' + json.dumps(layer, separators=(", ", ": "))
                         for name, layer in network["layers"].items())
    head = {k: v for k, v in network.items() if k != "layers"}
    body = json.dumps(head, indent=2, ensure_ascii=False)[:-2].replace("\n", "\n    ")
    text = text.replace('"@NETWORK@"', body + ',\n      "layers": {\n' + layers + "\n      }\n    }")
    json.loads(text)  # still valid JSON
    open(args.out, "w").write(text + "\n")
    print(f"{args.out}: heatmap ({network['width']} wide, combine {args.combine}) embedded")


def layer_values(value):
    """A layer's "weight" or "bias" as stored: a number array, or packed ("f32le:" + base64 of
    little-endian float32, Pipelines/tools/pack_weights.py), as the shipped definitions are."""
    if isinstance(value, str):
        import base64
        import struct
        raw = base64.b64decode(value[len("f32le:"):]) if value.startswith("f32le:") else None
        if raw is None or len(raw) % 4:
            raise ValueError("a packed layer array must be f32le: followed by base64 of float32 values")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return value


def extract(args):
    """A pipeline definition's embedded network (or a `nodulekit-unet-1` file) back as a model file
    for the offline tools (fcn_rerank.py): each folded convolution loaded as it is, its batch norm an
    identity: the same weights (exported again, within 5e-7 of the embedded ones)."""
    import torch
    doc = json.load(open(args.pipeline))
    n = doc["heatmap"]["network"] if "heatmap" in doc else doc
    net = network(n["width"])
    state = net.state_dict()
    for name in ("e1", "e2", "e3", "b", "d3", "d2", "d1"):
        for k, (ci, bi) in enumerate(((0, 1), (3, 4))):
            layer = n["layers"][f"{name}.{k}"]
            state[f"{name}.{ci}.weight"] = torch.tensor(layer_values(layer["weight"])).reshape(layer["out"], layer["in"], 3, 3)
            state[f"{name}.{ci}.bias"] = torch.tensor(layer_values(layer["bias"]))
            state[f"{name}.{bi}.weight"] = torch.ones(layer["out"])
            state[f"{name}.{bi}.bias"] = torch.zeros(layer["out"])
            state[f"{name}.{bi}.running_mean"] = torch.zeros(layer["out"])
            state[f"{name}.{bi}.running_var"] = torch.ones(layer["out"]) - net.e1[1].eps  # sqrt(var + eps) = 1
    layer = n["layers"]["out"]
    state["out.weight"] = torch.tensor(layer_values(layer["weight"])).reshape(1, layer["in"], 1, 1)
    state["out.bias"] = torch.tensor(layer_values(layer["bias"]))
    net.load_state_dict(state)
    torch.save({"width": n["width"], "state": net.state_dict()}, args.model)
    print(f"{args.model}: width {n['width']}, from {args.pipeline}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("name")
    c.add_argument("set_dir")
    c.add_argument("--work", required=True)
    c.add_argument("--spacing", type=float, default=1.0)
    c.add_argument("--min-mm", type=float, default=6.0)
    t = sub.add_parser("train")
    t.add_argument("--work", required=True)
    t.add_argument("--train", required=True)
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--crop", type=int, default=192)
    t.add_argument("--pos-weight", type=float, default=5.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--width", type=int, default=16, help="channels at the first level (then 2x, 4x)")
    t.add_argument("--augment", default="flip-gamma", choices=["flip-gamma", "processing"],
                   help="flip-gamma: left-right flips and gamma (as every shipped map); processing: also a random "
                        "imitation of vendor processing per crop (processing_augmentation)")
    t.add_argument("--insert", type=float, default=0.0,
                   help="probability per crop of lesion insertion (insert_nodules; 0: none, as every shipped map)")
    t.add_argument("--insert-contrast", type=float, nargs=2, default=[0.4, 3.0],
                   help="inserted peak contrast range, x the local band-pass texture's standard deviation")
    t.add_argument("--init", help="a trained model (.pt) to start from instead of random weights (fine-tuning)")
    t.add_argument("--fade", type=float, default=0.0,
                   help="per crop, the probability of making its true nodules fainter (fade_nodules)")
    t.add_argument("--fade-strength", type=float, nargs=2, default=[0.25, 1.0],
                   help="the range of the factor a faded nodule's excess over its background is scaled by")
    t.add_argument("--frozen-batch-norm", action="store_true",
                   help="batch norms stay in inference mode (fine-tuning a network extracted from a definition)")
    t.add_argument("--lr", type=float, default=2e-3, help="Adam's initial learning rate (cosine-annealed to 0)")
    t.add_argument("--model", required=True)
    d = sub.add_parser("detect")
    d.add_argument("--work", required=True)
    d.add_argument("--model", required=True)
    d.add_argument("name")
    d.add_argument("--out", required=True)
    e = sub.add_parser("export")
    e.add_argument("--model", required=True)
    e.add_argument("--spacing", type=float, default=1.0)
    e.add_argument("--out", required=True)
    r = sub.add_parser("reference")
    r.add_argument("--model", required=True)
    r.add_argument("--height", type=int, default=37)
    r.add_argument("--width-px", type=int, default=45)
    r.add_argument("--out", required=True)
    b = sub.add_parser("embed")
    b.add_argument("--pipeline", required=True)
    b.add_argument("--network", required=True)
    b.add_argument("--combine", default="replace", choices=["replace", "geometric-mean"])
    b.add_argument("--window", type=float, default=0.5)
    b.add_argument("--resize-log-ratio", type=float, help="sizing from the map (heatmap.resize_log_ratio)")
    b.add_argument("--context-mm", type=float, help="run the network over the candidates' box plus this (heatmap.context_mm)")
    b.add_argument("--scores-measured", action="store_true",
                   help="the map scores every measured candidate, the best reported (heatmap.scores_measured)")
    b.add_argument("--resize-recentres", action="store_true",
                   help="parts re-centred on the map's blobs (heatmap.resize_recentres; needs --resize-log-ratio)")
    b.add_argument("--mirror-averaged", action="store_true",
                   help="the map averaged with the mirror image's (heatmap.mirror_averaged)")
    b.add_argument("--version")
    b.add_argument("--describe", required=True)
    b.add_argument("--out", required=True)
    x = sub.add_parser("extract")
    x.add_argument("--pipeline", required=True)
    x.add_argument("--model", required=True)
    a = ap.parse_args()
    {"cache": cache, "train": train, "detect": detect, "export": export, "reference": reference,
     "embed": embed, "extract": extract}[a.cmd](a)
