#!/usr/bin/env bash
# A throw-away single-node Slurm cluster for tests and CI: munge, slurmctld and
# slurmd from Debian 12's packages, no systemd, nothing in /etc, all state under
# one folder, stopped by PID. It follows /work/shared/slurm-notes.md.
#
# Usage: single-node.sh install|start|env|status|stop|selftest
#   install   apt-get install --no-install-recommends slurmctld slurmd slurm-client munge (if missing)
#   start     wipe $SLURM_CI_DIR, write a key and slurm.conf, start munged, slurmctld, slurmd;
#             returns when the node is idle (fails with the daemon logs otherwise)
#   env       print the shell lines clients need: eval "$(single-node.sh env)"
#   status    daemons (PID, alive), sinfo, squeue
#   stop      cancel our jobs, scontrol shutdown, wait on the daemons' PIDs, stop munged by PID
#   selftest  install, start, a 4-task array job with its outputs checked, srun hostname, stop
#
# Environment:
#   SLURM_CI_DIR          state folder (default ${TMPDIR:-/tmp}/slurm-ci). Must not be under a
#                         0700 folder such as /root: munged checks every parent of its socket.
#   SLURM_CI_CTLD_PORT    slurmctld port (default: the first free pair from 6817 upwards)
#   SLURM_CI_SLURMD_PORT  slurmd port (default: ctld port + 1)
#   SLURM_CI_START_TIMEOUT seconds to wait for the node to become idle (default 60)
#
# Needs root (munged and slurmd run as root, SlurmUser=root). There are no cgroups:
# nothing is enforced, which is fine for tests.
set -euo pipefail

DIR="${SLURM_CI_DIR:-${TMPDIR:-/tmp}/slurm-ci}"
PACKAGES=(slurmctld slurmd slurm-client munge)
START_TIMEOUT="${SLURM_CI_START_TIMEOUT:-60}"

log() { echo "single-node: $*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (munged, slurmctld and slurmd run as root here; CI runs as root)"
}

# Print a daemon log's tail, for failures.
show_logs() {
    local f
    for f in "$DIR/munge/munged.log" "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log"; do
        [ -f "$f" ] || continue
        echo "---- $f (last 40 lines) ----" >&2
        tail -n 40 "$f" >&2
    done
}

cmd_install() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    need_root
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' init scripts from starting system daemons (a munged on /run/munge,
    # slurmd/slurmctld without a config): where the image has no policy-rc.d, put one
    # denying every start in place for the install only. This harness never uses them.
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0 aptlog="${TMPDIR:-/tmp}/single-node-apt.log"
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
    fi
    # Try the current package lists first; update only when that fails (a fresh image has none).
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$aptlog" 2>&1 \
        || { apt-get update -qq >>"$aptlog" 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1; } \
        || rc=$?
    ((own_policy == 0)) || rm -f "$policy"
    ((rc == 0)) || { tail -n 20 "$aptlog" >&2; die "apt-get install ${missing[*]} failed (log: $aptlog)"; }
}

# True when something accepts connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_ports() {
    if [ -n "${SLURM_CI_CTLD_PORT:-}" ]; then
        CTLD_PORT=$SLURM_CI_CTLD_PORT
        SLURMD_PORT=${SLURM_CI_SLURMD_PORT:-$((CTLD_PORT + 1))}
        return
    fi
    local p
    for ((p = 6817; p < 6917; p += 2)); do
        if ! port_busy "$p" && ! port_busy "$((p + 1))"; then
            CTLD_PORT=$p
            SLURMD_PORT=${SLURM_CI_SLURMD_PORT:-$((p + 1))}
            return
        fi
    done
    die "no free port pair in 6817-6916 (set SLURM_CI_CTLD_PORT)"
}

pid_of() { [ -s "$1" ] && cat "$1" || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Wait up to $2 seconds for PID $1 to exit.
wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    ! alive "$pid"
}

# TERM a PID, wait, then KILL that same PID only.
stop_pid() {
    local name=$1 pid=$2
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 10; then
        log "$name ($pid) ignored TERM; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || log "$name ($pid) is still alive"
    fi
}

