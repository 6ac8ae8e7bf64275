#!/usr/bin/env python3
"""Where a phantom set's true nodules lie against the detector's lung field (offline, never part of the product).

Usage: lung_coverage.py TRUTH.json OVERLAY_DIR

OVERLAY_DIR is from `nodules detect --overlay DIR` (NNN-STEM.lungs.png, the field on the ~2 mm mask grid). Counts the true
centres inside the field, within 6 mm of it (the pipeline's candidate margin) and further out (and how many of those are
>= 10 mm). Candidates further out can still come from the apices and the prior regions, but mostly do not.
"""
import glob
import json
import os
import sys

import cv2
import numpy as np

truth_path, overlay = sys.argv[1:3]
truth = json.load(open(truth_path))
masks = {os.path.basename(f)[:-len('.lungs.png')].split('-', 1)[1]: f for f in glob.glob(overlay + '/*.lungs.png')}
inside = near = outside = 0; big_out = 0
for im in truth['images']:
    stem = os.path.splitext(os.path.basename(im['path']))[0]
    m = cv2.imread(masks[stem], cv2.IMREAD_GRAYSCALE) > 127
    gh, gw = m.shape; sx, sy = gw / im['width'], gh / im['height']
    cell = im['pixel_spacing_mm'] / sx  # mm per grid px
    dist = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5) * cell
    for n in im['nodules']:
        gx, gy = int((n['x'] + .5) * sx), int((n['y'] + .5) * sy)
        d = dist[min(gy, gh-1), min(gx, gw-1)]
        if d == 0: inside += 1
        elif d <= 6: near += 1
        else:
            outside += 1; big_out += n['diameter_mm'] >= 10
print('%s: inside %d, within 6 mm %d, further out %d (>=10 mm: %d)' % (truth_path, inside, near, outside, big_out))
