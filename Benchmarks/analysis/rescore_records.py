#!/usr/bin/env python3
"""Score detection records again with another definition's score model, offline (never part of the product).

For comparing score models fitted on different training data without rerunning detection: every
reported candidate of each record file gets the probability that DEFINITION's `score` gives its
features (the same arithmetic as `PipelineDefinition.ScoreModel.probability`: per-feature
transform, standardising, linear and quadratic terms, hidden ReLU units), and the nodules >= 10 mm
hit at 2 FP/image are counted by the evaluate rule. The candidates themselves stay those the
records' own pipeline reported (its measured-outline suppression ran with its own score), so run it
on records that report every measured candidate (candidates.maximum_reported = maximum_candidates).
The `max |difference|` figure compares the probabilities with the records' own scores: below 1e-12
when DEFINITION is the pipeline that made them (3.3e-16 for 0.16.0), a check on this arithmetic.

Usage (from the repository root; NAME=SET_DIR:RESULTS.jsonl pairs):
  python3 Benchmarks/analysis/rescore_records.py DEFINITION.json NAME=SET_DIR:RESULTS.jsonl ...
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from miss_breakdown import events, load, nodules_hit  # noqa: E402  the results loader and the evaluate rule


def transformed(value, transform):
    if transform == "log":
        return math.log(max(value, 1e-4))
    if transform == "clamp40":
        return min(max(value, -40.0), 40.0)
    return value


def probability(model, named):
    transforms = model.get("transforms") or {}

    def z(name):
        scale = model["scales"].get(name, 1) or 1
        return (transformed(named.get(name, 0.0), transforms.get(name)) - model["means"].get(name, 0.0)) / scale

    logit = model["intercept"]
    for name in sorted(model["weights"]):
        logit += model["weights"][name] * z(name)
    for name in sorted(model.get("quadratic_weights") or {}):
        logit += model["quadratic_weights"][name] * z(name) ** 2
    hidden = model.get("hidden")
    if hidden:
        inputs = [z(name) for name in hidden["inputs"]]
        for weights, bias, out in zip(hidden["weights"], hidden["bias"], hidden["output_weights"]):
            logit += out * max(0.0, bias + sum(w * x for w, x in zip(weights, inputs)))
    return 1 / (1 + math.exp(-logit))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    model = json.load(open(sys.argv[1]))["score"]
    pooled, names, counts, worst = 0, [], [], 0.0
    for spec in sys.argv[2:]:
        name, paths = spec.split("=", 1)
        folder, results = paths.split(":", 1)
        truth, _, records = load(os.path.join(folder, "truth.json"), results)
        ranked = []
        for i, image in enumerate(truth["images"]):
            for score, inside, candidate in events(image, records[image["path"]]):
                p = probability(model, candidate["features"])
                worst = max(worst, abs(p - score))
                ranked.append((p, [(i, k) for k in inside]))
        ranked.sort(key=lambda e: -e[0])
        hit = nodules_hit((reach for _, reach in ranked), 2.0 * len(truth["images"]))
        big = sum(1 for i, k in hit if truth["images"][i]["nodules"][k]["diameter_mm"] >= 10)
        names.append(name)
        counts.append(big)
        pooled += big
    print(f"{os.path.basename(sys.argv[1])}: nodules >= 10 mm at 2 FP/image "
          + " ".join(f"{n} {c}" for n, c in zip(names, counts)) + f"; pooled {pooled}; max |difference| from the records' score {worst:.1e}")


if __name__ == "__main__":
    main()
