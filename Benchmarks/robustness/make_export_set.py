"""Copies of a phantom evaluation set as archives export them, with a truth file for each copy.

    python3 Benchmarks/robustness/make_export_set.py SET_DIR OUT_DIR MODE [COUNT]

MODE `full`: the same pixels, PNG without pHYs (so without a pixel spacing).
MODE `web`: resized (area average) to 1024 px on the long side, 8-bit, without pHYs, the way
public archives and web exports ship chest radiographs. MODE `webs`: the same with the copy's
true spacing in pHYs (the control). MODE `jpeg`: the `web` copy as a quality-90 baseline JPEG
(OpenCV's JFIF header states no physical density), named `.jpg`. The truth keeps the true spacing of each copy, and nodule
centres are mapped pixel centre to pixel centre, so `nodules evaluate` scores hits in mm.
"""
import json, sys, os, numpy as np, cv2
src, out, mode = sys.argv[1:4]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 40
t = json.load(open(f'{src}/truth.json'))
os.makedirs(f'{out}/images', exist_ok=True)
imgs = []
for im in t['images'][:count]:
    a = cv2.imread(f"{src}/{im['path']}", cv2.IMREAD_UNCHANGED)
    h, w = a.shape[:2]
    if mode == 'full':
        f = 1.0; b = a
    else:
        f = 1024 / max(w, h)
        b = cv2.resize(a, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        b = np.clip(b.astype(np.float64) / max(4095, b.max()) * 255 + 0.5, 0, 255).astype(np.uint8)
    fx, fy = b.shape[1] / w, b.shape[0] / h
    name = os.path.basename(im['path'])
    if mode == 'webs':
        import png
        ppm = round(1000 / (im['pixel_spacing_mm'] / ((fx + fy) / 2)))
        with open(f'{out}/images/{name}', 'wb') as fh:
            png.Writer(b.shape[1], b.shape[0], greyscale=True, bitdepth=8, x_pixels_per_unit=ppm, y_pixels_per_unit=ppm, unit_is_meter=True).write(fh, b.tolist())
    elif mode == 'jpeg':
        name = os.path.splitext(name)[0] + '.jpg'
        cv2.imwrite(f'{out}/images/{name}', b, [cv2.IMWRITE_JPEG_QUALITY, 90])
    else:
        cv2.imwrite(f'{out}/images/{name}', b)
    n = dict(im); n['path'] = f'images/{name}'; n['width'] = b.shape[1]; n['height'] = b.shape[0]
    n['pixel_spacing_mm'] = im['pixel_spacing_mm'] / ((fx + fy) / 2)
    n.pop('lung_mask', None)
    n['nodules'] = [dict(k, x=(k['x'] + 0.5) * fx - 0.5, y=(k['y'] + 0.5) * fy - 0.5) for k in im['nodules']]
    imgs.append(n)
t = dict(t); t['images'] = imgs
json.dump(t, open(f'{out}/truth.json', 'w'), indent=1)
