#!/usr/bin/env bash
# A stand-in for `nodules batch` and `nodules merge`, used by integration-test.sh
# only while the nodules under test lacks them (before the batch pipeline lands),
# so the Slurm harness and launcher are still exercised end to end. It is NOT the
# batch pipeline: no store, no resume, no folder metadata.
#   batch INPUT --shard K/N --out FILE --db FILE [...]   every K-th of N files (sorted
#         paths) through `nodules detect`; the "store" is a copy of the JSON Lines
#   merge OUT SOURCE...                                    concatenation, sorted
# The real nodules is $NODULES_REAL.
set -euo pipefail
REAL=${NODULES_REAL:?NODULES_REAL must name the real nodules}

case "${1:-}" in
    --help)
        printf 'OVERVIEW: nodules stand-in (batch, merge over nodules detect)\n\nSUBCOMMANDS:\n  batch\n  merge\n'
        exit 0 ;;
    batch)
        shift
        input=$1 shard=0/1 out="" db="" pipeline=()
        shift
        while (($#)); do
            case $1 in
                --shard) shard=$2; shift ;;
                --out) out=$2; shift ;;
                --db) db=$2; shift ;;
                --pipeline) pipeline=(--pipeline "$2"); shift ;;
                --jobs) shift ;;
                --force | --quiet) ;;
                *) echo "stand-in: unsupported batch option $1" >&2; exit 2 ;;
            esac
            shift
        done
        k=${shard%/*} n=${shard#*/}
        mapfile -t files < <(find "$input" -type f | LC_ALL=C sort)
        mine=()
        for i in "${!files[@]}"; do ((i % n == k)) && mine+=("${files[$i]}"); done
        rc=0
        if ((${#mine[@]})); then
            "$REAL" detect "${pipeline[@]}" --out "$out" "${mine[@]}" || rc=$?
        else
            : >"$out"
        fi
        cp "$out" "$db"
        exit "$rc" ;;
    merge)
        shift
        dest=$1
        shift
        LC_ALL=C sort "$@" >"$dest" ;;
    *)
        echo "stand-in: only batch and merge" >&2
        exit 2 ;;
esac
