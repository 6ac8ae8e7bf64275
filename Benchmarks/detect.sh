#!/usr/bin/env bash
# Detection benchmark: accuracy and speed of NoduleKit's detector against the
# scikit-image blob_log peer, on the same phantom images, in the same run.
#
#   Benchmarks/detect.sh [REPEATS]
#
# 1. Regenerates Data/phantom/eval (60 full-size phantoms, seed 2026) if missing.
# 2. Accuracy: `nodules detect` + `nodules evaluate` on all 60; the peer
#    (Benchmarks/peers/blob_log_peer.py) + `nodules evaluate` on the same 60,
#    unmasked and with the truth lung mask (an oracle the peer is given to be generous);
#    the three FROC curves drawn in results/froc.svg.
# 3. Speed: detect-bench (normalise + detect + measure, decode excluded, median of
#    REPEATS) and the peer's own per-image timings on the 4 images nearest 2048².
# Last line: froc2_nodulekit=… froc2_blob_log=… ms_per_image_nodulekit=… s_per_image_blob_log=…
set -euo pipefail
cd "$(dirname "$0")"
REPEATS="${1:-7}"
ROOT=..
EVAL=$ROOT/Data/phantom/eval
(cd $ROOT && bash Benchmarks/analysis/heldout.sh make eval)   # its row of Benchmarks/analysis/heldout-sets.tsv
mkdir -p results
(cd $ROOT && swift build -c release --product nodules >&2)
NODULES=$ROOT/.build/release/nodules
$NODULES detect $EVAL/images/*.png --out results/detect-nodulekit.jsonl 2>/dev/null
$NODULES evaluate --truth $EVAL/truth.json --results results/detect-nodulekit.jsonl --json > results/eval-nodulekit.json
python3 peers/blob_log_peer.py --truth $EVAL/truth.json --out results/detect-blob_log.jsonl 2> results/blob_log.log
python3 peers/blob_log_peer.py --truth $EVAL/truth.json --out results/detect-blob_log-mask.jsonl --use-truth-mask 2> results/blob_log-mask.log
$NODULES evaluate --truth $EVAL/truth.json --results results/detect-blob_log.jsonl --json > results/eval-blob_log.json
$NODULES evaluate --truth $EVAL/truth.json --results results/detect-blob_log-mask.jsonl --json > results/eval-blob_log-mask.json
$NODULES evaluate --truth $EVAL/truth.json --results results/detect-nodulekit.jsonl --label NoduleKit --plot results/froc.svg \
    --compare "blob_log=results/detect-blob_log.jsonl" --compare "blob_log + true lung mask=results/detect-blob_log-mask.jsonl" > /dev/null

FILES=$(python3 -c "
import json; t=json.load(open('$EVAL/truth.json'))
c=sorted(t['images'], key=lambda i: abs(i['width']*i['height']-2048*2048))[:4]
print(' '.join('$EVAL/'+i['path'] for i in c))")
swift build -c release --product detect-bench >&2
"$(swift build -c release --show-bin-path)/detect-bench" --repeats "$REPEATS" $FILES > results/detect-speed.json
python3 peers/blob_log_peer.py $FILES --out /dev/null 2> results/blob_log-speed.log
python3 - <<'PY'
import json, re
def load(n): return json.load(open(f"results/{n}"))
ours, peer, oracle = load("eval-nodulekit.json"), load("eval-blob_log.json"), load("eval-blob_log-mask.json")
print(f"phantom eval set: {ours['images']} images, {ours['nodules']} nodules (Data/phantom/eval, seed 2026)")
print("FP/image   nodulekit   blob_log   blob_log+truth-mask")
for a, b, c in zip(ours["froc"], peer["froc"], oracle["froc"]):
    print(f"  {a['falsePositivesPerImage']:4.1f}     {a['sensitivity']*100:6.1f}%    {b['sensitivity']*100:6.1f}%    {c['sensitivity']*100:6.1f}%")
bands = {b["name"]: b for b in ours["bands"]}
for name in (">=10 mm", "6-10 mm", "<10 mm", "10-20 mm", ">20 mm", "on rib", "off rib"):
    b = bands[name]
    print(f"  nodulekit sensitivity at 2 FP/image, {name:9s} {b['hits']}/{b['nodules']}")
d = ours["diameterError"]
print(f"  nodulekit diameter error of hits (n={d['hits']}): median {d['medianAbsoluteMM']:.2f} mm, p90 {d['p90AbsoluteMM']:.2f} mm")
speed = load("detect-speed.json")
ms = speed["median_of_file_medians_s"] * 1e3
log = open("results/blob_log-speed.log").read()
m = re.search(r"median ([0-9.]+) s/image \(blob_log alone ([0-9.]+) s\)", log)
peer_s = float(m.group(1)) if m else float("nan")
alone = float(m.group(2)) if m else float("nan")
print(f"speed, 4 images nearest 2048², {speed['threads']} threads: nodulekit {ms:.0f} ms/image (decode excluded); blob_log peer {peer_s:.2f} s/image ({alone:.2f} s in blob_log alone)")
froc2 = lambda e: next(p["sensitivity"] for p in e["froc"] if p["falsePositivesPerImage"] == 2)
print(f"froc2_nodulekit={froc2(ours):.3f} froc2_blob_log={froc2(peer):.3f} ms_per_image_nodulekit={ms:.0f} s_per_image_blob_log={peer_s:.2f}")
PY
