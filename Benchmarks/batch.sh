#!/usr/bin/env bash
# Batch benchmark (issue 5): `nodules batch` end to end against decode only and against the
# skimage blob_log peer, on the same folder of phantom radiographs, in one run; peak RSS of
# `nodules batch` on SMALL vs LARGE files.
#
#   Benchmarks/batch.sh [LARGE] [PEER_LIMIT]
#
# LARGE (default 2000): file count of the memory run. PEER_LIMIT (default: all 200): how many of
# the 200 files the peer processes (its throughput is per image; a subset only saves time).
# Inputs (cached, gitignored, under Benchmarks/inputs/): 25 phantoms from
# Data/phantom/make_phantoms.py --count 25 --seed 2051 --spacing-range 0.19:0.19 (12-bit data in
# 16-bit grey PNG, 1850-2260 px a side, ~2048² on average), written as 200 (and LARGE) distinct
# files by peers/make_batch_inputs.py (same pixels, a per-copy tEXt chunk, so every SHA-256
# differs and nothing is skipped as already stored).
# Needs: numpy, scipy, opencv-python-headless, scikit-image; GNU time at /usr/bin/time.
# Last line: throughput_vs_decode=X speedup_vs_peer=Y
set -euo pipefail
cd "$(dirname "$0")/.."
LARGE="${1:-2000}"
PEER_LIMIT="${2:-200}"
SMALL=200
IN=Benchmarks/inputs
OUT=Benchmarks/results/batch
JOBS="$(nproc)"
mkdir -p "$OUT"

[ -f "$IN/batch-unique/truth.json" ] || python3 Data/phantom/make_phantoms.py --count 25 --seed 2051 \
    --spacing-range 0.19:0.19 --out "$IN/batch-unique" >&2
for n in "$SMALL" "$LARGE"; do
    [ -f "$IN/batch-$n/img-$(printf %05d $((n - 1))).png" ] || \
        python3 Benchmarks/peers/make_batch_inputs.py --unique-dir "$IN/batch-unique" --out "$IN/batch-$n" --count "$n"
done

if [ -z "${NODULES:-}" ]; then
    swift build -c release --product nodules >&2
    NODULES="$(swift build -c release --show-bin-path)/nodules"
fi
export NODULEKIT_PIPELINES="$PWD/Pipelines"

now() { date +%s.%N; }
cat "$IN/batch-$SMALL"/*.png > /dev/null   # page cache warm for every pass below

# 1. Decode only: release `nodules info --json` (read + SHA-256 + full decode + sample statistics,
#    no detection, no store), JOBS processes of 25 files each at a time.
t0=$(now)
find "$IN/batch-$SMALL" -name '*.png' -print0 | sort -z | xargs -0 -n 25 -P "$JOBS" "$NODULES" info --json > /dev/null
t1=$(now)
decode_s=$(echo "$t1 - $t0" | bc -l)

# 2. End to end: release `nodules batch`, default --jobs (the core count), fresh store.
run_batch() {  # n → wall seconds and peak RSS (KiB) in $OUT/batch-n.time
    local n=$1
    rm -f "$OUT/batch-$n.sqlite"* "$OUT/batch-$n.jsonl"
    /usr/bin/time -v -o "$OUT/batch-$n.time" "$NODULES" batch "$IN/batch-$n" --out "$OUT/batch-$n.jsonl" \
        --db "$OUT/batch-$n.sqlite" --quiet
    local lines ok
    lines=$(wc -l < "$OUT/batch-$n.jsonl")
    ok=$(grep -c '"error":null' "$OUT/batch-$n.jsonl" || true)
    [ "$lines" -eq "$n" ] || { echo "batch $n: $lines result lines" >&2; exit 1; }
    echo "batch $n: $lines records, $ok without error" >&2
}
wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
run_batch "$SMALL"
batch_s=$(wall "$OUT/batch-$SMALL.time")

# 3. Peer: skimage blob_log (peers/blob_log_peer.py's detect), Pool(2), same files.
python3 Benchmarks/peers/blob_log_pool.py "$IN/batch-$SMALL" --processes 2 --limit "$PEER_LIMIT" > "$OUT/peer.json"

# 4. Memory: the same command on LARGE files.
cat "$IN/batch-$LARGE"/*.png > /dev/null
run_batch "$LARGE"

python3 - "$SMALL" "$LARGE" "$decode_s" "$batch_s" "$(wall "$OUT/batch-$LARGE.time")" \
    "$(rss "$OUT/batch-$SMALL.time")" "$(rss "$OUT/batch-$LARGE.time")" "$OUT/peer.json" "$JOBS" <<'PY'
import json, sys
small, large = int(sys.argv[1]), int(sys.argv[2])
decode_s, batch_s, large_s = map(float, sys.argv[3:6])
rss_small, rss_large = int(sys.argv[6]) / 1024, int(sys.argv[7]) / 1024
peer = json.load(open(sys.argv[8]))
jobs = sys.argv[9]
decode, e2e, e2e_large = small / decode_s, small / batch_s, large / large_s
print(f"workload: {small} phantom PNGs (16-bit grey, ~2048²), {jobs} cores, page cache warm")
print(f"decode only (nodules info --json, {jobs} processes): {decode:.2f} images/s ({decode_s:.1f} s)")
print(f"end to end  (nodules batch, default --jobs):        {e2e:.2f} images/s ({batch_s:.1f} s)")
print(f"peer        (skimage blob_log, Pool(2), {peer['images']} images): {peer['images_per_s']:.3f} images/s ({peer['wall_s']:.1f} s)")
print(f"peak RSS nodules batch: {small} files {rss_small:.0f} MiB; {large} files {rss_large:.0f} MiB "
      f"(ratio {rss_large / rss_small:.2f}; {e2e_large:.2f} images/s on {large})")
print(f"throughput_vs_decode={e2e / decode:.2f} speedup_vs_peer={e2e / peer['images_per_s']:.1f}")
PY
