#!/usr/bin/env bash
# Decode benchmark: NoduleKit (libpng/libjpeg-turbo) against Pillow and OpenCV,
# on the same files, in the same run. Prints a table and, last, a ratio line.
# Usage: Benchmarks/decode.sh [REPEATS]     (needs numpy, pillow, opencv-python-headless)
set -euo pipefail
cd "$(dirname "$0")"
REPEATS="${1:-15}"
PNG=inputs/chest-2048-u16.png
JPG=inputs/chest-2048-q90.jpg
[ -f "$PNG" ] && [ -f "$JPG" ] || python3 peers/make_decode_inputs.py --out inputs
swift build -c release --product decode-bench >&2
BIN="$(swift build -c release --show-bin-path)/decode-bench"
mkdir -p results
"$BIN" --repeats "$REPEATS" "$PNG" "$JPG" > results/decode-nodulekit.json
python3 peers/decode_peers.py --png "$PNG" --jpeg "$JPG" --repeats "$REPEATS" > results/decode-peers.json 2>/dev/null
python3 - "$PNG" "$JPG" <<'PY'
import json, sys
ours = json.load(open("results/decode-nodulekit.json"))["files"]
peers = json.load(open("results/decode-peers.json"))
def peer_median(kind, name):
    return peers["summary_median_s"][kind][name]
line = []
for path, kind in ((sys.argv[1], "png"), (sys.argv[2], "jpeg")):
    v = ours[path]["variants"]
    nk = v["nodulekit-file"]["median_s"]
    print(f"{kind}: {ours[path]['width']}x{ours[path]['height']} {ours[path]['layout']}")
    print(f"  nodulekit file        {nk*1e3:7.2f} ms   (+sha256 {v['nodulekit-file+sha256']['median_s']*1e3:.2f} ms, from memory {v['nodulekit-bytes']['median_s']*1e3:.2f} ms)")
    for peer in ("pillow-file", "opencv-file"):
        p = peer_median(kind, peer)
        print(f"  {peer:20s}  {p*1e3:7.2f} ms   ratio peer/nodulekit = {p/nk:.2f}")
        line.append(f"{kind}_{peer.split('-')[0]}_over_nodulekit={p/nk:.2f}")
print(" ".join(line))
PY
