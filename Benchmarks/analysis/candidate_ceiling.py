#!/usr/bin/env python3
"""How many nodules the candidate stage hands to the score at all (offline, never part of the product).

  candidate_ceiling.py SET_DIR RESULTS.jsonl [RESULTS.jsonl ...]   (from the repository root)

For each `nodules detect` result file of the phantom set SET_DIR (truth.json inside), counts the
nodules >= 10 mm and 6-10 mm that have any reported candidate within the hit radius (max(true
radius, 4 mm), the `nodules evaluate` rule) and that have one of 0.6-1.6 x the true diameter there
("right size": found as the nodule, not as a part of it or with its surroundings), whatever the
score. Run it on the results of pipeline copies that report more (candidates.maximum_reported,
maximum_candidates) or filter less (minimum_blobness) to see which stage loses which nodules.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from miss_breakdown import events, load, right_size  # noqa: E402  the evaluate rule, one copy

if len(sys.argv) < 3:
    print(__doc__)
    sys.exit(2)
for path in sys.argv[2:]:
    truth, _, records = load(os.path.join(sys.argv[1], "truth.json"), path)
    counts = {"big": [0, 0, 0], "mid": [0, 0, 0]}
    for image in truth["images"]:
        reached = events(image, records[image["path"]])
        for k, n in enumerate(image["nodules"]):
            band = "big" if n["diameter_mm"] >= 10 else "mid" if n["diameter_mm"] >= 6 else None
            if band is None:
                continue
            near = [c for _, inside, c in reached if k in inside]
            right = [c for c in near if right_size(c, image, n)]
            counts[band][0] += bool(near)
            counts[band][1] += bool(right)
            counts[band][2] += 1
    per_image = sum(len(r["nodules"]) for r in records.values()) / max(1, len(records))
    b, m = counts["big"], counts["mid"]
    print(f"{path}: >= 10 mm: any candidate {b[0]}, right size {b[1]} of {b[2]}; 6-10 mm: any {m[0]}, right size {m[1]} "
          f"of {m[2]}; candidates per image {per_image:.0f}")
