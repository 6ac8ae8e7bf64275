#!/usr/bin/env bash
# The job that runs after every shard of Pipelines/slurm/submit.sh's array
# succeeded (--dependency=afterok): merges the shard stores into
# OUT/merged.sqlite, concatenates the shard results into OUT/results.jsonl (in
# shard order), then writes OUT/tracks.json with `nodules track` when this
# build of nodules has that command. Argument: OUT/.slurm/config.sh.
#
# Every output is written to a temporary name and renamed, so a failed merge
# never leaves a partial merged.sqlite; OUT/merged.done marks success.
#SBATCH --job-name=nodules-merge
set -euo pipefail

CONFIG=${1:?usage: merge-task.sh OUT/.slurm/config.sh}
# shellcheck source=/dev/null
source "$CONFIG"   # NODULES INPUT OUT SHARDS PIPELINE FORCE

rm -f "$OUT/merged.done"
echo "merge of $SHARDS shard(s): job ${SLURM_JOB_ID:-?} on $(hostname), started $(date -u +%FT%TZ)"
stores=() results=()
for ((k = 0; k < SHARDS; k++)); do
    [ -f "$OUT/shard-$k.done" ] || { echo "merge: shard $k has no completion marker ($OUT/shard-$k.done)" >&2; exit 1; }
    stores+=("$OUT/shard-$k.sqlite")
    results+=("$OUT/shard-$k.jsonl")
done

start=$SECONDS
tmp="$OUT/merged.sqlite.partial"
rm -f "$tmp" "$tmp-wal" "$tmp-shm" "$tmp-journal"
echo "+ $NODULES merge $tmp ${stores[*]}"
"$NODULES" merge "$tmp" "${stores[@]}"
for suffix in -wal -shm -journal; do rm -f "$OUT/merged.sqlite$suffix"; done
for suffix in -wal -shm -journal; do [ ! -e "$tmp$suffix" ] || mv "$tmp$suffix" "$OUT/merged.sqlite$suffix"; done
mv "$tmp" "$OUT/merged.sqlite"
merge_seconds=$((SECONDS - start))

cat "${results[@]}" >"$OUT/results.jsonl.partial"
mv "$OUT/results.jsonl.partial" "$OUT/results.jsonl"

tracks="not available"
rm -f "$OUT/tracks.json.partial"
# `nodules track --help` exits 0 even without the command (the parser prints the
# top-level help), so look for it in the SUBCOMMANDS list instead.
if "$NODULES" --help 2>/dev/null | awk '/^SUBCOMMANDS:/ { s = 1; next } s && $1 == "track" { f = 1 } END { exit !f }'; then
    # track reads each exam's image again (registration), from the stored absolute paths.
    echo "+ $NODULES track --db $OUT/merged.sqlite --format json --out $OUT/tracks.json"
    rc=0
    rm -f "$OUT/tracks.json"
    "$NODULES" track --db "$OUT/merged.sqlite" --format json --out "$OUT/tracks.json" || rc=$?
    case $rc in
        0) tracks="written" ;;
        1) tracks="written, some patients could not be tracked (see this log)" ;;
        *) echo "merge: nodules track exited $rc" >&2; exit "$rc" ;;
    esac
else
    rm -f "$OUT/tracks.json"
    echo "merge: this nodules ($NODULES) has no 'track' command yet; tracks.json not written." \
        "Run 'nodules track --db $OUT/merged.sqlite --format json' once it does."
fi

printf 'shards=%s\nmerge_seconds=%s\ntracks=%s\ntrack_exit=%s\njob=%s\nfinished=%s\n' \
    "$SHARDS" "$merge_seconds" "$tracks" "${rc:-}" "${SLURM_JOB_ID:-?}" "$(date -u +%FT%TZ)" >"$OUT/merged.done.tmp"
mv "$OUT/merged.done.tmp" "$OUT/merged.done"
echo "merge: done in $merge_seconds s: $OUT/merged.sqlite, $OUT/results.jsonl, tracks $tracks"
