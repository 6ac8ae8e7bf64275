#!/usr/bin/env bash
# One task of the array that Pipelines/slurm/submit.sh submits: shard K of N of
# `nodules batch`, K = $SLURM_ARRAY_TASK_ID. Argument: the run's config file
# (OUT/.slurm/config.sh, written by submit.sh). N comes from the config, never
# from $SLURM_ARRAY_TASK_COUNT, because a resubmission runs only some shards.
#
# Exit status: 0 when `nodules batch` finished the shard (its exit 0, or 1 = some
# images failed and were recorded as errors; a rerun would not change them), and
# then OUT/shard-K.done exists; otherwise batch's status (2 = unusable input,
# pipeline, store or output; >128 = killed by a signal) and no marker.
#SBATCH --job-name=nodules-shard
set -euo pipefail

CONFIG=${1:?usage: shard-task.sh OUT/.slurm/config.sh}
# shellcheck source=/dev/null
source "$CONFIG"   # NODULES INPUT OUT SHARDS PIPELINE FORCE
K=${SLURM_ARRAY_TASK_ID:?not running as a Slurm array task}
JOBS=${SLURM_CPUS_PER_TASK:-1}

marker="$OUT/shard-$K.done"
rm -f "$marker" "$OUT/shard-$K.jsonl"
echo "shard $K/$SHARDS: job ${SLURM_ARRAY_JOB_ID:-?}_$K on $(hostname), $JOBS cpu(s), started $(date -u +%FT%TZ)"
args=(batch "$INPUT" --shard "$K/$SHARDS" --out "$OUT/shard-$K.jsonl" --db "$OUT/shard-$K.sqlite"
      --jobs "$JOBS")
[ -z "$PIPELINE" ] || args+=(--pipeline "$PIPELINE")
[ "$FORCE" = 1 ] && args+=(--force)
echo "+ $NODULES ${args[*]}"

start=$SECONDS
set +e
"$NODULES" "${args[@]}"
rc=$?
set -e

if { [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; } && [ -f "$OUT/shard-$K.jsonl" ]; then
    images=$(wc -l <"$OUT/shard-$K.jsonl")
    errors=$(grep -Evc '"error_code" ?: ?null' "$OUT/shard-$K.jsonl" || true)
    printf 'shard=%s/%s\nbatch_exit=%s\nimages=%s\nimage_errors=%s\nseconds=%s\njob=%s_%s\nfinished=%s\n' \
        "$K" "$SHARDS" "$rc" "$images" "$errors" "$((SECONDS - start))" "${SLURM_ARRAY_JOB_ID:-?}" "$K" \
        "$(date -u +%FT%TZ)" >"$marker.tmp"
    mv "$marker.tmp" "$marker"
    echo "shard $K/$SHARDS: done, $images image(s), $errors with errors, $((SECONDS - start)) s"
    exit 0
fi
echo "shard $K/$SHARDS: FAILED, nodules batch exited $rc" >&2
[ "$rc" -eq 0 ] && rc=1   # exit 0 without its output file is a failure too
exit "$rc"
