#!/usr/bin/env bash
# Measures what the Slurm scale-out costs (Benchmarks/slurm-scaling.md):
#   1. per-core throughput of `nodules batch` on phantom radiographs (--jobs 1 and 2),
#   2. the fixed cost of one shard (a batch over an empty shard),
#   3. `nodules merge` time for N shard stores of M images each (stores synthesised
#      from step 1's real store by slurm/make_shard_stores.py),
# then extrapolates to an archive on a cluster (slurm/extrapolate.py).
#
#   Benchmarks/slurm-scaling.sh NODULES [OUT.txt]
#
# NODULES must be a release build with `batch` and `merge`. Needs python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NODULES=$(realpath "${1:?usage: slurm-scaling.sh NODULES [OUT.txt]}")
OUT=${2:-/dev/stdout}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nodulekit-slurm-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
S="$ROOT/Data/samples"

# measure CMD...: runs CMD; sets WALL (s) and CPU (user + sys s, this process and its children),
# CPU being the figure that does not depend on what else the machine runs.
measure() {
    local f="$WORK/time.$$" TIMEFORMAT='%R %U %S'
    { time "$@" ; } 2>"$f"
    read -r WALL u sy < <(tail -n 1 "$f")
    CPU=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.3f", u + s }')
}
log() { echo "$*" | tee -a "$WORK/log" >&2; }

# ---- inputs: 12 distinct 1024x1024 phantoms (the samples at three spacings) ----
IN="$WORK/input"
k=0
for spacing in 0.34 0.35 0.36; do
    for src in "PHANTOM-001/2026-01-12/pa.png" "PHANTOM-001/2026-05-04/pa.png" "PHANTOM-002/2026-03-02/pa.jpg" "jsrt-style/PHANTOM-003.img"; do
        d="$IN/BENCH-$k/2026-01-0$((1 + k % 9))"
        mkdir -p "$d"
        raw=()
        [[ $src == *.img ]] && raw=(--raw 1024x1024:u16be:12)
        "$NODULES" convert "${raw[@]}" --spacing "$spacing" "$S/$src" "$d/pa.png" >/dev/null
        k=$((k + 1))
    done
done
IMAGES=$(find "$IN" -type f | wc -l)

# ... and 8 distinct 2048x2048 chest-like images (peers/make_decode_inputs.py) at
# detector-like spacings, the pixel count of a real CR/DX radiograph.
BIG="$HERE/inputs/chest-2048-u16.png"
[ -f "$BIG" ] || python3 "$HERE/peers/make_decode_inputs.py" --out "$HERE/inputs" >/dev/null
IN2="$WORK/input-2048"
k=0
for spacing in 0.140 0.143 0.148 0.150 0.160 0.168 0.175 0.200; do
    d="$IN2/BIG-$k/2026-02-0$((1 + k % 9))"
    mkdir -p "$d"
    "$NODULES" convert --spacing "$spacing" "$BIG" "$d/pa.png" >/dev/null
    k=$((k + 1))
done
IMAGES2=$(find "$IN2" -type f | wc -l)

{
    echo "# nodules slurm scaling, $(date -u +%FT%TZ), $(nproc) cores, $(uname -m), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# nodules: $NODULES ($("$NODULES" --version 2>/dev/null || echo '?'))"
    echo "# input: $IMAGES distinct 1024x1024 16-bit phantoms (Data/samples at 0.34/0.35/0.36 mm); $IMAGES2 distinct 2048x2048 (chest-2048-u16.png at 0.14-0.20 mm)"
} >"$WORK/result"

