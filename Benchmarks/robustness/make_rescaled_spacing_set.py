"""The first 40 images of a phantom evaluation set, pixels unchanged, with a `pHYs` that states the
true spacing times FACTOR: how much detection depends on a spacing that is off (as an assumed
one is). The truth is copied unchanged, so `nodules evaluate` scores hits in true mm.

    python3 Benchmarks/robustness/make_rescaled_spacing_set.py SET_DIR OUT_DIR FACTOR

Then `nodules detect OUT_DIR/images/*.png --out R.jsonl` and
`nodules evaluate --truth OUT_DIR/truth.json --results R.jsonl`.
"""
import json
import os
import sys

import cv2
import png

src, out, factor = sys.argv[1], sys.argv[2], float(sys.argv[3])
t = json.load(open(f'{src}/truth.json'))
os.makedirs(f'{out}/images', exist_ok=True)
for im in t['images'][:40]:
    a = cv2.imread(f"{src}/{im['path']}", cv2.IMREAD_UNCHANGED)
    ppm = round(1000 / (im['pixel_spacing_mm'] * factor))
    with open(f"{out}/images/{os.path.basename(im['path'])}", 'wb') as fh:
        png.Writer(a.shape[1], a.shape[0], greyscale=True, bitdepth=16, x_pixels_per_unit=ppm, y_pixels_per_unit=ppm,
                   unit_is_meter=True).write(fh, a.tolist())
t['images'] = t['images'][:40]
json.dump(t, open(f'{out}/truth.json', 'w'))
