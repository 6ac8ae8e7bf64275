#!/usr/bin/env bash
# The ordo-one/benchmark suite (Benchmarks/Benchmarks/NoduleKitBenchmarks): time, CPU, allocations and
# peak resident memory per radiograph for decoding and detection, with the Python peers timed on the
# same files in the same run (decode: Pillow and OpenCV; detection: scikit-image blob_log).
#
#   Benchmarks/ordo.sh
#
# Inputs, made when missing: inputs/chest-2048-u16.png (peers/make_decode_inputs.py) and the phantom
# evaluation set's image nearest 2048² (Data/phantom/eval, from its row of heldout-sets.tsv).
# Writes results/ordo.txt (the suite's tables and the peers' lines); last line:
#   decode_ms_nodulekit=… decode_ms_opencv=… detect_ms_nodulekit=… detect_s_blob_log=… detect_mallocs_nodulekit=…
set -euo pipefail
cd "$(dirname "$0")"
PNG=inputs/chest-2048-u16.png
JPG=inputs/chest-2048-q90.jpg
[ -f "$PNG" ] && [ -f "$JPG" ] || python3 peers/make_decode_inputs.py --out inputs
(cd .. && bash Benchmarks/analysis/heldout.sh make eval)
PHANTOM=$(python3 -c "
import json; t=json.load(open('../Data/phantom/eval/truth.json'))
i=min(t['images'], key=lambda i: abs(i['width']*i['height']-2048*2048))
print('../Data/phantom/eval/'+i['path'])")
mkdir -p results
export NODULEKIT_BENCH_PNG=$PWD/$PNG NODULEKIT_BENCH_PHANTOM=$PWD/$PHANTOM NODULEKIT_PIPELINES=$PWD/../Pipelines
swift package benchmark --target NoduleKitBenchmarks --format text --no-progress 2>&1 | tee results/ordo.txt
python3 peers/decode_peers.py --png "$PNG" --jpeg "$JPG" --repeats 15 > results/ordo-decode-peers.json 2>/dev/null
python3 peers/blob_log_peer.py "$PHANTOM" "$PHANTOM" "$PHANTOM" "$PHANTOM" "$PHANTOM" --out /dev/null 2> results/ordo-blob_log.log
tail -n 1 results/ordo-blob_log.log | tee -a results/ordo.txt
python3 - <<'PY' | tee -a results/ordo.txt
import json, re
text = open("results/ordo.txt").read()
def p50(title, metric):
    """The p50 column of one metric row of one benchmark's table, in ms (the table states its unit)."""
    block = text.split(title, 1)[1].split("╘", 1)[0]
    row = next(l for l in block.splitlines() if l.startswith("│ " + metric))
    unit = re.search(r"\((μs|ms|s|K|M)\)", row)
    value = float(row.split("│")[4].strip())
    scale = {"μs": 1e-3, "ms": 1.0, "s": 1e3, "K": 1e3, "M": 1e6}.get(unit.group(1) if unit else "", 1.0)
    return value * scale
peers = json.load(open("results/ordo-decode-peers.json"))["summary_median_s"]["png"]
decode = p50("decode: 2048² 16-bit PNG, digest off", "Time (wall clock)")
detect = p50("detect: normalise + lung field", "Time (wall clock)")
mallocs = p50("detect: normalise + lung field", "Malloc (total)")
blob = re.search(r"median ([0-9.]+) s/image", open("results/ordo-blob_log.log").read()).group(1)
print(f"decode_ms_nodulekit={decode:.1f} decode_ms_opencv={peers['opencv-file'] * 1e3:.1f} "
      f"detect_ms_nodulekit={detect:.1f} detect_s_blob_log={blob} detect_mallocs_nodulekit={mallocs:.0f}")
PY
