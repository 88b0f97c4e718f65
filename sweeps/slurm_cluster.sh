#!/usr/bin/env bash
# A one-node SLURM cluster on this Debian machine (root, no GPU needed), to try openrs's SLURM path on a laptop
# and to test it against a real slurmctld and slurmd (tests/e2e/test_slurm.py; .ci/run starts one).
#
#   sweeps/slurm_cluster.sh up   [DIR]   install slurm-wlm, slurmdbd, munge and mariadb when missing, write the
#                                        config under DIR (default /tmp/openrs-slurm) sized to this machine, start
#                                        munged (unless running), MariaDB and slurmdbd (job accounting: sacct,
#                                        which submitit asks for the state of a job), slurmctld and slurmd, and wait
#                                        until the node is idle
#   sweeps/slurm_cluster.sh down [DIR]   stop exactly the daemons `up` started
#
# The node declares 4 GPUs (empty placeholder files as their devices) so that hydra/launcher=slurm_4gpu's request
# is scheduled here too: its jobs get SLURM_GPUS_ON_NODE=4, and CUDA_VISIBLE_DEVICES stays empty, so the training
# inside runs on the CPU (hardware=cpu).
set -euo pipefail
action=${1:?usage: $0 up|down [DIR]}
dir=$(realpath -m "${2:-/tmp/openrs-slurm}")
conf=$dir/slurm.conf

stop_pidfile() {  # the daemon named in pidfile $1, if this script started it; waits until it is gone
  [[ -f $1 ]] || return 0
  local pid
  pid=$(cat "$1")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$1"
}

if [[ $action == down ]]; then
  # Jobs first: their processes would outlive slurmd, and a later `up` would find them.
  if jobs=$(SLURM_CONF=$conf squeue -h -o %A 2>/dev/null) && [[ -n $jobs ]]; then
    SLURM_CONF=$conf scancel $jobs || true
    for _ in $(seq 120); do [[ -z $(SLURM_CONF=$conf squeue -h -o %A 2>/dev/null) ]] && break; sleep 1; done
  fi
  stop_pidfile "$dir/slurmd.pid"
  stop_pidfile "$dir/slurmctld.pid"
  stop_pidfile "$dir/slurmdbd.pid"
  stop_pidfile "$dir/mysql/mariadb.pid"
  stop_pidfile "$dir/munged.started"
  if [[ -f $dir/linked ]]; then rm -f /etc/slurm/slurm.conf "$dir/linked"; fi
  echo "slurm_cluster: stopped the daemons started from $dir"
  exit 0
fi
[[ $action == up ]] || { echo "usage: $0 up|down [DIR]" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "slurm_cluster: needs root (the daemons run as root)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v munged >/dev/null \
    || ! command -v mariadbd >/dev/null; then
  echo "slurm_cluster: installing slurm-wlm, slurmdbd, munge and mariadb-server (a minute or two)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
# Leave the system 2 GiB (MiB, as SLURM counts).
memory=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 2048 ))
mkdir -p "$dir/state" "$dir/spool" "$dir/gpus"
touch "$dir"/gpus/nvidia{0,1,2,3}
cat > "$conf" <<CONF
ClusterName=openrs-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobRequeue=1
ReturnToService=2
MpiDefault=none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
# Seconds between SIGTERM and SIGKILL when a job is cancelled, requeued or out of time: a checkpoint's grace.
KillWait=60
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$memory Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo "Name=gpu File=$dir/gpus/nvidia[0-3]" > "$dir/gres.conf"
# slurmdbd reads slurmdbd.conf beside slurm.conf, and only when no one else can read it.
cat > "$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=openrs-local
StorageLoc=slurm_acct_db
PidFile=$dir/slurmdbd.pid
LogFile=$dir/slurmdbd.log
CONF
chmod 600 "$dir/slurmdbd.conf"
# Clients (sbatch, sinfo, submitit) read /etc/slurm/slurm.conf unless SLURM_CONF says otherwise.
if [[ -L /etc/slurm/slurm.conf || ! -e /etc/slurm/slurm.conf ]]; then  # a link left by an earlier cluster: replaced
  mkdir -p /etc/slurm
  ln -sfn "$conf" /etc/slurm/slurm.conf
  touch "$dir/linked"
fi

if ! pgrep -x munged >/dev/null; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  runuser -u munge -- munged
  for _ in $(seq 50); do [[ -f /run/munge/munged.pid ]] && break; sleep 0.1; done
  cp /run/munge/munged.pid "$dir/munged.started"
fi
# MariaDB for slurmdbd: its own data folder under DIR (its user writes only there), reachable only through its
# socket.
if [[ ! -d $dir/mysql ]]; then
  mariadb-install-db --user=mysql --datadir="$dir/mysql" >"$dir/mariadb-install.log" 2>&1 \
    || { cat "$dir/mariadb-install.log" >&2; exit 1; }
fi
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
mariadbd --user=mysql --datadir="$dir/mysql" --socket=/run/mysqld/mysqld.sock --skip-networking \
  --pid-file="$dir/mysql/mariadb.pid" --log-error="$dir/mysql/mariadb.log" >/dev/null 2>&1 &
for _ in $(seq 100); do mariadb -e "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'openrs-local';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
SLURM_CONF=$conf slurmdbd
for _ in $(seq 100); do SLURM_CONF=$conf sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
SLURM_CONF=$conf sacctmgr -i add cluster openrs-local >/dev/null 2>&1 || true  # there already, after a restart
# A fresh cluster each time: no job of an earlier one is recovered (-c).
SLURM_CONF=$conf slurmctld -c -f "$conf"
SLURM_CONF=$conf slurmd -c -f "$conf"
for _ in $(seq 120); do
  if [[ $(SLURM_CONF=$conf sinfo -h -N -o %t 2>/dev/null) == idle ]]; then
    echo "slurm_cluster: node $host idle ($cpus CPUs, $memory MiB, 4 placeholder GPUs); $(slurmctld -V)"
    exit 0
  fi
  sleep 0.5
done
echo "slurm_cluster: the node did not become idle within 60 s; see $dir/slurmctld.log and $dir/slurmd.log" >&2
exit 1
