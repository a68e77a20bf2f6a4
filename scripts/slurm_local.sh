#!/usr/bin/env bash
# A one-node Slurm on localhost for tests: munge + slurmctld + slurmd, every file under $SLURM_LOCAL_DIR.
#
#   scripts/slurm_local.sh install   # apt-get install slurm-wlm munge (Debian/Ubuntu, as root)
#   scripts/slurm_local.sh start     # write slurm.conf, start the daemons, wait until the node is idle
#   scripts/slurm_local.sh stop      # stop the daemons this script started
#   scripts/slurm_local.sh env       # print `export SLURM_CONF=...` for sbatch/squeue/srun
#
# One node "localhost" with the machine's CPUs, one partition "local" (the default), no cgroups
# (proctrack/linuxproc, task/none), no accounting database. Runs as root (slurmd must start jobs
# as the submitting user); munged runs as the user `munge`, with its key in $SLURM_LOCAL_DIR.
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/revkl-slurm}
CONF=$DIR/slurm.conf
MUNGE_SOCKET=$DIR/munge/munge.socket

install() {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
    mkdir -p "$DIR"/{ctld,slurmd,munge}
    cat >"$CONF" <<EOF
ClusterName=revkl-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null \
        || { echo "slurm_local.sh: slurm-wlm and munge are not installed (run: $0 install)" >&2; exit 2; }
    stop quiet
    write_conf
    chown munge:munge "$DIR/munge"
    chmod 0755 "$DIR/munge"  # clients need to reach the socket
    if [ ! -s "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    fi
    chown munge:munge "$DIR/munge/munge.key"
    chmod 0400 "$DIR/munge/munge.key"
    runuser -u munge -- munged --key-file="$DIR/munge/munge.key" --socket="$MUNGE_SOCKET" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
    export SLURM_CONF=$CONF
    slurmctld -f "$CONF"
    slurmd -f "$CONF" -N localhost
    for _ in $(seq 60); do
        if sinfo -h -n localhost -o %t 2>/dev/null | grep -qx idle; then
            echo "slurm_local.sh: node localhost idle (SLURM_CONF=$CONF)"
            return 0
        fi
        sleep 1
    done
    echo "slurm_local.sh: the node did not come up; logs in $DIR" >&2
    tail -n 20 "$DIR"/slurmctld.log "$DIR"/slurmd.log >&2 || true
    exit 1
}

stop() {
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
        if [ -s "$pidfile" ]; then
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            rm -f "$pidfile"
        fi
    done
    [ "${1:-}" = quiet ] || echo "slurm_local.sh: stopped"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
