#!/usr/bin/env bash
# LoG-stack benchmark (issue 3): 2048² float32, 10 σ geometric 2…24, σ²-normalised LoG,
# full-resolution output. NoduleKit (both engines, exact and pyramid) against OpenCV and SciPy on
# the same image, in the same run. Last line: speedup_vs_opencv=X floor_ratio=Y.
# Usage: Benchmarks/scale-space.sh [REPEATS]   (needs numpy, scipy, opencv-python-headless, pillow)
set -euo pipefail
cd "$(dirname "$0")"
REPEATS="${1:-5}"
[ -f inputs/chest-2048-u16.png ] || python3 peers/make_decode_inputs.py --out inputs
[ -f inputs/chest-2048-f32.npy ] || python3 -c "
import numpy as np; from PIL import Image
np.save('inputs/chest-2048-f32.npy', np.asarray(Image.open('inputs/chest-2048-u16.png')).astype(np.float32))"
swift build -c release --product scale-space-bench >&2
BIN="$(swift build -c release --show-bin-path)/scale-space-bench"
mkdir -p results
# Both engines (ConvolutionEngine), each in both modes; the default engine's files keep the plain names.
"$BIN" --image inputs/chest-2048-f32.npy --mode exact --engine direct --repeats "$REPEATS" > results/log-exact.json
"$BIN" --image inputs/chest-2048-f32.npy --mode pyramid --engine direct --repeats "$REPEATS" > results/log-pyramid.json
"$BIN" --image inputs/chest-2048-f32.npy --mode exact --engine blas --repeats "$REPEATS" > results/log-blas-exact.json
"$BIN" --image inputs/chest-2048-f32.npy --mode pyramid --engine blas --repeats "$REPEATS" > results/log-blas-pyramid.json
python3 peers/log_stack_peers.py --image inputs/chest-2048-f32.npy --repeats "$REPEATS" > results/log-peers.json 2>/dev/null
python3 - <<'PY'
import json
exact = json.load(open("results/log-exact.json"))
pyr = json.load(open("results/log-pyramid.json"))
blas_exact = json.load(open("results/log-blas-exact.json"))
blas_pyr = json.load(open("results/log-blas-pyramid.json"))
peers = json.load(open("results/log-peers.json"))["peers"]
cv = peers["opencv"]["median_s"]
sp = peers["scipy"]["median_s"]
floor = exact["floor_s_truncate4"]
print(f"sgemm rate here: {exact['sgemm_gflops']:.0f} GFLOP/s (1 OpenBLAS thread per Dispatch worker, {exact['workload']['threads']} workers)")
print(f"compute floor (useful multiply-adds, 4σ kernels, 4 passes): {floor*1e3:.1f} ms; with 3σ kernels {exact['floor_s_truncate3']*1e3:.1f} ms")
rows = [("nodulekit direct pyramid (default)", pyr["median_s"], pyr["peak_rss_mib"]),
        ("nodulekit direct exact", exact["median_s"], exact["peak_rss_mib"]),
        ("nodulekit blas pyramid", blas_pyr["median_s"], blas_pyr["peak_rss_mib"]),
        ("nodulekit blas exact", blas_exact["median_s"], blas_exact["peak_rss_mib"]),
        ("opencv (" + peers["opencv"].get("variant", "") + ")", cv, peers["opencv"].get("peak_rss_mib")),
        ("scipy gaussian_laplace", sp, peers["scipy"].get("peak_rss_mib"))]
for name, t, rss in rows:
    print(f"  {name:34s} {t*1e3:8.1f} ms   opencv/this {cv/t:5.2f}   this/floor {t/floor:5.2f}   peak RSS {rss if rss is None else round(rss)} MiB")
print("  per-σ exact, ms (direct / blas): " + "  ".join(
    f"{s:.1f}: {d*1e3:.1f}/{b*1e3:.1f}" for s, d, b in
    zip(exact["workload"]["sigmas"], exact["per_sigma_median_s"], blas_exact["per_sigma_median_s"])))
print(f"speedup_vs_opencv={cv/pyr['median_s']:.2f} floor_ratio={pyr['median_s']/floor:.2f}")
PY
