#!/usr/bin/env bash
# Same-session speed A/B of pipeline definitions in `nodules batch` (one binary), against decode
# only, alternated so that drift of the machine falls on both sides.
#
#   Benchmarks/batch-ab.sh [ROUNDS] PIPELINE...
#
# Per round and pipeline (a name under Pipelines/ or a .json file) one line: decode only
# (`nodules info --json`, 2 processes of 25 files, as Benchmarks/batch.sh measures it) and
# `nodules batch --pipeline P` (fresh store, default --jobs) over the same 200 files of
# Benchmarks/inputs/batch-200 (made by Benchmarks/batch.sh), their ratio, and the batch's user CPU.
# NODULES (default: a release build of this checkout) is the binary. ROUNDS defaults to 2.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=2
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then ROUNDS=$1; shift; fi
[ $# -ge 1 ] || { sed -n 2,12p "$0" >&2; exit 2; }
IN=Benchmarks/inputs/batch-200
[ -f "$IN/img-00199.png" ] || { echo "run Benchmarks/batch.sh once first (it makes $IN)" >&2; exit 2; }
if [ -z "${NODULES:-}" ]; then
    swift build -c release --product nodules >&2
    NODULES="$(swift build -c release --show-bin-path)/nodules"
fi
export NODULEKIT_PIPELINES="$PWD/Pipelines"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat "$IN"/*.png > /dev/null
for round in $(seq "$ROUNDS"); do
    for p in "$@"; do
        t0=$(date +%s.%N)
        find "$IN" -name '*.png' -print0 | sort -z | xargs -0 -n 25 -P 2 "$NODULES" info --json > /dev/null 2>&1
        t1=$(date +%s.%N)
        rm -f "$WORK"/b.*
        /usr/bin/time -f "%U" -o "$WORK/time" "$NODULES" batch "$IN" --pipeline "$p" --out "$WORK/b.jsonl" \
            --db "$WORK/b.sqlite" --quiet 2>/dev/null
        t2=$(date +%s.%N)
        python3 -c "
import sys
d, b = $t1 - $t0, $t2 - $t1
print(f'round $round  {sys.argv[1]}: decode {200 / d:.2f} images/s  batch {200 / b:.2f} images/s  ratio {d / b:.3f}  batch user CPU {sys.argv[2]} s')" \
            "$p" "$(tail -1 "$WORK/time")"
    done
done
