#!/usr/bin/env python3
"""How many of `nodules track`'s tracks follow a nodule, and how well a track's `detection_score`
tells them from tracks of anatomy, pooled over phantom serial sets.

Usage: track_evidence.py [--operating-points FILE] TRUTH.json TRACKS.json [TRUTH.json TRACKS.json ...]

- A track *follows a nodule* when some observation of it hits a truth nodule of its patient on that
  exam (the hit rule of score_tracks.py: centre within max(true radius, 4 mm) of the true centre, in
  the exam's own mm); otherwise it follows anatomy or noise (a rib crossing, an end-on vessel).
- AUC: the probability that a track following a nodule has a higher `detection_score` than one that
  does not (ties count one half): 0.5 is no better than chance.
- Then, for each score of the operating-points file (default: Pipelines/operating-points/cxr-nodules.json),
  what a reviewer who set aside the tracks below it would keep: tracks, those following no nodule,
  and the identities linked in one track (score_tracks.py's definition) whose track is kept.
Python here is tooling for measuring, never part of the product.
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score_tracks import identities  # noqa: E402


def follows_nodule(track, patient_images):
    """Whether an observation of `track` hits a truth nodule of its exam (`patient_images`: by study date)."""
    for o in track["observations"]:
        im = patient_images.get(o["study_date"])
        if im is None:
            continue
        sp = im["pixel_spacing_mm"]
        for n in im["nodules"]:
            if math.hypot(o["x_mm"] - (n["x"] + 0.5) * sp, o["y_mm"] - (n["y"] + 0.5) * sp) <= max(n["diameter_mm"] / 2, 4.0):
                return True
    return False


def rows_of(truth_path, tracks_path):
    """(detection_score or None, follows a nodule, number of linked identities on it) per track."""
    truth = json.load(open(truth_path))
    rows = []
    for p in json.load(open(tracks_path)):
        images = sorted((i for i in truth["images"] if i["patient_id"] == p["patient_id"]), key=lambda i: i["study_date"])
        linked_on = {}
        for v in identities(images, p).values():
            if v["linked"]:
                k = v["exams"][0][2][0]
                linked_on[k] = linked_on.get(k, 0) + 1
        by_date = {i["study_date"]: i for i in images}
        for k, t in enumerate(p["tracks"]):
            rows.append((t.get("detection_score"), follows_nodule(t, by_date), linked_on.get(k, 0)))
    return rows


def auc(positive, negative):
    if not positive or not negative:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in positive for b in negative)
    return wins / (len(positive) * len(negative))


def main(argv):
    points_path = "Pipelines/operating-points/cxr-nodules.json"
    if argv[:1] == ["--operating-points"]:
        points_path, argv = argv[1], argv[2:]
    if len(argv) < 2 or len(argv) % 2:
        sys.exit(__doc__)
    rows = []
    for truth_path, tracks_path in zip(argv[0::2], argv[1::2]):
        rows += rows_of(truth_path, tracks_path)
    score = lambda r: -1.0 if r[0] is None else r[0]
    on = [score(r) for r in rows if r[1]]
    off = [score(r) for r in rows if not r[1]]
    a = auc(on, off)
    linked = sum(r[2] for r in rows)
    print(f"tracks {len(rows)}; following a nodule {len(on)}; following none {len(off)} "
          f"({100 * len(off) / max(1, len(rows)):.0f} %); linked identities {linked}")
    print(f"detection_score AUC (nodule against none) {'–' if a is None else f'{a:.3f}'}; tracks without a score {sum(1 for r in rows if r[0] is None)}")
    for p in json.load(open(points_path))["points"]:
        kept = [r for r in rows if score(r) >= p["score"]]
        print(f"  tracks with detection_score >= {p['score']} ({p['false_positives_per_image']} FP/image): {len(kept)}, "
              f"following none {sum(1 for r in kept if not r[1])}, linked identities {sum(r[2] for r in kept)} of {linked}")


if __name__ == "__main__":
    main(sys.argv[1:])
