#!/usr/bin/env bash
# How often a chest turned by 90° is recognised as such (and an upright one is not), per generator.
#
#   Benchmarks/robustness/turned_check.sh [COUNT] [WORKDIR]
#
# For the first COUNT (default 20) images of each generator's evaluation set present under Data/
# (ours and B-F), writes a copy turned by 90° (numpy.rot90, 16-bit PNG), runs `nodules detect` on
# the upright originals and on the turned copies, and counts the records warning "the image looks
# turned by 90°". Prints one line per set: upright flagged, turned flagged, of COUNT.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${1:-20}"
WORK="${2:-$(mktemp -d -t nodulekit-turned.XXXXXX)}"
swift build -c release --product nodules >&2
export NODULEKIT_PIPELINES=$PWD/Pipelines
for set in phantom/eval phantom-b/eval11 phantom-c/eval12 phantom-d/eval13 phantom-e/eval14 phantom-f/eval16; do
    [ -f "Data/$set/truth.json" ] || { echo "$set: not present (skipped)"; continue; }
    name=$(echo "$set" | tr / _)
    mkdir -p "$WORK/$name"
    mapfile -t FILES < <(ls Data/$set/images/*.png | head -n "$COUNT")
    python3 - "$WORK/$name" "${FILES[@]}" <<'PY'
import sys, os, cv2, numpy as np
out = sys.argv[1]
for f in sys.argv[2:]:
    cv2.imwrite(os.path.join(out, os.path.basename(f)), np.ascontiguousarray(np.rot90(cv2.imread(f, -1))))
PY
    .build/release/nodules detect --quiet "${FILES[@]}" --out "$WORK/$name-upright.jsonl" || true
    .build/release/nodules detect --quiet "$WORK/$name"/*.png --out "$WORK/$name-turned.jsonl" || true
    up=$(grep -c 'looks turned by 90' "$WORK/$name-upright.jsonl" || true)
    tu=$(grep -c 'looks turned by 90' "$WORK/$name-turned.jsonl" || true)
    echo "$set: upright flagged $up of ${#FILES[@]}, turned flagged $tu of ${#FILES[@]}"
done
