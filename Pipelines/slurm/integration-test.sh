#!/usr/bin/env bash
# Slurm integration test (run by `make test` and `make slurm-test`; needs root, as CI has).
#
#   Pipelines/slurm/integration-test.sh [NODULES]     (default .build/debug/nodules)
#
# 1. Builds a folder of phantom radiographs (<patient>/<date>/<image>): the
#    bundled samples, one more made with `nodules convert`, the committed serial
#    phantoms of Data/phantom/series (or, without them, follow-ups made with
#    `nodules convert`), and one truncated PNG.
# 2. Runs `nodules batch` on it on this machine: the reference.
# 3. Installs and starts a single-node Slurm (single-node.sh), and runs the same
#    folder through submit.sh with 4 shards, with shard 2 made to fail: submit.sh
#    --wait must exit 1 naming shard 2 and its log, and the merge must not run.
# 4. Resubmits the same command: only shard 2 may run again; then the merge.
# 5. Asserts the merged results equal the reference: results.jsonl and the store
#    (canonical forms, testing/canonical.py) and, when nodules has `track`,
#    tracks.json.
# It never skips: if Slurm cannot be installed or started it fails with the logs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODULES_REAL=$(realpath "${1:-$ROOT/.build/debug/nodules}")
SHARDS=4
FAIL_SHARD=2
T0=$SECONDS

say() { echo "slurm-test: $*" >&2; }
fail() { echo "slurm-test: FAIL: $*" >&2; exit 1; }

[ -x "$NODULES_REAL" ] || fail "$NODULES_REAL is not an executable (build first)"
[ "$(id -u)" -eq 0 ] || fail "needs root (munged and slurmd run as root; CI runs as root): sudo make slurm-test"
command -v python3 >/dev/null || fail "python3 is needed to compare results"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nodulekit-slurm-test.XXXXXX")
chmod 0755 "$WORK"   # munged: every parent folder of its socket must be executable by all
export SLURM_CI_DIR="$WORK/cluster"
CLUSTER_UP=0
finish() {
    local rc=$?
    if ((CLUSTER_UP)); then "$HERE/single-node.sh" stop || true; fi
    if ((rc == 0)); then
        rm -rf "$WORK"
    else
        say "kept $WORK for inspection (cluster logs in $SLURM_CI_DIR/log, run in $WORK/run)"
    fi
}
trap finish EXIT

has_subcommand() { "$1" --help 2>/dev/null | awk -v c="$2" '/^SUBCOMMANDS:/ { s = 1; next } s && $1 == c { f = 1 } END { exit !f }'; }

NODULES=$NODULES_REAL
for sub in batch merge; do
    has_subcommand "$NODULES" "$sub" || fail "$NODULES has no '$sub' command"
done
HAS_TRACK=0
has_subcommand "$NODULES" track && HAS_TRACK=1

# ---- 1. input folder ----------------------------------------------------------
IN="$WORK/input"
S="$ROOT/Data/samples"
mkdir -p "$IN"
cp -r "$S/PHANTOM-001" "$S/PHANTOM-002" "$IN/"
mkdir -p "$IN/PHANTOM-003/2026-02-02" "$IN/PHANTOM-004/2026-04-01"
"$NODULES_REAL" convert --raw 1024x1024:u16be:12 --spacing 0.35 "$S/jsrt-style/PHANTOM-003.img" "$IN/PHANTOM-003/2026-02-02/pa.png"
if [ ! -d "$ROOT/Data/phantom/series" ]; then   # without the committed series, make follow-ups
    mkdir -p "$IN/PHANTOM-003/2026-08-03" "$IN/PHANTOM-002/2026-09-14"
    cp "$IN/PHANTOM-003/2026-02-02/pa.png" "$IN/PHANTOM-003/2026-08-03/pa.png"   # a stable follow-up
    "$NODULES_REAL" convert "$S/PHANTOM-002/2026-03-02/pa.jpg" "$IN/PHANTOM-002/2026-09-14/pa.png"
