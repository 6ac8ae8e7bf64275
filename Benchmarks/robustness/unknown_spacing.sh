#!/usr/bin/env bash
# Detection on images that carry no pixel spacing: as generated, with pHYs removed, and exported
# at 1024 px 8-bit (PNG with and without pHYs, and JPEG), for one or more pipeline definitions.
#
#   Benchmarks/robustness/unknown_spacing.sh [COUNT] [WORKDIR] [PIPELINE...]
#
# For the first COUNT (default 40) images of each generator's evaluation set present under Data/
# (ours and B-F), make_export_set.py writes the copies and their truth; every PIPELINE (a name or
# a file; default: 0.15.0's definition from git, then the current cxr-nodules) detects on each
# variant, and `nodules evaluate` scores it. Prints, per pipeline and variant, the hits at 0.5, 1,
# 2 and 4 FP/image and those of nodules >= 10 mm at 2 FP/image, summed over the sets.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${1:-40}"
WORK="${2:-$(mktemp -d -t nodulekit-spacing.XXXXXX)}"
mkdir -p "$WORK"
shift $(( $# > 2 ? 2 : $# ))
PIPES=("$@")
if [ ${#PIPES[@]} -eq 0 ]; then
    git show 5622239:Pipelines/cxr-nodules.json > "$WORK/cxr-nodules-0.15.0.json"
    PIPES=("$WORK/cxr-nodules-0.15.0.json" cxr-nodules)
fi
swift build -c release --product nodules >&2
export NODULEKIT_PIPELINES=$PWD/Pipelines
SETS=()
for set in phantom/eval phantom-b/eval11 phantom-c/eval12 phantom-d/eval13 phantom-e/eval14 phantom-f/eval16; do
    [ -f "Data/$set/truth.json" ] || { echo "$set: not present (skipped)" >&2; continue; }
    SETS+=("$set")
    name=$(echo "$set" | tr / _)
    for mode in full web webs jpeg; do
        [ -d "$WORK/$mode/$name" ] || python3 Benchmarks/robustness/make_export_set.py "Data/$set" "$WORK/$mode/$name" "$mode" "$COUNT"
    done
done
for pipe in "${PIPES[@]}"; do
    for variant in generated full web webs jpeg; do
        out="$WORK/res/$(basename "$pipe" .json)/$variant"
        mkdir -p "$out"
        for set in "${SETS[@]}"; do
            name=$(echo "$set" | tr / _)
            if [ "$variant" = generated ]; then
                mapfile -t FILES < <(ls "$WORK/full/$name/images/"*.png | xargs -n1 basename | sed "s|^|Data/$set/images/|")
            else
                mapfile -t FILES < <(ls "$WORK/$variant/$name/images/"*.png "$WORK/$variant/$name/images/"*.jpg 2>/dev/null)
            fi
            .build/release/nodules detect --quiet --pipeline "$pipe" "${FILES[@]}" --out "$out/$name.jsonl" || true
            truth="$WORK/$variant/$name/truth.json"
            [ "$variant" != generated ] || truth="$WORK/full/$name/truth.json"  # same pixels and centres
            .build/release/nodules evaluate --truth "$truth" --results "$out/$name.jsonl" --json > "$out/$name.eval.json"
        done
        python3 - "$pipe" "$variant" "$out" <<'PY'
import json, glob, sys
pipe, variant, out = sys.argv[1:4]
hits, big, nbig, images, stamp = [0] * 4, 0, 0, 0, None
for f in sorted(glob.glob(out + '/*.eval.json')):
    d = json.load(open(f))
    n = d['bands'][0]['nodules']
    for i, x in enumerate(d['froc']):
        hits[i] += round(x['sensitivity'] * n)
    b = [x for x in d['bands'] if x['name'] == '>=10 mm'][0]
    big += b['hits']; nbig += b['nodules']
for f in glob.glob(out + '/*.jsonl'):
    for line in open(f):
        images += 1
        stamp = stamp or json.loads(line).get('pipeline')
print(f"{stamp['name']} {stamp['version']}  {variant:9s}  images {images}  hits at 0.5/1/2/4 FP/image "
      f"{'/'.join(map(str, hits))}  >=10 mm at 2 FP/image {big}/{nbig}")
PY
    done
done
