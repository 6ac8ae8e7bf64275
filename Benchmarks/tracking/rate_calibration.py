#!/usr/bin/env python3
"""Calibration of the tracker's growth-rate uncertainty on phantom series (offline, never part of the product).

Usage: rate_calibration.py TRUTH.json TRACKS.json [TRUTH.json TRACKS.json ...]

For every identity linked in one track (score_tracks.py's rule) with a growth rate and its SD, z = (estimated rate -
true rate) / SD, where the true rate is the least-squares slope of 3 ln(true diameter) against days. A calibrated SD gives
SD(z) about 1, median |z| about 0.67 and |z| < 1.96 for about 95 %; per track it prints patient, nodule, status, true
and estimated rate (1e-3 per day), SD, z, true and measured diameters (mm) and the per-measurement SDs.
"""
import datetime
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score_tracks import identities  # noqa: E402


def days(a, b):
    return (datetime.date.fromisoformat(b) - datetime.date.fromisoformat(a)).days


def calibration(truth_path, tracks_path):
    """(z values, per-track rows) for the identities linked in one track over two or more exams."""
    truth = json.load(open(truth_path))
    tracks = {p["patient_id"]: p for p in json.load(open(tracks_path))}
    zs, rows = [], []
    for pid in sorted({i["patient_id"] for i in truth["images"]}):
        images = sorted([i for i in truth["images"] if i["patient_id"] == pid], key=lambda i: i["study_date"])
        out = tracks.get(pid)
        if not out:
            continue
        for nid, v in identities(images, out).items():
            if not v["linked"] or len(v["exams"]) < 2:
                continue
            t = out["tracks"][v["exams"][0][2][0]]
            first = v["exams"][0][0]
            ts = [days(first, d) for d, _, _ in v["exams"]]
            ys = [3 * math.log(diameter) for _, diameter, _ in v["exams"]]
            mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
            true_rate = sum((a - mt) * (b - my) for a, b in zip(ts, ys)) / sum((a - mt) ** 2 for a in ts)
            est, sd = t.get("growth_rate_per_day"), t.get("growth_rate_sd_per_day")
            if est is None or not sd:
                continue
            z = (est - true_rate) / sd
            zs.append(z)
            rows.append((pid, nid, t["status"], round(true_rate * 1000, 2), round(est * 1000, 2), round(sd * 1000, 2), round(z, 2),
                         [round(d, 1) for _, d, _ in v["exams"]], [round(h[4], 1) for _, _, h in v["exams"]],
                         [h[5] for _, _, h in v["exams"]]))
    return zs, rows


def main(paths):
    for truth_path, tracks_path in zip(paths[0::2], paths[1::2]):
        zs, rows = calibration(truth_path, tracks_path)
        name = os.path.basename(tracks_path)
        if not zs:
            print(name, "none")
            continue
        print("%s: n %d  SD(z) %.2f  median|z| %.2f  |z|<1.96: %d/%d" % (
            name, len(zs), statistics.pstdev(zs), statistics.median(abs(z) for z in zs), sum(abs(z) < 1.96 for z in zs), len(zs)))
        for r in rows:
            print("   ", r)


if __name__ == "__main__":
    main(sys.argv[1:])
