#!/usr/bin/env bash
# Robustness of detection to how a radiograph is framed, rendered and stored, in one command.
#
#   Benchmarks/robustness/run.sh [SET] [WORKDIR]
#
# SET (default Data/phantom/eval, regenerated if missing) is re-made by make_framing_set.py in
# every variant, detected with the default pipeline and evaluated against its moved truth; the
# 8-bit JPEG variant (make_jpeg_set.py, quality 90) is detected with each image's --spacing.
# One line per variant: sensitivity at 0.5/1/2/4 FP/image, >= 10 mm hits at 2 FP/image, and how
# many records carry the inverted-polarity warning. The first line is the set unchanged.
# WORKDIR (default a new temporary folder) keeps the sets and results.
set -euo pipefail
cd "$(dirname "$0")/../.."
SET="${1:-Data/phantom/eval}"
WORK="${2:-$(mktemp -d -t nodulekit-robustness.XXXXXX)}"
mkdir -p "$WORK"
[ -f "$SET/truth.json" ] || python3 Data/phantom/make_phantoms.py --count 60 --seed 2026 --out "$SET" >&2
swift build -c release --product nodules >&2
NODULES=$PWD/.build/release/nodules
export NODULEKIT_PIPELINES=$PWD/Pipelines

summary() {  # NAME TRUTH RESULTS
    "$NODULES" evaluate --truth "$2" --results "$3" --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
b = {x['name']: x for x in d['bands']}
froc = ' / '.join('%.1f' % (100 * p['sensitivity']) for p in d['froc'])
warned = sum('read as MONOCHROME1' in line for line in open('$3'))
print('%-10s %s %%   >=10 mm %d/%d   inverted-polarity warnings %d' % ('$1', froc, b['>=10 mm']['hits'], b['>=10 mm']['nodules'], warned))"
}

echo "variant    sensitivity at 0.5 / 1 / 2 / 4 FP/image (set: $SET, work: $WORK)"
"$NODULES" detect "$SET"/images/*.png --out "$WORK/unchanged.jsonl" 2>/dev/null
summary unchanged "$SET/truth.json" "$WORK/unchanged.jsonl"
for variant in mirror abdomen loose offcentre collimated tight rotated gamma-low gamma-high inverted noisier blurred; do
    python3 Benchmarks/robustness/make_framing_set.py "$SET" "$WORK/$variant" --variant "$variant"
    "$NODULES" detect "$WORK/$variant"/images/*.png --out "$WORK/$variant.jsonl" 2>/dev/null
    summary "$variant" "$WORK/$variant/truth.json" "$WORK/$variant.jsonl"
done
python3 Benchmarks/robustness/make_jpeg_set.py "$SET" "$WORK/jpeg90" --count 1000 --quality 90 >&2
python3 - "$WORK/jpeg90" "$NODULES" <<'PY' > "$WORK/jpeg90.jsonl"
import json, subprocess, sys
folder, nodules = sys.argv[1], sys.argv[2]
for image in json.load(open(folder + "/truth.json"))["images"]:
    out = subprocess.run([nodules, "detect", "--spacing", str(image["pixel_spacing_mm"]), folder + "/" + image["path"]],
                         capture_output=True, text=True, check=True).stdout
    sys.stdout.write(out)
PY
summary jpeg-q90 "$WORK/jpeg90/truth.json" "$WORK/jpeg90.jsonl"
