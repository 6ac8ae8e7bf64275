#!/usr/bin/env bash
# The held-out phantom sets every pipeline change is judged on, in one place (offline tooling for
# measuring, never part of the product):
#
#   Benchmarks/analysis/heldout.sh sets                 make every set that is missing (about 45 minutes
#                                                        on 2 cores from nothing; each set from its seed)
#   Benchmarks/analysis/heldout.sh detect DEF TAG [SET...]  nodules detect + evaluate on the eight detection
#                                                        sets (or the SETs named), then pooled.py over them
#   Benchmarks/analysis/heldout.sh serial DEF TAG [SET...]  nodules batch + track + score_tracks.py on the
#                                                        eight serial sets (or the SETs named), then totals
#
# DEF is a definition name under Pipelines/ or a .json file. Results go to $WORK/TAG (default WORK
# /tmp/nodulekit-heldout). Detection sets (1047 nodules, 656 >= 10 mm): eval eval3030 eval4040 (ours),
# b11 c12 d13 e14 f16 (five independently written generators). Serial sets (575 identities): s40 s60 c40
# (under $WORK/sets), B C D E F (Data/phantom-X/series2N). Training sets (the fitted parts' seeds; `sets`
# makes them too, under $WORK/sets): ours5000 ours5001 b201 c101 d301.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK="${WORK:-/tmp/nodulekit-heldout}"
NODULES="${NODULES:-$PWD/.build/release/nodules}"
export NODULEKIT_PIPELINES="$PWD/Pipelines"

declare -A DETECT=( [eval]=Data/phantom/eval [eval3030]=Data/phantom/eval3030 [eval4040]=Data/phantom/eval4040
  [b11]=Data/phantom-b/eval11 [c12]=Data/phantom-c/eval12 [d13]=Data/phantom-d/eval13
  [e14]=Data/phantom-e/eval14 [f16]=Data/phantom-f/eval16 )
DETECT_ORDER="eval eval3030 eval4040 b11 c12 d13 e14 f16"
declare -A SERIAL=( [s40]=$WORK/sets/s40 [s60]=$WORK/sets/s60 [c40]=$WORK/sets/c40
  [B]=Data/phantom-b/series21 [C]=Data/phantom-c/series22 [D]=Data/phantom-d/series23
  [E]=Data/phantom-e/series24 [F]=Data/phantom-f/series26 )
SERIAL_ORDER="s40 s60 c40 B C D E F"

make_set() {  # OUT GENERATOR ARGS...: the set unless its truth.json exists
    local out=$1; shift
    [ -f "$out/truth.json" ] || python3 "$@" --out "$out" >&2
}

sets() {
    # Two queues, one per core.
    (
        make_set Data/phantom/eval Data/phantom/make_phantoms.py --count 60 --seed 2026
        make_set Data/phantom/eval3030 Data/phantom/make_phantoms.py --count 60 --seed 3030
        make_set Data/phantom/eval4040 Data/phantom/make_phantoms.py --count 60 --seed 4040
        make_set Data/phantom-c/eval12 Data/phantom-c/make_phantoms_c.py --count 100 --seed 12
        make_set "$WORK/sets/s40" Data/phantom/make_phantoms.py --series 40 --seed 91
        make_set "$WORK/sets/s60" Data/phantom/make_phantoms.py --series 60 --seed 92
        make_set Data/phantom-d/series23 Data/phantom-d/make_phantoms_d.py --series 30 --seed 23
        make_set Data/phantom-f/series26 Data/phantom-f/make_phantoms_f.py --series 20 --seed 26
        make_set "$WORK/sets/ours5000" Data/phantom/make_phantoms.py --count 60 --seed 5000
        make_set "$WORK/sets/ours5001" Data/phantom/make_phantoms.py --count 120 --seed 5001
        make_set "$WORK/sets/c101" Data/phantom-c/make_phantoms_c.py --count 150 --seed 101
    ) &
    (
        make_set Data/phantom-b/eval11 Data/phantom-b/make_phantoms_b.py --count 100 --seed 11
        make_set Data/phantom-d/eval13 Data/phantom-d/make_phantoms_d.py --count 100 --seed 13
        make_set Data/phantom-e/eval14 Data/phantom-e/make_phantoms_e.py --count 60 --seed 14
        make_set Data/phantom-f/eval16 Data/phantom-f/make_phantoms_f.py --count 60 --seed 16
        make_set "$WORK/sets/c40" Data/phantom-c/make_phantoms_c.py --series 40 --seed 122
        make_set Data/phantom-b/series21 Data/phantom-b/make_phantoms_b.py --series 30 --seed 21
        make_set Data/phantom-c/series22 Data/phantom-c/make_phantoms_c.py --series 30 --seed 22
        make_set Data/phantom-e/series24 Data/phantom-e/make_phantoms_e.py --series 20 --seed 24
        make_set "$WORK/sets/b201" Data/phantom-b/make_phantoms_b.py --count 150 --seed 201
        make_set "$WORK/sets/d301" Data/phantom-d/make_phantoms_d.py --count 150 --seed 301
    ) &
    wait
}

