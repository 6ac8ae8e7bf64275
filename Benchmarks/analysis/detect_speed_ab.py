#!/usr/bin/env python3
"""Speed of pipeline definitions side by side: `detect-bench` run for each definition in turn,
ROUNDS times over, on the same images, so that the machine's drift hits them all alike.

  detect_speed_ab.py ROUNDS DEFINITION.json... [--files FILE...] [--threads 2] [--repeats 5]

Images: by default the 4 evaluation phantoms nearest 2048² (`Data/phantom/eval`, as `detect.sh`
picks them). Per definition it prints the median and minimum over rounds of detect-bench's
median-of-file-medians (normalise + detect + measure + map, decode excluded, ms per image) and
of its map stage alone (`map_median_of_medians_s`; 0 for a definition without a map), then
every round's figures. Build detect-bench first (`cd Benchmarks && swift build -c release
--product detect-bench`). Measuring tool, never part of the product.
"""
import argparse
import collections
import json
import os
import statistics
import subprocess

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nearest_2048(root):
    folder = os.path.join(root, "Data", "phantom", "eval")
    truth = json.load(open(os.path.join(folder, "truth.json")))
    chosen = sorted(truth["images"], key=lambda i: abs(i["width"] * i["height"] - 2048 * 2048))[:4]
    return [os.path.join(folder, i["path"]) for i in chosen]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rounds", type=int)
    ap.add_argument("definitions", nargs="+")
    ap.add_argument("--files", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    binary = subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=BENCH,
                                     text=True).strip() + "/detect-bench"
    files = [os.path.abspath(f) for f in args.files] if args.files else nearest_2048(os.path.dirname(BENCH))
    definitions = [os.path.abspath(d) for d in args.definitions]
    total, stage = collections.defaultdict(list), collections.defaultdict(list)
    for _ in range(args.rounds):
        for d in definitions:
            out = subprocess.check_output([binary, "--repeats", str(args.repeats), "--threads", str(args.threads),
                                           "--pipeline", d] + files, text=True)
            r = json.loads(out)
            total[d].append(round(r["median_of_file_medians_s"] * 1000, 1))
            stage[d].append(round((r.get("map_median_of_medians_s") or 0) * 1000, 1))
    for d in definitions:
        print(f"{os.path.basename(d):32s} total median {statistics.median(total[d]):6.1f} min {min(total[d]):6.1f} ms"
              f" | map median {statistics.median(stage[d]):5.1f} min {min(stage[d]):5.1f} ms"
              f" | rounds {total[d]} map {stage[d]}")


if __name__ == "__main__":
    main()
