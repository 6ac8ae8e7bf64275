#!/usr/bin/env python3
"""Diameter error of the hits at 2 FP/image, per phantom set, from `nodules evaluate --json`.

Usage: sizing_by_set.py TRUTH.json:EVALUATION.json [...] [--offset-mm X]

Per set: all hits with a size in mm (|error| median and 90th percentile by nearest rank, as
`nodules evaluate` takes them; signed median), and the *round, centred*
hits (not lobulated, centre within half the hit radius), whose measured/true ratio shows a
sizing bias free of lobes and of hits on another structure inside a large nodule. --offset-mm X
adds 2·X mm to every measured diameter (what `measurement.edge_offset_mm` X would add), to try
an offset without rerunning detection; the line `offset fit` gives the per-side offset that
centres the round, centred hits of all sets given (median of (true − measured) / 2). The last
lines pool every set given by kind of hit: round and centred, lobulated and centred (the
generators define a lobulated nodule's true diameter differently: the mean of its outline's
axes (ours), its area-equivalent diameter (B), the sphere it fits inside (C, D, E)), and
off-centre (centre more than half the hit radius away: mostly a part of the nodule or a
neighbour inside its hit radius).
Offline tooling for measuring, never part of the product.
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pooled import nearest_rank  # noqa: E402  (`nodules evaluate`'s quantile)


def hits(truth_path, evaluation_path):
    """(true D, measured D, lobulated, offset fraction) per hit at 2 FP/image with a size in mm."""
    truth = json.load(open(truth_path))
    images = {i["path"]: i for i in truth["images"]}
    out = []
    for h in json.load(open(evaluation_path))["operatingHits"]:
        if h.get("measuredDiameterMM") is None:  # spacing unknown: no size in mm
            continue
        n = images[h["image"]]["nodules"][h["nodule"]]
        out.append((h["trueDiameterMM"], h["measuredDiameterMM"], bool(n.get("lobulated")), h["offsetFraction"]))
    return out


def main(argv):
    offset = 0.0
    if "--offset-mm" in argv:
        i = argv.index("--offset-mm")
        offset = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    halves = []
    kinds = {"round, centred": [], "lobulated, centred": [], "off-centre": []}
    for pair in argv:
        truth, evaluation = pair.split(":")
        rows = [(t, m + 2 * offset, lob, off) for t, m, lob, off in hits(truth, evaluation)]
        if not rows:
            print(f"{truth}: no hits")
            continue
        err = [m - t for t, m, _, _ in rows]
        for t, m, lob, off in rows:
            kinds["off-centre" if off > 0.5 else "lobulated, centred" if lob else "round, centred"].append(m - t)
        round_centred = [(t, m) for t, m, lob, off in rows if not lob and off <= 0.5]
        halves += [(t - m) / 2 for t, m in round_centred]
        ratios = [m / t for t, m in round_centred]
        print(f"{truth}: hits {len(rows)}, |error| median {nearest_rank([abs(e) for e in err], 0.5):.2f} mm, "
              f"p90 {nearest_rank([abs(e) for e in err], 0.9):.2f} mm, signed median {statistics.median(err):+.2f} mm; "
              f"round and centred {len(round_centred)}, measured/true median "
              f"{statistics.median(ratios) if ratios else float('nan'):.3f}")
    for kind, errors in kinds.items():
        if errors:
            print(f"pooled, {kind}: hits {len(errors)}, |error| median {nearest_rank([abs(e) for e in errors], 0.5):.2f} mm, "
                  f"p90 {nearest_rank([abs(e) for e in errors], 0.9):.2f} mm, signed median {statistics.median(errors):+.2f} mm")
    if halves:
        print(f"offset fit: {statistics.median(halves) + offset:.3f} mm per side (over {len(halves)} round, centred hits)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    main(sys.argv[1:])
