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
#   Benchmarks/analysis/heldout.sh make NAME...          the sets named, when missing
#   Benchmarks/analysis/heldout.sh make-folder DIR...    the sets made into those folders, when missing
#
# Every set, its folder, generator and seed is one row of Benchmarks/analysis/heldout-sets.tsv.
# DEF is a definition name under Pipelines/ or a .json file. Results go to $WORK/TAG (default WORK
# /tmp/nodulekit-heldout). Detection sets (1047 nodules, 656 >= 10 mm): eval eval3030 eval4040 (ours),
# b11 c12 d13 e14 f16 (five independently written generators). Serial sets (575 identities): s40 s60 c40
# (under $WORK/sets), B C D E F (Data/phantom-X/series2N). Training sets (the fitted parts' seeds; `sets`
# makes them too, under $WORK/sets): ours5000 ours5001 b201 c101 d301, f601 (session 34's
# fine-tuning probe) and e701 (session 39's; no shipped fit uses either). Serial training sets (session 35's fit of the tracker's
# diameter uncertainty; scored only when named): st71 (ours), stb31, stc32, std33, and from session 36 st77 (ours),
# stb34, stc35, std36. Tuning detection sets
# (session 35; no fit saw them, for choosing one setting; run only when named): tours75 tb72 tc73 td74 te71.
# Unseen sets (session 38: generator G, written then from the specification alone; no fit and no choice has used
# it; run only when named, so the eight-set totals stay comparable): g17 (kind unseen-detect), G (unseen-serial).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK="${WORK:-/tmp/nodulekit-heldout}"
NODULES="${NODULES:-$PWD/.build/release/nodules}"
export NODULEKIT_PIPELINES="$PWD/Pipelines"

TABLE=Benchmarks/analysis/heldout-sets.tsv   # name, folder, generator, mode, n, seed, kind, queue

declare -A FOLDER=() MAKE=() KIND=() QUEUE=()
ORDER=""
while IFS=$'\t' read -r name folder generator mode n seed kind queue; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    FOLDER[$name]=${folder/#WORK\//$WORK/}
    MAKE[$name]="$generator $mode $n --seed $seed"
    KIND[$name]=$kind; QUEUE[$name]=$queue
    ORDER+=" $name"
done < "$TABLE"
names_of() { local k n out=""; for n in $ORDER; do [ "${KIND[$n]}" = "$1" ] && out+=" $n"; done; echo $out; }
DETECT_ORDER=$(names_of detect)
SERIAL_ORDER=$(names_of serial)

make_named() {  # NAME...: each set unless its truth.json exists, from its row of the table
    local n
    for n in "$@"; do
        [ -n "${FOLDER[$n]:-}" ] || { echo "no set $n in $TABLE" >&2; exit 2; }
        # shellcheck disable=SC2086  # MAKE holds the generator and its arguments
        [ -f "${FOLDER[$n]}/truth.json" ] || python3 ${MAKE[$n]} --out "${FOLDER[$n]}" >&2
    done
}

make_folder() {  # FOLDER...: the set of the table made into that folder
    local f n found
    for f in "$@"; do
        found=""
        for n in $ORDER; do [ "${FOLDER[$n]}" = "${f%/}" ] && found=$n; done
        [ -n "$found" ] || { echo "no set of $TABLE is made into $f" >&2; exit 2; }
        make_named "$found"
    done
}

sets() {
    # Two queues, one per core.
    local n q1="" q2=""
    for n in $ORDER; do if [ "${QUEUE[$n]}" = 1 ]; then q1+=" $n"; else q2+=" $n"; fi; done
    make_named $q1 &
    make_named $q2 &
    wait
}

detect() {
    local def=$1 tag=$2; shift 2
    local names="${*:-$DETECT_ORDER}" out="$WORK/$tag" args=()
    mkdir -p "$out"
    for s in $names; do
        case "${KIND[$s]:-}" in detect|tune|train|unseen-detect) ;; *) echo "unknown detection set $s" >&2; exit 2 ;; esac
        local d=${FOLDER[$s]}
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
        case "${KIND[$s]:-}" in serial|serial-train|unseen-serial) ;; *) echo "unknown serial set $s" >&2; exit 2 ;; esac
        local d=${FOLDER[$s]}
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
    make) shift; make_named "$@" ;;
    make-folder) shift; make_folder "$@" ;;
    detect) [ $# -ge 3 ] || { sed -n 2,21p "$0" >&2; exit 2; }; shift; detect "$@" ;;
    serial) [ $# -ge 3 ] || { sed -n 2,21p "$0" >&2; exit 2; }; shift; serial "$@" ;;
    *) sed -n 2,21p "$0" >&2; exit 2 ;;
esac
