"""A serial phantom set as exports without a pixel spacing, to track: MODE `strip` (the same pixels
without pHYs), `crop` (each exam also cropped by 0-6 % on each side, seeded, so framings differ) or
`jpeg` (8-bit JPEG, quality 90, of the 12-bit content divided by 16, as a PACS "export to JPEG" gives).

    python3 Benchmarks/tracking/make_export_series.py SRC_SET OUT_DIR MODE

The truth is written with each image's pixel_spacing_mm set to the spacing pipeline 0.16.0
assumes for it (385 mm over the square root of its area), the mm the tracker then reports, so
score_tracks.py finds the observations; for a definition with a fixed assumed spacing, set that
instead. Nodule centres are moved by the crop. The truth's transforms are left as they were, so
score_tracks.py's registration error is not meaningful for `crop`.
"""
import json, os, sys, cv2, numpy as np
src, out, mode = sys.argv[1:4]
rng = np.random.default_rng(20)
t = json.load(open(f'{src}/truth.json'))
for im in t['images']:
    a = cv2.imread(f"{src}/{im['path']}", -1)
    h, w = a.shape
    if mode == 'crop':
        l, r = (rng.uniform(0, 0.06, 2) * w).astype(int)
        tp, b = (rng.uniform(0, 0.06, 2) * h).astype(int)
    else:
        l = r = tp = b = 0
    a = a[tp:h - b, l:w - r]
    if mode == 'jpeg':
        im['path'] = im['path'].rsplit('.', 1)[0] + '.jpg'
    os.makedirs(os.path.dirname(f"{out}/{im['path']}"), exist_ok=True)
    if mode == 'jpeg':
        cv2.imwrite(f"{out}/{im['path']}", np.clip(a / 16.0, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    else:
        cv2.imwrite(f"{out}/{im['path']}", a)
    im['width'], im['height'] = a.shape[1], a.shape[0]
    im['pixel_spacing_mm'] = 385 / np.sqrt(a.shape[0] * a.shape[1])  # the tracker's mm: the assumed spacing
    im.pop('lung_mask', None)
    for n in im['nodules']:
        n['x'] -= l; n['y'] -= tp
json.dump(t, open(f'{out}/truth.json', 'w'), indent=1)
