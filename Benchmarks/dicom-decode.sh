#!/usr/bin/env bash
# DICOM decode time per transfer syntax on a 2048x2048 12-bit image: NoduleKit (GDCM in its
# worker process, the default, and in process) against pydicom with pylibjpeg /
# pylibjpeg-openjpeg / pylibjpeg-libjpeg, on the same files, in the same run.
# Python comes from .build/dicom-venv (scripts/dicom-venv.sh) plus imagecodecs for the
# JPEG / JPEG-LS encoders that make the inputs.
# Usage: Benchmarks/dicom-decode.sh [REPEATS]     (prints a table; keep it with the command)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS="${1:-9}"
scripts/dicom-venv.sh
PY=.build/dicom-venv/bin/python
"$PY" -c 'import imagecodecs' 2>/dev/null || "$PY" -m pip install --quiet --disable-pip-version-check "imagecodecs==2026.3.6"
IN=Benchmarks/inputs/dicom-syntaxes
[ -f "$IN/rle.dcm" ] || "$PY" Benchmarks/peers/make_dicom_syntax_inputs.py "$IN" >&2
swift build -c release --product nodules >&2
swift build -c release --product nodules-dicom-worker >&2
BIN="$(swift build -c release --show-bin-path)/nodules"
mkdir -p Benchmarks/results
FILES=("$IN"/*.dcm)
# NoduleKit: release `nodules info --json` over N copies of one file (process start-up amortised),
# GDCM in the worker (default) and in process; per-file time includes reading, the modality
# mapping and info's image statistics. pydicom: dcmread + pixel_array + apply_modality_lut.
"$PY" - "$BIN" "$REPEATS" "${FILES[@]}" > Benchmarks/results/dicom-decode-nodulekit.json <<'PY'
import json, statistics, subprocess, sys, time
bin_, repeats, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
N = 5
out = {}
for path in files:
    subprocess.run([bin_, "info", "--json", path], check=True, stdout=subprocess.DEVNULL)  # warm
    out[path] = {}
    for mode in ("worker", "in-process"):
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run([bin_, "info", "--json", "--dicom-isolation", mode] + [path] * N, check=True, stdout=subprocess.DEVNULL)
            runs.append((time.perf_counter() - t) / N)
        out[path][mode] = statistics.median(runs)
print(json.dumps(out))
PY
"$PY" Benchmarks/peers/dicom_decode_peers.py --repeats "$REPEATS" "${FILES[@]}" > Benchmarks/results/dicom-decode-pydicom.json
"$PY" - <<'PY'
import json, os
ours = json.load(open("Benchmarks/results/dicom-decode-nodulekit.json"))
peer = json.load(open("Benchmarks/results/dicom-decode-pydicom.json"))
print(f"pydicom {peer['pydicom']}; median ms per file, 2048x2048 12-bit")
print(f"{'file':28s} {'MB':>6s} {'NoduleKit worker':>17s} {'NoduleKit in-proc':>18s} {'pydicom':>9s} {'pydicom/worker':>15s}")
for path in sorted(ours):
    w, i, p = ours[path]["worker"], ours[path]["in-process"], peer["files"][path]["median_s"]
    print(f"{os.path.basename(path):28s} {os.path.getsize(path)/1e6:6.2f} {w*1e3:17.1f} {i*1e3:18.1f} {p*1e3:9.1f} {p/w:15.2f}")
PY
