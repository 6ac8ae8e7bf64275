#!/usr/bin/env python3
"""Pooled detection figures over several phantom sets, per pipeline (pipeline_ab.sh calls this).

Usage:
  pooled.py --run LABEL EVALUATION.json [--run ...]

EVALUATION.json is `nodules evaluate --truth TRUTH.json --results RESULTS.jsonl --json`. Runs with
the same LABEL are pooled. Per label it prints:
- sensitivity at 0.5 / 1 / 2 / 4 FP/image pooled over the sets: each set at its own operating
  points (as `nodules evaluate` reports them), hits counted and summed;
- at 2 FP/image, hits / nodules by band (all, >= 10 mm, 6-10 mm), summed from the evaluations;
- the diameter error of the hits at 2 FP/image pooled over the sets (median and 90th percentile of
  |measured - true| by nearest rank, as `nodules evaluate` takes them, and the mean signed error),
  from each evaluation's `operatingHits`. On one set this prints the same figures as
  `nodules evaluate`.
One nodule of 951 is 0.1 point; the pooled standard error of a sensitivity near 50 % over 556
nodules is about 2 points, so differences of a few nodules are noise.
Offline tooling for measuring, never part of the product.
"""
import json
import math
import statistics
import sys


def nearest_rank(values, q):
    """`nodules evaluate`'s quantile: the sorted value at index round(q * (n - 1))."""
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, int(math.floor(q * (len(s) - 1) + 0.5)))]


def main(argv):
    runs = {}
    i = 0
    while i < len(argv):
        if argv[i] != "--run" or len(argv) - i < 3:
            sys.exit(__doc__)
        runs.setdefault(argv[i + 1], []).append(argv[i + 2])
        i += 3
    for label, evaluations in runs.items():
        froc, bands, errors, signed = {}, {}, [], []
        for path in evaluations:
            ev = json.load(open(path))
            for point in ev["froc"]:
                rate = point["falsePositivesPerImage"]
                froc.setdefault(rate, [0, 0])
                froc[rate][0] += round(point["sensitivity"] * ev["nodules"])
                froc[rate][1] += ev["nodules"]
            for band in ev["bands"]:
                bands.setdefault(band["name"], [0, 0])
                bands[band["name"]][0] += band["hits"]
                bands[band["name"]][1] += band["nodules"]
            for hit in ev["operatingHits"]:
                if hit.get("measuredDiameterMM") is not None:
                    errors.append(abs(hit["measuredDiameterMM"] - hit["trueDiameterMM"]))
                    signed.append(hit["measuredDiameterMM"] - hit["trueDiameterMM"])

        def share(pair):
            return f"{pair[0]}/{pair[1]} ({100 * pair[0] / pair[1]:.1f} %)" if pair[1] else "-"
        print(f"{label} ({len(evaluations)} sets)")
        print("  FP/image " + "  ".join(f"{rate}: {share(froc[rate])}" for rate in sorted(froc)))
        print("  at 2 FP/image " + "  ".join(f"{name}: {share(bands[name])}"
                                             for name in ("all", ">=10 mm", "6-10 mm") if name in bands))
        if errors:
            print(f"  diameter error of hits (n={len(errors)}): median {nearest_rank(errors, 0.5):.2f} mm, "
                  f"p90 {nearest_rank(errors, 0.9):.2f} mm, mean signed {statistics.mean(signed):+.2f} mm")


if __name__ == "__main__":
    main(sys.argv[1:])
