#!/usr/bin/env bash
# Cross-generator check: the detector and tracker on phantoms from three generators written
# independently of Data/phantom/make_phantoms.py, from the issue's specification only
# (Data/phantom-b/, Data/phantom-c/, Data/phantom-d/; see their READMEs). Nothing here is
# fitted on these sets (the pipeline's lung classifier and score are fitted on other seeds of
# the same generators; 0.12.0 had never seen phantom-d).
#
#   Benchmarks/independent/run.sh [PIPELINE] [WORKDIR]
#
# PIPELINE (default cxr-nodules) is a name under Pipelines/ or a .json file. The sets are made
# when missing (git-ignored): phantom-b --count 100 --seed 11 and --series 30 --seed 21,
# phantom-c --count 100 --seed 12 and --series 30 --seed 22, phantom-d --count 100 --seed 13
# and --series 30 --seed 23 (about 3 + 1.5 + 2 + 1 + 1.2 + 0.8 minutes).
# Per set: `nodules evaluate` (FROC, bands, diameter error), the lung-field IoU against the
# truth masks (Benchmarks/analysis/lung_iou.py), and for the series `nodules batch` + `nodules
# track` scored by Benchmarks/tracking/score_tracks.py --summary.
# WORKDIR (default a new temporary folder) keeps the results.
set -euo pipefail
cd "$(dirname "$0")/../.."
PIPELINE="${1:-cxr-nodules}"
WORK="${2:-$(mktemp -d -t nodulekit-independent.XXXXXX)}"
mkdir -p "$WORK"
swift build -c release --product nodules >&2
NODULES=$PWD/.build/release/nodules
export NODULEKIT_PIPELINES=$PWD/Pipelines

make_set() {  # GENERATOR_SCRIPT MODE N SEED OUT
    [ -f "$5/truth.json" ] || python3 "$1" "$2" "$3" --seed "$4" --out "$5" >&2
}
make_set Data/phantom-b/make_phantoms_b.py --count 100 11 Data/phantom-b/eval11
make_set Data/phantom-c/make_phantoms_c.py --count 100 12 Data/phantom-c/eval12
make_set Data/phantom-b/make_phantoms_b.py --series 30 21 Data/phantom-b/series21
make_set Data/phantom-c/make_phantoms_c.py --series 30 22 Data/phantom-c/series22
make_set Data/phantom-d/make_phantoms_d.py --count 100 13 Data/phantom-d/eval13
make_set Data/phantom-d/make_phantoms_d.py --series 30 23 Data/phantom-d/series23

echo "pipeline: $PIPELINE; work: $WORK (every record names the pipeline and version that made it)"
for set in Data/phantom-b/eval11 Data/phantom-c/eval12 Data/phantom-d/eval13; do
    name=$(basename "$(dirname "$set")")-$(basename "$set")
    echo "== $set"
    "$NODULES" detect --pipeline "$PIPELINE" "$set"/images/*.png --overlay "$WORK/$name-overlay" --out "$WORK/$name.jsonl" 2>/dev/null
    "$NODULES" evaluate --truth "$set/truth.json" --results "$WORK/$name.jsonl"
    python3 Benchmarks/analysis/lung_iou.py "$set/truth.json" "$WORK/$name-overlay"
done
for set in Data/phantom-b/series21 Data/phantom-c/series22 Data/phantom-d/series23; do
    name=$(basename "$(dirname "$set")")-$(basename "$set")
    echo "== $set (tracking)"
    rm -f "$WORK/$name.sqlite"
    "$NODULES" batch "$set" --pipeline "$PIPELINE" --db "$WORK/$name.sqlite" --out "$WORK/$name.jsonl" --quiet >/dev/null 2>&1 || [ $? -eq 1 ]  # 1: some file failed (recorded)
    "$NODULES" track --db "$WORK/$name.sqlite" --out "$WORK/$name-tracks.json" >/dev/null 2>"$WORK/$name-track.log"
    python3 Benchmarks/tracking/score_tracks.py "$set/truth.json" "$WORK/$name-tracks.json" --summary
done