detect() {
    local def=$1 tag=$2; shift 2
    local names="${*:-$DETECT_ORDER}" out="$WORK/$tag" args=()
    mkdir -p "$out"
    for s in $names; do
        local d=${DETECT[$s]:?unknown detection set $s}
        [ -f "$d/truth.json" ] || { echo "$d is missing: run '$0 sets' first" >&2; exit 2; }
        "$NODULES" detect --threads "$(nproc)" --pipeline "$def" "$d"/images/*.png --out "$out/$s.jsonl" 2>/dev/null || true
        "$NODULES" evaluate --truth "$d/truth.json" --results "$out/$s.jsonl" --json > "$out/$s.eval.json"
        echo "$s: $(python3 Benchmarks/analysis/pooled.py --run "$s" "$out/$s.eval.json" | grep 'at 2 FP')"
        args+=(--run "$tag" "$out/$s.eval.json")
    done
    python3 Benchmarks/analysis/pooled.py "${args[@]}"
}

serial() {
    local def=$1 tag=$2; shift 2
    local names="${*:-$SERIAL_ORDER}" out="$WORK/$tag"
    mkdir -p "$out"
    for s in $names; do
        local d=${SERIAL[$s]:?unknown serial set $s}
        [ -f "$d/truth.json" ] || { echo "$d is missing: run '$0 sets' first" >&2; exit 2; }
        rm -f "$out/$s.sqlite" "$out/$s.jsonl"
        "$NODULES" batch "$d" --db "$out/$s.sqlite" --out "$out/$s.jsonl" --quiet --pipeline "$def" > /dev/null 2>&1 || true
        "$NODULES" track --db "$out/$s.sqlite" --out "$out/$s.tracks.json" > /dev/null 2>&1 || true
        echo "== $s"
        python3 Benchmarks/tracking/score_tracks.py "$d/truth.json" "$out/$s.tracks.json" --summary
    done | tee "$out/serial.txt"
    python3 - "$out/serial.txt" <<'PY'
import re, sys
total = dict(identities=0, linked=0, right=0, indeterminate=0, wrong=0)
for line in open(sys.argv[1]):
    m = re.search(r"identities (\d+); detected on every exam \d+; linked in one track (\d+)", line)
    if m:
        total["identities"] += int(m[1]); total["linked"] += int(m[2])
    m = re.search(r"status right (\d+) of \d+ linked; indeterminate where another was expected (\d+); other wrong (\d+)", line)
    if m:
        total["right"] += int(m[1]); total["indeterminate"] += int(m[2]); total["wrong"] += int(m[3])
print("total: " + ", ".join(f"{k} {v}" for k, v in total.items()))
PY
}

case "${1:-}" in
    sets) sets ;;
    detect) [ $# -ge 3 ] || { sed -n 2,16p "$0" >&2; exit 2; }; shift; detect "$@" ;;
    serial) [ $# -ge 3 ] || { sed -n 2,16p "$0" >&2; exit 2; }; shift; serial "$@" ;;
    *) sed -n 2,16p "$0" >&2; exit 2 ;;
esac