# ---- 1. throughput -------------------------------------------------------------
for jobs in 1 2; do
    for rep in 1 2; do
        rm -f "$WORK/t.sqlite"* "$WORK/t.jsonl"
        measure "$NODULES" batch "$IN" --out "$WORK/t.jsonl" --db "$WORK/t.sqlite" --jobs "$jobs" --quiet
        s=$WALL
        echo "throughput jobs=$jobs rep=$rep images=$IMAGES seconds=$s cpu_seconds=$CPU cpu_s_per_image=$(awk -v n="$IMAGES" -v c="$CPU" 'BEGIN { printf "%.4f", c / n }') images_per_s=$(awk -v n="$IMAGES" -v s="$s" 'BEGIN { printf "%.3f", n / s }') images_per_s_per_core=$(awk -v n="$IMAGES" -v s="$s" -v j="$jobs" 'BEGIN { printf "%.3f", n / s / j }') cmd='nodules batch INPUT --out t.jsonl --db t.sqlite --jobs $jobs --quiet' load=$(cut -d' ' -f1 /proc/loadavg)" >>"$WORK/result"
    done
done
cp "$WORK/t.sqlite" "$WORK/seed.sqlite"
for jobs in 1 2; do
    rm -f "$WORK/t.sqlite"* "$WORK/t.jsonl"
    measure "$NODULES" batch "$IN2" --out "$WORK/t.jsonl" --db "$WORK/t.sqlite" --jobs "$jobs" --quiet
    s=$WALL
    echo "throughput_2048 jobs=$jobs images=$IMAGES2 seconds=$s cpu_seconds=$CPU cpu_s_per_image=$(awk -v n="$IMAGES2" -v c="$CPU" 'BEGIN { printf "%.4f", c / n }') images_per_s=$(awk -v n="$IMAGES2" -v s="$s" 'BEGIN { printf "%.3f", n / s }') images_per_s_per_core=$(awk -v n="$IMAGES2" -v s="$s" -v j="$jobs" 'BEGIN { printf "%.3f", n / s / j }') detections_per_image=$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(round(c.execute('select count(*) from detections').fetchone()[0] / max(1, c.execute('select count(*) from images').fetchone()[0]), 1))" "$WORK/t.sqlite") cmd='nodules batch INPUT-2048 --out t.jsonl --db t.sqlite --jobs $jobs --quiet' load=$(cut -d' ' -f1 /proc/loadavg)" >>"$WORK/result"
done

# ---- 2. fixed cost of a shard ----------------------------------------------------
mkdir -p "$WORK/empty"
for rep in 1 2 3; do
    rm -f "$WORK/e.sqlite"* "$WORK/e.jsonl"
    measure "$NODULES" batch "$WORK/empty" --out "$WORK/e.jsonl" --db "$WORK/e.sqlite" --jobs 1 --quiet
    echo "shard_overhead rep=$rep seconds=$WALL cpu_seconds=$CPU cmd='nodules batch EMPTY --out e.jsonl --db e.sqlite --jobs 1 --quiet'" >>"$WORK/result"
done

# ---- 3. merge ----------------------------------------------------------------------
for nm in "4 250" "16 250" "64 250" "4 1000" "16 1000" "4 4000" "16 4000" "8 25000"; do
    read -r n m <<<"$nm"
    python3 "$HERE/slurm/make_shard_stores.py" "$WORK/seed.sqlite" "$WORK/stores" "$n" "$m" >/dev/null
    rm -f "$WORK/merged.sqlite"*
    measure "$NODULES" merge --quiet "$WORK/merged.sqlite" "$WORK/stores"/shard-*.sqlite
    s=$WALL
    det=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from detections').fetchone()[0])" "$WORK/merged.sqlite")
    echo "merge shards=$n images_per_shard=$m images=$((n * m)) detections=$det seconds=$s cpu_seconds=$CPU store_mb=$(du -m "$WORK/merged.sqlite" | cut -f1) cmd='nodules merge --quiet merged.sqlite shard-*.sqlite'" >>"$WORK/result"
    # idempotence: merging the same stores again adds nothing and shows the no-op cost
    measure "$NODULES" merge --quiet "$WORK/merged.sqlite" "$WORK/stores"/shard-*.sqlite
    echo "merge_again shards=$n images_per_shard=$m seconds=$WALL cpu_seconds=$CPU" >>"$WORK/result"
    rm -rf "$WORK/stores"
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/result"

python3 "$HERE/slurm/extrapolate.py" "$WORK/result" >>"$WORK/result"
cat "$WORK/result" >"$OUT"
