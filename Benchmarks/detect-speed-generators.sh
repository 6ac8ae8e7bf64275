#!/usr/bin/env bash
# Detection speed on every phantom generator's images, against the blob_log peer in the same run.
#
#   Benchmarks/detect-speed-generators.sh [REPEATS]
#
# The held-out phantoms are made by code the team does not see, so the ≤ 100 ms per 2048² image
# target (issue 4) is checked on each generator's evaluation set present under Data/ (ours
# Data/phantom/eval; B–F as Benchmarks/independent/run.sh makes them): the 4 images nearest
# 2048² of each, `detect-bench` (normalise + detect + measure, decode excluded, median of
# REPEATS per file, then the median over the files; 2 threads on a 2-core machine) and the
# peer (Benchmarks/peers/blob_log_peer.py: read + downsample + normalise + blob_log, median)
# on the same files, set after set. One line per set; last line: worst_ms_per_image_nodulekit=…
set -euo pipefail
cd "$(dirname "$0")"
REPEATS="${1:-5}"
ROOT=$(cd .. && pwd)
export NODULEKIT_PIPELINES=$ROOT/Pipelines
swift build -c release --product detect-bench >&2
BENCH="$(swift build -c release --show-bin-path)/detect-bench"
mkdir -p results
worst=0
printf '%-22s %-24s %12s %16s\n' set "sizes (px)" "nodulekit" "blob_log peer"
for set in phantom/eval phantom-b/eval11 phantom-c/eval12 phantom-d/eval13 phantom-e/eval14 phantom-f/eval16; do
    E=$ROOT/Data/$set
    [ -f "$E/truth.json" ] || { echo "$set: not present (skipped)"; continue; }
    mapfile -t FILES < <(python3 -c "
import json; t = json.load(open('$E/truth.json'))
c = sorted((i for i in t['images'] if i['path'].endswith('.png')), key=lambda i: abs(i['width'] * i['height'] - 2048 * 2048))[:4]
print('\n'.join('$E/' + i['path'] for i in c))")
    name=$(echo "$set" | tr / _)
    "$BENCH" --repeats "$REPEATS" "${FILES[@]}" > "results/speed-$name.json"
    python3 peers/blob_log_peer.py "${FILES[@]}" --out /dev/null 2> "results/speed-$name-blob_log.log"
    line=$(python3 - "$name" <<'PY'
import json, re, sys
name = sys.argv[1]
d = json.load(open(f"results/speed-{name}.json"))
sizes = " ".join(f"{f['width']}x{f['height']}" for f in d["files"].values())
m = re.search(r"median ([0-9.]+) s/image", open(f"results/speed-{name}-blob_log.log").read())
ms = d["median_of_file_medians_s"] * 1e3
print(f"{ms:.1f} {m.group(1) if m else 'nan'} {sizes}")
PY
)
    read -r ms peer sizes <<< "$line"
    printf '%-22s %-24s %9.1f ms %13s s\n' "$set" "$(echo $sizes | cut -d' ' -f1-2)…" "$ms" "$peer"
    worst=$(python3 -c "print(max($worst, $ms))")
done
echo "worst_ms_per_image_nodulekit=$worst"
