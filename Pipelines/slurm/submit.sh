#!/usr/bin/env bash
# Run `nodules batch` over a folder or manifest as a Slurm job array, then merge
# the shard stores and track nodules across studies in one dependent job.
#
#   submit.sh --input INPUT --out OUT [options]     submit (or resubmit) the run
#   submit.sh --status --out OUT                     report each shard and the merge
#
# Task K of the array (0 ≤ K < N) runs
#   nodules batch INPUT --shard K/N --out OUT/shard-K.jsonl --db OUT/shard-K.sqlite --jobs $SLURM_CPUS_PER_TASK
# and writes OUT/shard-K.done when it finished. A job with --dependency=afterok on
# the array then runs
#   nodules merge OUT/merged.sqlite OUT/shard-*.sqlite     (shards in order)
#   cat OUT/shard-*.jsonl > OUT/results.jsonl                (shards in order)
#   nodules track --db OUT/merged.sqlite --format json > OUT/tracks.json   (when nodules has `track`)
# and writes OUT/merged.done. Logs: OUT/logs/shard-K.JOBID.log, OUT/logs/merge.JOBID.log.
#
# Resubmitting the same command after a failure submits only the shards without
# OUT/shard-K.done (a rerun shard also resumes: images already in its store are
# not recomputed), then the merge again. INPUT, OUT and the nodules binary must be
# on a filesystem every node sees at the same path.
#
# Options (defaults in brackets):
#   -i, --input PATH        folder (<root>/<patient>/<YYYY-MM-DD>/<image>) or manifest CSV   [required]
#   -o, --out DIR           output folder, on the shared filesystem                          [required]
#   -n, --shards N          number of shards = array tasks, at most the cluster's MaxArraySize
#                           (1001 by default); see "Sizing" below                            [16]
#   -p, --partition NAME    Slurm partition                                    [the cluster's default]
#   -c, --cpus-per-task C   CPUs per shard; also `nodules batch --jobs`                      [4]
#       --mem SIZE          memory per shard (sbatch --mem)                                  [8G]
#   -t, --time LIMIT        time limit per shard (sbatch --time)                             [04:00:00]
#       --merge-mem SIZE    memory of the merge job                                          [4G]
#       --merge-time LIMIT  time limit of the merge job                                      [02:00:00]
#       --max-running M     run at most M shards at once (--array=…%M)                       [no limit]
#   -A, --account NAME      Slurm account                                      [the user's default]
#       --pipeline NAME|FILE  nodules pipeline definition                      [nodules' default]
#       --nodules PATH      the nodules binary (shared filesystem)             [$NODULES, else PATH]
#       --sbatch-arg ARG    extra argument for both sbatch calls, repeatable (e.g. --sbatch-arg=--qos=long)
#       --force             rerun every shard, recomputing stored images (nodules batch --force)
#       --wait              wait for the run to end; report it; exit as --status does
#       --poll-max SECONDS  longest interval between squeue polls in --wait (starts at 0.2 s) [30]
#       --dry-run           print the sbatch commands and submit nothing
#       --status            report each shard and the merge for OUT, submit nothing
#
# Exit status (submission without --wait: 0 submitted or nothing to do, 2 usage or
# submission error). --status and --wait: 0 every shard and the merge succeeded;
# 1 a shard or the merge failed or never finished (each named with its log);
# 3 all jobs succeeded but some images could not be processed (counted per
# shard; the records carry error and error_code) or some patients could not be
# tracked (named in the merge log); 4 still queued or running.
#
# Sizing (measured figures: Benchmarks/slurm-scaling.md): a shard of M images on
# C CPUs takes about M × 0.2 s / C; the merge then takes about 0.11 ms per image
# of the whole archive, whatever N is. Make N a multiple of the shards that run
# at once (free cores / C), make one shard last about as long as the merge, and
# keep shards under about an hour when many waves are needed anyway, so that a
# failed shard is cheap to rerun.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

INPUT="" OUT="" SHARDS=16 PARTITION="" CPUS=4 MEM=8G TIME=04:00:00 MERGE_MEM=4G MERGE_TIME=02:00:00
MAX_RUNNING="" ACCOUNT="" PIPELINE="" NODULES_BIN="${NODULES:-}" FORCE=0 WAIT=0 POLL_MAX=30 DRY_RUN=0 STATUS=0
EXTRA=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "submit: error: $*" >&2; exit 2; }
say() { echo "submit: $*" >&2; }

