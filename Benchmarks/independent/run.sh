#!/usr/bin/env bash
# Cross-generator check: the detector and tracker on phantoms from six generators written
# independently of Data/phantom/make_phantoms.py, from the issue's specification only
# (Data/phantom-b/ to Data/phantom-g/; see their READMEs). Nothing here is fitted on these
# sets. The pipeline's lung classifier and score are fitted on other seeds of B, C and D
# (0.12.0 had never seen D); no pipeline has been fitted on any seed of E, F or G, which are the
# held-out generators (G, from session 38, has been used by no choice either).
#
#   Benchmarks/independent/run.sh [PIPELINE] [WORKDIR]
#
# PIPELINE (default cxr-nodules) is a name under Pipelines/ or a .json file. The sets are made
# when missing (git-ignored), each from its row of Benchmarks/analysis/heldout-sets.tsv:
# phantom-b --count 100 --seed 11 and --series 30 --seed 21, phantom-c --count 100 --seed 12 and
# --series 30 --seed 22, phantom-d --count 100 --seed 13 and --series 30 --seed 23, phantom-e
# --count 60 --seed 14 and --series 20 --seed 24, phantom-f --count 60 --seed 16 and --series 20
# --seed 26, phantom-g --count 60 --seed 17 and --series 20 --seed 27 (about 3 + 1.5 + 2 + 1 + 1.2 +
# 0.8 + 1.5 + 1 + 3 + 3.5 + 2 + 2 minutes).
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

# The sets' generators and seeds are rows of Benchmarks/analysis/heldout-sets.tsv.
bash Benchmarks/analysis/heldout.sh make b11 c12 B C d13 D e14 E f16 F g17 G

echo "pipeline: $PIPELINE; work: $WORK (every record names the pipeline and version that made it)"
for set in Data/phantom-b/eval11 Data/phantom-c/eval12 Data/phantom-d/eval13 Data/phantom-e/eval14 Data/phantom-f/eval16 Data/phantom-g/eval17; do
    name=$(basename "$(dirname "$set")")-$(basename "$set")
    echo "== $set"
    "$NODULES" detect --pipeline "$PIPELINE" "$set"/images/*.png --overlay "$WORK/$name-overlay" --out "$WORK/$name.jsonl" 2>/dev/null
    "$NODULES" evaluate --truth "$set/truth.json" --results "$WORK/$name.jsonl"
    python3 Benchmarks/analysis/lung_iou.py "$set/truth.json" "$WORK/$name-overlay"
done
for set in Data/phantom-b/series21 Data/phantom-c/series22 Data/phantom-d/series23 Data/phantom-e/series24 Data/phantom-f/series26 Data/phantom-g/series27; do
    name=$(basename "$(dirname "$set")")-$(basename "$set")
    echo "== $set (tracking)"
    rm -f "$WORK/$name.sqlite"
    "$NODULES" batch "$set" --pipeline "$PIPELINE" --db "$WORK/$name.sqlite" --out "$WORK/$name.jsonl" --quiet >/dev/null 2>&1 || [ $? -eq 1 ]  # 1: some file failed (recorded)
    "$NODULES" track --db "$WORK/$name.sqlite" --out "$WORK/$name-tracks.json" >/dev/null 2>"$WORK/$name-track.log"
    python3 Benchmarks/tracking/score_tracks.py "$set/truth.json" "$WORK/$name-tracks.json" --summary
done