fi
head -c 4000 "$S/PHANTOM-001/2026-01-12/pa.png" >"$IN/PHANTOM-004/2026-04-01/pa.png"   # truncated: an image error
# Committed phantom series (<patient>/<date>/<image>), when the repository has them: a few more.
if [ -d "$ROOT/Data/phantom/series" ]; then
    n=0
    while IFS= read -r f && ((n < 8)); do
        rel=${f#"$ROOT/Data/phantom/series/"}
        mkdir -p "$IN/$(dirname "$rel")"
        cp "$f" "$IN/$rel"
        n=$((n + 1))
    done < <(find "$ROOT/Data/phantom/series" -mindepth 3 -maxdepth 3 -type f \( -name '*.png' -o -name '*.jpg' \) | LC_ALL=C sort)
fi
IMAGES=$(find "$IN" -type f | wc -l)
say "input: $IMAGES radiographs in $IN (one truncated on purpose)"

# ---- 2. reference: one machine ---------------------------------------------------
REF="$WORK/reference"
mkdir -p "$REF"
rc=0
"$NODULES" batch "$IN" --out "$REF/results.jsonl" --db "$REF/store.sqlite" --jobs 2 --quiet || rc=$?
[ "$rc" -eq 1 ] || fail "reference nodules batch exited $rc, expected 1 (one truncated image)"
[ "$(wc -l <"$REF/results.jsonl")" -eq "$IMAGES" ] || fail "reference has $(wc -l <"$REF/results.jsonl") records, expected $IMAGES"
if ((HAS_TRACK)); then
    rc=0
    "$NODULES" track --db "$REF/store.sqlite" --format json --out "$REF/tracks.json" --quiet || rc=$?
    [ "$rc" -le 1 ] && [ -f "$REF/tracks.json" ] || fail "reference nodules track exited $rc"
    REF_TRACK_EXIT=$rc
fi
say "reference run done ($((SECONDS - T0)) s so far)"

# ---- 3. the array, with one shard failing ----------------------------------------
"$HERE/single-node.sh" install
CLUSTER_UP=1
"$HERE/single-node.sh" start || fail "single-node Slurm did not start (logs above)"
eval "$("$HERE/single-node.sh" env)"

# A wrapper that fails shard FAIL_SHARD while $WORK/fail exists (the launcher
# records the binary, so the resubmission uses it too, with the flag gone).
WRAP="$WORK/nodules-under-test"
cat >"$WRAP" <<EOF
#!/usr/bin/env bash
if [ -e "$WORK/fail" ] && [[ " \$* " == *" --shard $FAIL_SHARD/$SHARDS "* ]]; then
    echo "injected failure of shard $FAIL_SHARD" >&2
    exit 2
fi
exec "$NODULES" "\$@"
EOF
chmod +x "$WRAP"
touch "$WORK/fail"

RUN="$WORK/run"
submit=("$HERE/submit.sh" --input "$IN" --out "$RUN" --shards "$SHARDS" --cpus-per-task 1 --mem 1G
        --time 00:10:00 --merge-mem 1G --merge-time 00:10:00 --nodules "$WRAP" --wait --poll-max 0.5)
rc=0
"${submit[@]}" >"$WORK/first.txt" || rc=$?
cat "$WORK/first.txt"
[ "$rc" -eq 1 ] || fail "first submission exited $rc, expected 1 (shard $FAIL_SHARD fails)"
grep -q "^shard $FAIL_SHARD: FAILED, exit 2:0 (job [0-9]*_$FAIL_SHARD); log: $RUN/logs/shard-$FAIL_SHARD\.[0-9]*\.log" "$WORK/first.txt" \
    || fail "the report does not name shard $FAIL_SHARD with its exit code and log path"
log=$(sed -n "s/^shard $FAIL_SHARD: FAILED.*; log: //p" "$WORK/first.txt")
grep -q "injected failure of shard $FAIL_SHARD" "$log" || fail "$log does not hold the shard's output"
grep -q "^failed shards: $FAIL_SHARD " "$WORK/first.txt" || fail "the report does not list the failed shards"
[ ! -e "$RUN/merged.done" ] && [ ! -e "$RUN/merged.sqlite" ] || fail "the merge ran although a shard failed"
for ((k = 0; k < SHARDS; k++)); do
    if ((k != FAIL_SHARD)); then [ -f "$RUN/shard-$k.done" ] || fail "shard $k did not finish"; fi
done
say "a failed shard is reported with its log; the merge did not run ($((SECONDS - T0)) s so far)"

# ---- 4. resubmission: only the failed shard -------------------------------------
rm "$WORK/fail"
before=$(stat -c '%n %Y %s' "$RUN"/shard-*.done)
rc=0
"${submit[@]}" >"$WORK/second.txt" || rc=$?
cat "$WORK/second.txt"
[ "$rc" -eq 3 ] || fail "resubmission exited $rc, expected 3 (all jobs succeeded, one image error)"
last_array=$(awk '$1 == "array" { spec = $3 } END { print spec }' "$RUN/.slurm/jobs")
[ "$last_array" = "$FAIL_SHARD" ] || fail "the resubmission ran shards '$last_array', expected only $FAIL_SHARD"
after=$(stat -c '%n %Y %s' "$RUN"/shard-*.done | grep -v "shard-$FAIL_SHARD.done")
[ "$(grep -v "shard-$FAIL_SHARD.done" <<<"$before")" = "$after" ] || fail "a finished shard's marker changed on resubmission"
[ -f "$RUN/merged.done" ] || fail "no merged.done after the resubmission"
grep -q "^summary: $SHARDS/$SHARDS shards done, 0 failed, 0 job(s) queued or running, 1 image error(s)" "$WORK/second.txt" \
    || fail "unexpected summary after the resubmission"
rc=0
"$HERE/submit.sh" --status --out "$RUN" >/dev/null || rc=$?
[ "$rc" -eq 3 ] || fail "--status exited $rc after the run, expected 3"
say "the resubmission reran only shard $FAIL_SHARD, then merged ($((SECONDS - T0)) s so far)"

# ---- 5. equal to the single-machine run -------------------------------------------
C="$HERE/testing/canonical.py"
compare() {   # what, canonical form of the reference, of the array run
    if ! cmp -s <(printf '%s' "$2") <(printf '%s' "$3"); then
        diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | cut -c1-300 | head -n 20 >&2
        fail "$1 differ between the single-machine run (<) and the Slurm array (>)"
    fi
    say "$1: equal ($(printf '%s\n' "$3" | wc -l) canonical lines)"
}
[ "$(wc -l <"$RUN/results.jsonl")" -eq "$IMAGES" ] || fail "results.jsonl has $(wc -l <"$RUN/results.jsonl") records, expected $IMAGES"
compare "detection records (results.jsonl)" "$(python3 "$C" jsonl "$REF/results.jsonl")" "$(python3 "$C" jsonl "$RUN/results.jsonl")"
compare "stores (merged.sqlite vs store.sqlite)" "$(python3 "$C" store "$REF/store.sqlite")" "$(python3 "$C" store "$RUN/merged.sqlite")"
if ((HAS_TRACK)); then
    [ -f "$RUN/tracks.json" ] || fail "nodules has 'track' but the merge job wrote no tracks.json"
    [ "$(sed -n 's/^track_exit=//p' "$RUN/merged.done")" = "$REF_TRACK_EXIT" ] \
        || fail "nodules track exited $(sed -n 's/^track_exit=//p' "$RUN/merged.done") in the merge job, $REF_TRACK_EXIT on one machine"
    compare "tracks (tracks.json)" "$(python3 "$C" json "$REF/tracks.json")" "$(python3 "$C" json "$RUN/tracks.json")"
    say "tracks: $(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(len(d), "patients,", sum(len(p["exams"]) for p in d), "exams,", sum(len(p["tracks"]) for p in d), "tracks")' "$RUN/tracks.json") (nodules track exit $REF_TRACK_EXIT)"
else
    grep -q "has no 'track' command yet" "$RUN"/logs/merge.*.log || fail "the merge log does not say why tracks.json is missing"
    say "NOTE: nodules has no 'track' command yet: tracks not compared (the merge job says so in its log)"
fi

"$HERE/single-node.sh" stop
CLUSTER_UP=0
say "PASS in $((SECONDS - T0)) s"
