"""How large a chest radiograph is in mm, per phantom generator: the basis of the spacing a
pipeline assumes for a file that carries none (`normalisation.assumed_image_extent_mm`).

    python3 Benchmarks/robustness/image_extent.py [COUNT]

For the first COUNT (default 25) images of each evaluation set present under Data/ (ours and
B-F), from the truth's pixel spacing and lung mask: the image's long side, the square root of
its area, and the lung field's width, height and square root of area, in mm. Prints each
generator's median and coefficient of variation, then all pooled with the 5th-95th percentiles.
"""
import collections, json, os, sys
import numpy as np
from PIL import Image

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 25
SETS = ['phantom/eval', 'phantom-b/eval11', 'phantom-c/eval12', 'phantom-d/eval13', 'phantom-e/eval14', 'phantom-f/eval16']
NAMES = ['long side', 'sqrt area', 'lung width', 'lung height', 'sqrt lung area']
rows = collections.defaultdict(list)
for s in SETS:
    if not os.path.exists(f'Data/{s}/truth.json'):
        continue
    for im in json.load(open(f'Data/{s}/truth.json'))['images'][:COUNT]:
        sp, w, h = im['pixel_spacing_mm'], im['width'], im['height']
        mask = im.get('lung_mask')
        if not mask or not os.path.exists(f'Data/{s}/{mask}'):
            continue
        lung = np.array(Image.open(f'Data/{s}/{mask}')) > 0
        ys, xs = np.nonzero(lung)
        rows[s].append((max(w, h) * sp, np.sqrt(w * h) * sp, (xs.max() - xs.min() + 1) * sp,
                        (ys.max() - ys.min() + 1) * sp, np.sqrt(lung.sum()) * sp))
for s, v in rows.items():
    v = np.array(v)
    print(f'{s:18s} {len(v):3d}  ' + '  '.join(
        f'{n} {np.median(v[:, i]):.0f} mm cv {v[:, i].std() / v[:, i].mean() * 100:.0f}%' for i, n in enumerate(NAMES)))
a = np.array([r for v in rows.values() for r in v])
print(f'{"all":18s} {len(a):3d}  ' + '  '.join(
    f'{n} {np.median(a[:, i]):.0f} mm cv {a[:, i].std() / a[:, i].mean() * 100:.0f}% '
    f'(p5-p95 {np.percentile(a[:, i], 5):.0f}-{np.percentile(a[:, i], 95):.0f})' for i, n in enumerate(NAMES)))