while (($#)); do
    opt=$1
    case $opt in
        --*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
    esac
    case $opt in
        -h | --help) usage; exit 0 ;;
        --force | --wait | --dry-run | --status) ;;
        *) (($# >= 2)) || die "$opt needs a value" ;;
    esac
    case $opt in
        -i | --input) INPUT=$2; shift ;;
        -o | --out) OUT=$2; shift ;;
        -n | --shards) SHARDS=$2; shift ;;
        -p | --partition) PARTITION=$2; shift ;;
        -c | --cpus-per-task) CPUS=$2; shift ;;
        --mem) MEM=$2; shift ;;
        -t | --time) TIME=$2; shift ;;
        --merge-mem) MERGE_MEM=$2; shift ;;
        --merge-time) MERGE_TIME=$2; shift ;;
        --max-running) MAX_RUNNING=$2; shift ;;
        -A | --account) ACCOUNT=$2; shift ;;
        --pipeline) PIPELINE=$2; shift ;;
        --nodules) NODULES_BIN=$2; shift ;;
        --sbatch-arg) EXTRA+=("$2"); shift ;;
        --poll-max) POLL_MAX=$2; shift ;;
        --force) FORCE=1 ;;
        --wait) WAIT=1 ;;
        --dry-run) DRY_RUN=1 ;;
        --status) STATUS=1 ;;
        *) die "unknown option '$opt' (see --help)" ;;
    esac
    shift
done

[ -n "$OUT" ] || die "--out DIR is required (see --help)"
OUT=$(realpath -m -- "$OUT")
[[ "$OUT" =~ [[:space:]] ]] && die "--out must not contain whitespace: $OUT"
STATE="$OUT/.slurm"
CONFIG="$STATE/config.sh"
JOBS_FILE="$STATE/jobs"

# ---- reporting ---------------------------------------------------------------

# Expands "0-3,5,7%2" to "0 1 2 3 5 7".
expand_list() {
    local part a b out=() parts=()
    IFS=, read -ra parts <<<"${1%%%*}"
    for part in "${parts[@]}"; do
        if [[ $part == *-* ]]; then
            a=${part%-*} b=${part#*-}
            for ((; a <= b; a++)); do out+=("$a"); done
        elif [ -n "$part" ]; then
            out+=("$part")
        fi
    done
    echo "${out[*]:-}"
}

# Compresses "0 1 2 3 5 7" to "0-3,5,7".
compress_list() {
    local out="" start="" prev="" k
    for k in "$@" ""; do
        if [ -n "$prev" ] && [ "$k" = "$((prev + 1))" ]; then prev=$k; continue; fi
        if [ -n "$start" ]; then
            [ "$start" = "$prev" ] && out+="$start," || out+="$start-$prev,"
        fi
        start=$k prev=$k
    done
    echo "${out%,}"
}

# Fills SHARD_JOB[k], SHARD_STATE[k], SHARD_EXIT[k] from the recorded jobs and
# `scontrol -o show job` (finished jobs stay there for MinJobAge, 300 s by
# default; there may be no accounting database), and MERGE_JOB/STATE/EXIT.
declare -A SHARD_JOB SHARD_STATE SHARD_EXIT
MERGE_JOB="" MERGE_STATE="" MERGE_EXIT=""
collect_states() {
    SHARD_JOB=() SHARD_STATE=() SHARD_EXIT=()
    MERGE_JOB="" MERGE_STATE="" MERGE_EXIT=""
    [ -f "$JOBS_FILE" ] || return 0
    local kind id list k line tid st ec
    while read -r kind id list; do
        case $kind in
            array) for k in $(expand_list "$list"); do SHARD_JOB[$k]=$id; unset "SHARD_STATE[$k]" "SHARD_EXIT[$k]"; done ;;
            merge) MERGE_JOB=$id ;;
        esac
    done <"$JOBS_FILE"
    local ids
    ids=$( (printf '%s\n' "${SHARD_JOB[@]}"; [ -z "$MERGE_JOB" ] || echo "$MERGE_JOB") | sort -un)
    for id in $ids; do
        while IFS= read -r line; do
            [[ $line =~ JobState=([^ ]+) ]] && st=${BASH_REMATCH[1]} || continue
            [[ $line =~ ExitCode=([^ ]+) ]] && ec=${BASH_REMATCH[1]} || ec=""
            if [[ $line =~ ArrayJobId=([0-9]+)\ ArrayTaskId=([^ ]+) ]]; then
                [ "${BASH_REMATCH[1]}" = "$id" ] || continue
                tid=${BASH_REMATCH[2]}
                for k in $(expand_list "$tid"); do
                    [ "${SHARD_JOB[$k]:-}" = "$id" ] || continue
                    SHARD_STATE[$k]=$st SHARD_EXIT[$k]=$ec
                done
            elif [ "$id" = "$MERGE_JOB" ]; then
                MERGE_STATE=$st MERGE_EXIT=$ec
            fi
        done < <(scontrol -o show job "$id" 2>/dev/null || true)
    done
}