cmd_start() {
    need_root
    local bin
    for bin in munged slurmctld slurmd sinfo; do
        command -v "$bin" >/dev/null || die "$bin not found: run '$0 install' first"
    done
    case "$DIR" in /root | /root/*) die "SLURM_CI_DIR=$DIR is under /root (0700): munged refuses such sockets; use the temp folder" ;; esac
    if [ -f "$DIR/run/slurmctld.pid" ] && alive "$(pid_of "$DIR/run/slurmctld.pid")"; then
        die "a cluster is already running in $DIR (run '$0 stop' first)"
    fi

    rm -rf "$DIR"
    mkdir -p "$DIR"/{etc,munge,log,run,spool/ctld,spool/d}
    chmod 0755 "$DIR" "$DIR/munge"   # munged: every parent of the socket must be executable by all

    # munge: own key, socket, pid, log and seed files.
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$DIR/munge/munge.key"
    local sock="$DIR/munge/munge.socket"
    munged --socket="$sock" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" \
        || { show_logs; die "munged did not start"; }

    pick_ports
    local node
    node=$(slurmd -C | head -n 1)
    [[ "$node" == NodeName=* ]] || die "unexpected 'slurmd -C' output: $node"
    local host=${node#NodeName=}
    host=${host%% *}

    cat >"$DIR/etc/slurm.conf" <<EOF
# Written by Pipelines/slurm/single-node.sh: a throw-away single-node cluster.
ClusterName=nodulekit-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=300
SchedulerParameters=batch_sched_delay=0
MailProg=/bin/true
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$DIR/etc/slurm.conf"
    slurmctld || { show_logs; die "slurmctld did not start"; }
    slurmd || { show_logs; die "slurmd did not start"; }

    local deadline=$((SECONDS + START_TIMEOUT)) state=""
    while ((SECONDS < deadline)); do
        state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
        [ "$state" = idle ] && break
        sleep 0.2
    done
    if [ "$state" != idle ]; then
        log "node $host is '${state:-unknown}' after ${START_TIMEOUT}s, not idle"
        show_logs
        cmd_stop || true
        exit 1
    fi
    log "up in $DIR (node $host, ports $CTLD_PORT/$SLURMD_PORT); clients: export SLURM_CONF=$SLURM_CONF"
}

cmd_env() {
    printf 'export SLURM_CONF=%q\n' "$DIR/etc/slurm.conf"
}

cmd_status() {
    local name pidfile pid rc=0
    for name in munged slurmctld slurmd; do
        case $name in
            munged) pidfile=$DIR/munge/munged.pid ;;
            *) pidfile=$DIR/run/$name.pid ;;
        esac
        pid=$(pid_of "$pidfile")
        if alive "$pid"; then echo "$name: running (pid $pid)"; else echo "$name: not running"; rc=1; fi
    done
    if ((rc == 0)); then
        export SLURM_CONF="$DIR/etc/slurm.conf"
        sinfo || rc=1
        squeue || rc=1
    fi
    return $rc
}

cmd_stop() {
    local ctld slurmd munged
    ctld=$(pid_of "$DIR/run/slurmctld.pid")
    slurmd=$(pid_of "$DIR/run/slurmd.pid")
    munged=$(pid_of "$DIR/munge/munged.pid")
    export SLURM_CONF="$DIR/etc/slurm.conf"
    if alive "$ctld"; then
        local jobs
        jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
        # shellcheck disable=SC2086
        [ -z "${jobs// /}" ] || scancel $jobs 2>/dev/null || true
        scontrol shutdown >/dev/null 2>&1 || true
    fi
    wait_gone_or_kill() {
        local name=$1 pid=$2
        alive "$pid" || return 0
        wait_gone "$pid" 15 || stop_pid "$name" "$pid"
    }
    wait_gone_or_kill slurmctld "$ctld"
    wait_gone_or_kill slurmd "$slurmd"
    stop_pid munged "$munged"
    log "stopped ($DIR kept for its logs)"
}

cmd_selftest() {
    local t0=$SECONDS
    cmd_install
    cmd_start
    trap 'cmd_stop' EXIT
    export SLURM_CONF="$DIR/etc/slurm.conf"
    local out="$DIR/selftest" job
    mkdir -p "$out"
    job=$(sbatch --parsable --array=0-3 -o "$out/task-%a.log" \
        --wrap "echo task \$SLURM_ARRAY_TASK_ID of \$SLURM_ARRAY_TASK_COUNT > $out/out-\$SLURM_ARRAY_TASK_ID.txt")
    job=${job%%;*}
    local deadline=$((SECONDS + 120))
    while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ]; do
        ((SECONDS < deadline)) || { show_logs; die "array job $job did not finish in 120 s"; }
        sleep 0.2
    done
    local k
    for k in 0 1 2 3; do
        [ "$(cat "$out/out-$k.txt" 2>/dev/null)" = "task $k of 4" ] || { show_logs; die "array task $k wrote no output"; }
    done
    if scontrol -o show job "$job" | grep -v 'JobState=COMPLETED' >&2; then die "some array task did not complete"; fi
    [ -n "$(srun -n1 hostname)" ] || die "srun -n1 hostname printed nothing"
    trap - EXIT
    cmd_stop
    log "selftest passed in $((SECONDS - t0)) s"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    env) cmd_env ;;
    status) cmd_status ;;
    stop) cmd_stop ;;
    selftest) cmd_selftest ;;
    *) echo "usage: $0 install|start|env|status|stop|selftest" >&2; exit 2 ;;
esac
