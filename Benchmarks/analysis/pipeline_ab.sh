#!/usr/bin/env bash
# Pipeline A/B on phantom sets, pooled: every PIPELINE (a name under Pipelines/ or a .json file)
# is run by `nodules detect` on every SET and scored by `nodules evaluate --json`; then
# Benchmarks/analysis/pooled.py prints, per pipeline, the sensitivity at 0.5 / 1 / 2 / 4 FP/image
# pooled over the sets (each set at its own operating points, hits counted), the 2 FP/image
# sensitivity by band, and the diameter error of the hits pooled over the sets.
#
#   Benchmarks/analysis/pipeline_ab.sh PIPELINE...
#
# SETS (environment; default: the three sets of 60 under Data/phantom, made by
# Data/phantom/make_phantoms.py --count 60 --seed 2026 / 3030 / 4040 when missing) holds phantom
# set folders, each with truth.json and images/ (make_phantoms.py makes them);
# WORK (default /tmp/nodulekit-ab) receives R.jsonl and R.json per pipeline and set.
# NODULES (default: a release build of this checkout) is the binary.
# Offline tooling for measuring, never part of the product.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n 2,16p "$0" >&2; exit 2; }
SETS="${SETS:-Data/phantom/eval Data/phantom/eval3030 Data/phantom/eval4040}"
WORK="${WORK:-/tmp/nodulekit-ab}"
if [ -z "${NODULES:-}" ]; then
    swift build -c release --product nodules >&2
    NODULES="$(swift build -c release --show-bin-path)/nodules"
fi
export NODULEKIT_PIPELINES="$PWD/Pipelines"
mkdir -p "$WORK"
args=()
for p in "$@"; do
    label="$(basename "$p" .json)"
    for s in $SETS; do
        # A missing set is made from its row of Benchmarks/analysis/heldout-sets.tsv (about 2 minutes each).
        [ -f "$s/truth.json" ] || bash Benchmarks/analysis/heldout.sh make-folder "$s" || { echo "no truth.json in $s" >&2; exit 2; }
        out="$WORK/$label-$(basename "$s")"
        "$NODULES" detect --threads "$(nproc)" --pipeline "$p" "$s"/images/*.png --out "$out.jsonl" 2>/dev/null || true
        "$NODULES" evaluate --truth "$s/truth.json" --results "$out.jsonl" --json > "$out.json"
        args+=(--run "$label" "$out.json")
    done
done
python3 Benchmarks/analysis/pooled.py "${args[@]}"
