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
  |measured - true|, mean signed): for every nodule, the highest-scoring candidate at or above the
  set's operating threshold within max(true radius, 4 mm) of its centre (the hit rule of
  `nodules evaluate`, with candidates matched as Benchmarks/analysis/miss_breakdown.py does).
One nodule of 951 is 0.1 point; the pooled standard error of a sensitivity near 50 % over 556
nodules is about 2 points, so differences of a few nodules are noise.
Offline tooling for measuring, never part of the product.
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import miss_breakdown as mb  # noqa: E402


def percentile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


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
            threshold = ev["operatingThreshold"]
            for image in truth["images"]:
                events = mb.events(image, records[image["path"]])
                for k, nodule in enumerate(image["nodules"]):
                    near = [(s, c) for s, inside, c in events if k in inside and s >= threshold]
                    if near:
                        best = max(near, key=lambda e: e[0])[1]
                        if best.get("diameter_mm") is not None:
                            errors.append(abs(best["diameter_mm"] - nodule["diameter_mm"]))
                            signed.append(best["diameter_mm"] - nodule["diameter_mm"])

        def share(pair):
            return f"{pair[0]}/{pair[1]} ({100 * pair[0] / pair[1]:.1f} %)" if pair[1] else "-"
        print(f"{label} ({len(sets)} sets)")
        print("  FP/image " + "  ".join(f"{rate}: {share(froc[rate])}" for rate in sorted(froc)))
        print("  at 2 FP/image " + "  ".join(f"{name}: {share(bands[name])}"
                                             for name in ("all", ">=10 mm", "6-10 mm") if name in bands))
        if errors:
            print(f"  diameter error of hits (n={len(errors)}): median {statistics.median(errors):.2f} mm, "
                  f"p90 {percentile(errors, 90):.2f} mm, mean signed {statistics.mean(signed):+.2f} mm")


if __name__ == "__main__":
    main(sys.argv[1:])
