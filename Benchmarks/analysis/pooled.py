#!/usr/bin/env python3
"""Pooled detection figures over several phantom sets, per pipeline (pipeline_ab.sh calls this).

Usage:
  pooled.py --run LABEL TRUTH.json RESULTS.jsonl EVALUATION.json [--run ...]

EVALUATION.json is `nodules evaluate --truth TRUTH.json --results RESULTS.jsonl --json`. Runs with
the same LABEL are pooled. Per label it prints:
- sensitivity at 0.5 / 1 / 2 / 4 FP/image pooled over the sets: each set at its own operating
  points (as `nodules evaluate` reports them), hits counted and summed;
- at 2 FP/image, hits / nodules by band (all, >= 10 mm, 6-10 mm), summed from the evaluations;
- the diameter error of the hits at 2 FP/image pooled over the sets (median and 90th percentile of
  |measured - true| by nearest rank, mean signed), with hits matched exactly as `nodules evaluate`
  matches them: candidates in descending score (ties by image, y, x), each hitting the nearest
  not-yet-hit nodule within max(true radius, 4 mm), down to the set's 2 FP/image threshold. On
  one set this prints the same figures as `nodules evaluate`.
Result paths are resolved from the current folder, as `nodules detect` was given them.
One nodule of 951 is 0.1 point; the pooled standard error of a sensitivity near 50 % over 556
nodules is about 2 points, so differences of a few nodules are noise.
Offline tooling for measuring, never part of the product.
"""
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import miss_breakdown as mb  # noqa: E402


def nearest_rank(values, q):
    """`nodules evaluate`'s quantile: the sorted value at index round(q * (n - 1))."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = q * (len(s) - 1)
    return s[min(len(s) - 1, int(math.floor(k + 0.5)))]


def hits_at(truth, records, threshold):
    """(true diameter, measured diameter or None) of every hit at score >= threshold, matched as
    FROCEvaluation does: candidates in descending score, ties by (image, y, x); each hits the
    nearest not-yet-hit nodule within max(true radius, 4 mm)."""
    candidates = []
    for i, image in enumerate(truth["images"]):
        for c in records[image["path"]]["nodules"]:
            d = c.get("diameter_mm")
            if d is None:
                d = c["diameter_px"] * image["pixel_spacing_mm"]
            candidates.append((-c["score"], i, c["y"], c["x"], d, c["score"]))
    candidates.sort()
    hit, out = set(), []
    for _, i, y, x, d, score in candidates:
        if score < threshold:
            break
        image = truth["images"][i]
        best = None
        for k, n in enumerate(image["nodules"]):
            distance = math.hypot(x - n["x"], y - n["y"]) * image["pixel_spacing_mm"]
            if distance > max(n["diameter_mm"] / 2, 4.0) or (i, k) in hit:
                continue
            if best is None or distance < best[1]:
                best = (k, distance)
        if best is not None:
            hit.add((i, best[0]))
            out.append((image["nodules"][best[0]]["diameter_mm"], d))
    return out


def main(argv):
    runs = {}
    i = 0
    while i < len(argv):
        if argv[i] != "--run" or len(argv) - i < 5:
            sys.exit(__doc__)
        label, truth, results, evaluation = argv[i + 1:i + 5]
        runs.setdefault(label, []).append((truth, results, evaluation))
        i += 5
    for label, sets in runs.items():
        froc, bands, errors, signed = {}, {}, [], []
        for truth_path, results_path, evaluation_path in sets:
            ev = json.load(open(evaluation_path))
            for point in ev["froc"]:
                rate = point["falsePositivesPerImage"]
                froc.setdefault(rate, [0, 0])
                froc[rate][0] += round(point["sensitivity"] * ev["nodules"])
                froc[rate][1] += ev["nodules"]
            for band in ev["bands"]:
                bands.setdefault(band["name"], [0, 0])
                bands[band["name"]][0] += band["hits"]
                bands[band["name"]][1] += band["nodules"]
            truth, _, records = mb.load(truth_path, results_path)
            matched = sum(1 for image in truth["images"] if "path" in records[image["path"]])
            if matched < len(truth["images"]):
                # Result paths are resolved from the current folder, as `nodules detect` was given them.
                print(f"warning: {results_path}: {len(truth['images']) - matched} of {len(truth['images'])} truth images "
                      "have no result record (run from the folder the detection ran in)", file=sys.stderr)
            threshold = ev.get("operatingThreshold")
            if threshold is None:
                continue  # no candidate at all within 2 FP/image: no hits to size
            for truth_d, measured in hits_at(truth, records, threshold):
                if measured is not None:
                    errors.append(abs(measured - truth_d))
                    signed.append(measured - truth_d)

        def share(pair):
            return f"{pair[0]}/{pair[1]} ({100 * pair[0] / pair[1]:.1f} %)" if pair[1] else "-"
        print(f"{label} ({len(sets)} sets)")
        print("  FP/image " + "  ".join(f"{rate}: {share(froc[rate])}" for rate in sorted(froc)))
        print("  at 2 FP/image " + "  ".join(f"{name}: {share(bands[name])}"
                                             for name in ("all", ">=10 mm", "6-10 mm") if name in bands))
        if errors:
            print(f"  diameter error of hits (n={len(errors)}): median {nearest_rank(errors, 0.5):.2f} mm, "
                  f"p90 {nearest_rank(errors, 0.9):.2f} mm, mean signed {statistics.mean(signed):+.2f} mm")


if __name__ == "__main__":
    main(sys.argv[1:])
