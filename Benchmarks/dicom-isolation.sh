#!/usr/bin/env bash
# What decoding DICOM in a worker process costs per file, against decoding in process.
# Runs release `nodules info --json` over N copies of each input, both ways, same run;
# reports the median wall time per file (process start-up amortised over N files) and
# the difference. Usage: Benchmarks/dicom-isolation.sh [N] [REPEATS]
# Needs numpy, pydicom, imagecodecs (for the inputs) and a release build of nodules
# and nodules-dicom-worker (built here).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-40}"
REPEATS="${2:-5}"
IN=Benchmarks/inputs
[ -f "$IN/chest-2048-jpeg-ls.dcm" ] || python3 Benchmarks/peers/make_dicom_inputs.py --out "$IN"
swift build -c release --product nodules >&2
swift build -c release --product nodules-dicom-worker >&2
BIN="$(swift build -c release --show-bin-path)/nodules"
python3 - "$BIN" "$N" "$REPEATS" "$IN" <<'PY'
import statistics, subprocess, sys, time
bin_, n, repeats, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
files = ["small-64x48-explicit-le.dcm", "chest-2048-explicit-le.dcm", "chest-2048-jpeg-ls.dcm"]
def run(mode, path, count):
    t = time.perf_counter()
    subprocess.run([bin_, "info", "--json", "--dicom-isolation", mode] + [path] * count,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t
print(f"N = {n} files per run, median of {repeats} runs")
print(f"{'file':32s} {'in-process ms/file':>20s} {'worker ms/file':>16s} {'cost ms/file':>14s} {'first-file (spawn) ms':>22s}")
for name in files:
    path = f"{folder}/{name}"
    run("worker", path, 1)  # warm the page cache
    per = {}
    for mode in ("in-process", "worker"):
        per[mode] = statistics.median(run(mode, path, n) / n for _ in range(repeats))
    one = {mode: statistics.median(run(mode, path, 1) for _ in range(repeats)) for mode in ("in-process", "worker")}
    print(f"{name:32s} {per['in-process']*1e3:20.2f} {per['worker']*1e3:16.2f} {(per['worker']-per['in-process'])*1e3:14.2f} "
          f"{(one['worker']-one['in-process'])*1e3:22.2f}")
PY
