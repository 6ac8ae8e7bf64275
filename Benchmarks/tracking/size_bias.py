#!/usr/bin/env python3
"""Size-dependent sizing bias of tracked nodules, and what it does to growth (offline, never part of the product).

Usage: size_bias.py NAME:TRUTH.json:TRACKS.json [NAME:TRUTH.json:TRACKS.json ...]

For the identities linked in one track with a growth rate (rate_calibration.py's selection), per set:
- measured / true diameter (median) of their observations by true-diameter band (5 mm bands; 30 and over pooled);
- for the truly growing ones (true rate of 3 ln D above 0.5e-3 per day), the median of estimated / true growth rate.
A sizing ratio that falls with size makes growth look slower than it is (a VDT too long): a constant ratio would not.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rate_calibration import calibration  # noqa: E402


def main(arguments):
    for argument in arguments:
        name, truth_path, tracks_path = argument.split(":")
        _, rows = calibration(truth_path, tracks_path)
        bands = {}
        growth = []
        for _pid, _nid, _status, true_rate, estimated, _sd, _z, true_d, measured_d, _sds in rows:
            for t, m in zip(true_d, measured_d):
                bands.setdefault(min(int(t // 5) * 5, 30), []).append(m / t)
            if true_rate > 0.5:
                growth.append(estimated / true_rate)
        text = "  ".join("%d-%s mm %.2f (n %d)" % (b, str(b + 5) if b < 30 else "", statistics.median(v), len(v))
                         for b, v in sorted(bands.items()))
        rate = "%.2f (n %d)" % (statistics.median(growth), len(growth)) if growth else "-"
        print("%s: measured/true by true size: %s | growing: estimated/true rate median %s" % (name, text, rate))


if __name__ == "__main__":
    main(sys.argv[1:])