marker_field() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n 1; }

show_log_tail() {
    [ -f "$1" ] || { echo "      (no log yet: $1)"; return; }
    tail -n 4 "$1" | sed 's/^/      | /'
}

# Prints one line per shard and one for the merge; returns the --status code.
report() {
    # shellcheck source=/dev/null
    source "$CONFIG"
    collect_states
    local k done=0 failed=() running=0 image_errors=0 log st
    for ((k = 0; k < SHARDS; k++)); do
        log="$OUT/logs/shard-$k.${SHARD_JOB[$k]:-JOBID}.log"
        if [ -f "$OUT/shard-$k.done" ]; then
            done=$((done + 1))
            local e
            e=$(marker_field "$OUT/shard-$k.done" image_errors)
            image_errors=$((image_errors + ${e:-0}))
            echo "shard $k: done, $(marker_field "$OUT/shard-$k.done" images) image(s), ${e:-0} with errors"
            continue
        fi
        st=${SHARD_STATE[$k]:-}
        case $st in
            PENDING | RUNNING | CONFIGURING | COMPLETING | REQUEUED | RESIZING | SUSPENDED)
                running=$((running + 1))
                echo "shard $k: ${st,,} (job ${SHARD_JOB[$k]}_$k)" ;;
            "")
                if [ -n "${SHARD_JOB[$k]:-}" ]; then
                    failed+=("$k")
                    echo "shard $k: FAILED: no $OUT/shard-$k.done and job ${SHARD_JOB[$k]}_$k is no longer known to Slurm; log: $log"
                    show_log_tail "$log"
                else
                    failed+=("$k")
                    echo "shard $k: not submitted yet; resubmit"
                fi ;;
            *)
                failed+=("$k")
                echo "shard $k: $st, exit ${SHARD_EXIT[$k]:-?} (job ${SHARD_JOB[$k]}_$k); log: $log"
                show_log_tail "$log" ;;
        esac
    done
    local mlog="$OUT/logs/merge.${MERGE_JOB:-JOBID}.log" merge_failed=0
    if [ -f "$OUT/merged.done" ]; then
        echo "merge: done: $OUT/merged.sqlite, $OUT/results.jsonl, tracks $(marker_field "$OUT/merged.done" tracks)"
    else
        case $MERGE_STATE in
            PENDING | RUNNING | CONFIGURING | COMPLETING)
                running=$((running + 1))
                echo "merge: ${MERGE_STATE,,} (job $MERGE_JOB)" ;;
            CANCELLED)
                merge_failed=1
                echo "merge: not run (job $MERGE_JOB cancelled: a shard it depends on failed)" ;;
            "")
                merge_failed=1
                echo "merge: not done${MERGE_JOB:+ (job $MERGE_JOB no longer known to Slurm; log: $mlog)}" ;;
            *)
                merge_failed=1
                echo "merge: $MERGE_STATE, exit ${MERGE_EXIT:-?} (job $MERGE_JOB); log: $mlog"
                show_log_tail "$mlog" ;;
        esac
    fi
    echo "summary: $done/$SHARDS shards done, ${#failed[@]} failed, $running job(s) queued or running, $image_errors image error(s)"
    if ((running > 0)); then return 4; fi
    if ((${#failed[@]})); then
        echo "failed shards: ${failed[*]} — fix the cause (see the logs), then run the same submit command again:" \
            "only these shards are rerun, then the merge"
        return 1
    fi
    ((merge_failed)) && return 1
    ((image_errors > 0)) && return 3
    [ "$(marker_field "$OUT/merged.done" track_exit)" = 1 ] && return 3
    return 0
}

# True while any recorded job of this run is still queued or running.
active_jobs() {
    [ -f "$JOBS_FILE" ] || return 1
    local id found=1
    for id in $(awk '{print $2}' "$JOBS_FILE" | sort -un); do
        if [ -n "$(squeue -h -j "$id" -o %i 2>/dev/null || true)" ]; then found=0; fi
    done
    return $found
}

wait_for_run() {
    local interval=0.2 last="" now array_active
    # shellcheck source=/dev/null
    source "$CONFIG"
    while :; do
        now=$(find "$OUT" -maxdepth 1 -name 'shard-*.done' | wc -l)
        if [ "$now" != "$last" ]; then say "$now/$SHARDS shards done"; last=$now; fi
        active_jobs || break
        # A merge whose shards failed can never start; Slurm cancels it (--kill-on-invalid-dep),
        # but do not wait on that: once no shard job is left, a pending merge is cancelled here.
        array_active=0
        for id in $(awk '$1 == "array" {print $2}' "$JOBS_FILE" | sort -un); do
            [ -z "$(squeue -h -j "$id" -o %i 2>/dev/null || true)" ] || array_active=1
        done
        if ((array_active == 0)) && [ -n "$(awk '$1 == "merge" {print $2}' "$JOBS_FILE" | tail -n 1)" ]; then
            local m reason
            m=$(awk '$1 == "merge" {print $2}' "$JOBS_FILE" | tail -n 1)
            reason=$(squeue -h -j "$m" -o %r 2>/dev/null || true)
            if [ "$reason" = DependencyNeverSatisfied ]; then scancel "$m" 2>/dev/null || true; fi
        fi
        sleep "$interval"
        interval=$(awk -v i="$interval" -v m="$POLL_MAX" 'BEGIN { i *= 1.5; if (i > m) i = m; print i }')
    done
}

if ((STATUS)); then
    [ -f "$CONFIG" ] || die "$OUT has no run (no $CONFIG)"
    rc=0
    report || rc=$?
    exit "$rc"
fi

# ---- submission --------------------------------------------------------------

[ -n "$INPUT" ] || die "--input is required (see --help)"
INPUT=$(realpath -m -- "$INPUT")
[ -e "$INPUT" ] || die "input $INPUT does not exist"
[[ "$INPUT" =~ [[:space:]] ]] && die "--input must not contain whitespace: $INPUT"
[[ "$SHARDS" =~ ^[1-9][0-9]*$ ]] || die "--shards must be a positive integer"
[[ "$CPUS" =~ ^[1-9][0-9]*$ ]] || die "--cpus-per-task must be a positive integer"
[ -z "$MAX_RUNNING" ] || [[ "$MAX_RUNNING" =~ ^[1-9][0-9]*$ ]] || die "--max-running must be a positive integer"
if [ -z "$NODULES_BIN" ]; then NODULES_BIN=$(command -v nodules || true); fi
[ -n "$NODULES_BIN" ] || die "no nodules binary: give --nodules PATH (on the shared filesystem) or put nodules on PATH"
NODULES_BIN=$(realpath -m -- "$NODULES_BIN")
[ -x "$NODULES_BIN" ] || die "$NODULES_BIN is not executable"
# (`nodules X --help` exits 0 even when X does not exist: read the SUBCOMMANDS list.)
has_subcommand() { "$1" --help 2>/dev/null | awk -v c="$2" '/^SUBCOMMANDS:/ { s = 1; next } s && $1 == c { f = 1 } END { exit !f }'; }
for sub in batch merge; do
    has_subcommand "$NODULES_BIN" "$sub" || die "$NODULES_BIN has no '$sub' command (it needs nodules batch and nodules merge)"
done
if [ -n "$PIPELINE" ] && [ -f "$PIPELINE" ]; then PIPELINE=$(realpath -- "$PIPELINE"); fi
if ((DRY_RUN == 0)); then
    command -v sbatch >/dev/null || die "sbatch not found (is this a Slurm login node? for tests: Pipelines/slurm/single-node.sh)"
    # Array indices must be below the cluster's MaxArraySize (1001 by default).
    max_array=$(scontrol show config 2>/dev/null | awk -F= '/^MaxArraySize/ { gsub(/ /, "", $2); print $2 }')
    if [[ "$max_array" =~ ^[0-9]+$ ]] && ((SHARDS > max_array)); then
        die "--shards $SHARDS is more than this cluster's MaxArraySize ($max_array); use at most $max_array shards"
    fi
fi

((DRY_RUN)) || mkdir -p "$STATE" "$OUT/logs"
if [ -f "$CONFIG" ]; then
    # shellcheck source=/dev/null
    old=$(source "$CONFIG"; printf '%s|%s|%s' "$INPUT" "$SHARDS" "$PIPELINE")
    new=$(printf '%s|%s|%s' "$INPUT" "$SHARDS" "$PIPELINE")
    [ "$old" = "$new" ] || die "$OUT holds a run with different input|shards|pipeline ($old); use the same ones or a new --out"
    if ((DRY_RUN == 0)) && active_jobs; then
        die "jobs of the previous submission are still queued or running (see --status); wait, or scancel them, before resubmitting"
    fi
fi

# Shards to run: all with --force, else those without a completion marker.
todo=()
for ((k = 0; k < SHARDS; k++)); do
    if ((FORCE)) || [ ! -f "$OUT/shard-$k.done" ]; then todo+=("$k"); fi
done
if ((${#todo[@]} == 0)) && [ -f "$OUT/merged.done" ]; then
    say "nothing to do: all $SHARDS shards and the merge of $OUT are complete (--force reruns everything)"
    exit 0
fi

write_config() {
    {
        echo "# Written by Pipelines/slurm/submit.sh; read by shard-task.sh and merge-task.sh."
        printf 'NODULES=%q\nINPUT=%q\nOUT=%q\nSHARDS=%q\nPIPELINE=%q\nFORCE=%q\n' \
            "$NODULES_BIN" "$INPUT" "$OUT" "$SHARDS" "$PIPELINE" "$FORCE"
    } >"$CONFIG.tmp"
    mv "$CONFIG.tmp" "$CONFIG"
}

common=(--parsable --kill-on-invalid-dep=yes)
[ -z "$PARTITION" ] || common+=(--partition "$PARTITION")
[ -z "$ACCOUNT" ] || common+=(--account "$ACCOUNT")
common+=("${EXTRA[@]}")

run_sbatch() {
    if ((DRY_RUN)); then
        echo "sbatch $*" >&2
        echo "DRYRUN"
        return
    fi
    local id
    id=$(sbatch "$@") || die "sbatch failed: sbatch $*"
    echo "${id%%;*}"
}

((DRY_RUN)) || write_config
DRY_RUN_WORD=""
((DRY_RUN == 0)) || DRY_RUN_WORD="dry run, not "
array_job=""
if ((${#todo[@]})); then
    spec=$(compress_list "${todo[@]}")
    [ -z "$MAX_RUNNING" ] || spec+="%$MAX_RUNNING"
    array_job=$(run_sbatch "${common[@]}" --job-name nodules-shard --array="$spec" \
        --cpus-per-task "$CPUS" --mem "$MEM" --time "$TIME" \
        --output "$OUT/logs/shard-%a.%A.log" "$HERE/shard-task.sh" "$CONFIG")
    ((DRY_RUN)) || echo "array $array_job $spec" >>"$JOBS_FILE"
    say "${DRY_RUN_WORD}submitted shard array job $array_job: shards $spec of $SHARDS (log: $OUT/logs/shard-K.$array_job.log)"
fi
dep=()
[ -z "$array_job" ] || dep=(--dependency="afterok:$array_job")
merge_job=$(run_sbatch "${common[@]}" "${dep[@]}" --job-name nodules-merge \
    --cpus-per-task 1 --mem "$MERGE_MEM" --time "$MERGE_TIME" \
    --output "$OUT/logs/merge.%j.log" "$HERE/merge-task.sh" "$CONFIG")
((DRY_RUN)) || echo "merge $merge_job" >>"$JOBS_FILE"
say "${DRY_RUN_WORD}submitted merge job $merge_job${array_job:+ (after job $array_job succeeds)} (log: $OUT/logs/merge.$merge_job.log)"
((DRY_RUN)) && exit 0

if ((WAIT == 0)); then
    say "watch with: $0 --status --out $OUT"
    exit 0
fi
wait_for_run
rc=0
report || rc=$?
exit "$rc"
