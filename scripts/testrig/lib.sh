# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Shared definitions for up.sh and down.sh: names, addresses and daemon
# handling. Sourced, never run. Everything the rig creates is named here so
# that down.sh removes exactly what up.sh made.

RIG_STATE=${FLEET_RIG_DIR:-/tmp/fleet-rig}
# Paths end up in config files, JSON and argv without further quoting, so
# allow only characters that need none.
if [[ ! $RIG_STATE =~ ^/[A-Za-z0-9_./-]+$ ]]; then
	echo "testrig: FLEET_RIG_DIR must be an absolute path of [A-Za-z0-9_./-], got: $RIG_STATE" >&2
	exit 2
fi

# The login user on every host: an alias of root (uid 0) whose shell is
# /bin/sh and whose home is empty. Logging in as root itself would run
# root's ~/.bashrc on every command (bash does that for sshd's commands),
# which on machines with pyenv costs a second per command; real GPU nodes
# are logged into by plain users.
RIG_USER=fleetrig
# Another, unprivileged user of the nodes (no login, no home): the security
# tests plant files as this user where fleet looks (a cache entry, a link in
# a job's logs, a work directory), and check that fleet refuses or ignores
# each.
RIG_OTHER_USER=fleetmallory

RIG_BRIDGE=frig-br0
RIG_BRIDGE_ADDR=198.18.0.1
RIG_PREFIX=24
RIG_NETNS_PREFIX=frig-
RIG_VETH_PREFIX=frv-
# Comment on the iptables rules of fault tests (internal/testrig uses it too).
RIG_FAULT_COMMENT=fleet-rig-fault

# Host table: name, address, role. GPU nodes first (Slurm uses them).
RIG_HOSTS=(jump node1 node2 node3 node4 private1)
RIG_GPU_NODES=(node1 node2 node3 node4)
RIG_CLUSTERS=(rig rignoacct)
declare -A RIG_ADDR=([jump]=198.18.0.10 [node1]=198.18.0.11 [node2]=198.18.0.12
	[node3]=198.18.0.13 [node4]=198.18.0.14 [private1]=198.18.0.21)
declare -A RIG_ROLE=([jump]=jump [node1]=gpu [node2]=gpu [node3]=gpu [node4]=gpu [private1]=private)

# Slurm ports (root namespace for the controllers, each node namespace for
# the slurmds; two clusters share the namespaces on different ports).
declare -A RIG_CTLD_PORT=([rig]=6817 [rignoacct]=6827)
declare -A RIG_SLURMD_PORT=([rig]=6818 [rignoacct]=6828)
declare -A RIG_ACCOUNTING=([rig]=true [rignoacct]=false)
declare -A RIG_REQUEUE=([rig]=1 [rignoacct]=0)
# The login host of each cluster: its sshd sets SLURM_CONF for the cluster.
declare -A RIG_LOGIN=([rig]=jump [rignoacct]=node1)
RIG_DBD_PORT=6819
RIG_MARIADB_PORT=13306

rig_netns() { printf '%s%s' "$RIG_NETNS_PREFIX" "$1"; }
rig_veth() { printf '%s%s' "$RIG_VETH_PREFIX" "$1"; }
rig_node_dir() { printf '%s/nodes/%s' "$RIG_STATE" "$1"; }
rig_cluster_dir() { printf '%s/slurm/%s' "$RIG_STATE" "$1"; }
rig_munge_socket() { printf '%s/munge/sock/munge.socket.2' "$RIG_STATE"; }

# pid_alive PIDFILE: true when the file names a live, non-zombie process.
pid_alive() {
	local f=$1 pid state
	[[ -s $f ]] || return 1
	read -r pid <"$f" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/stat ]] || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z && $state != X ]]
}

# stop_pid PID NAME: SIGTERM, wait up to 5 s, then SIGKILL. A zombie counts
# as dead: its parent reaps it when it gets round to it.
stop_pid() {
	local pid=$1 name=$2 i state
	[[ -r /proc/$pid/stat ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 0
		[[ $state == Z || $state == X ]] && return 0
		sleep 0.1
	done
	echo "testrig: $name (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

# stop_pidfile FILE NAME: stop the daemon a pid file names, remove the file.
stop_pidfile() {
	local f=$1 name=$2 pid
	if pid_alive "$f"; then
		read -r pid <"$f"
		stop_pid "$pid" "$name"
	fi
	rm -f "$f"
}

# pids_in_netns NETNS: every process whose network namespace is NETNS
# (daemons, job steps, whatever a test left behind in that node). One find
# over /proc: a readlink per process would fork hundreds of times.
pids_in_netns() {
	local ns=/run/netns/$1 ino
	[[ -e $ns ]] || return 0
	ino=$(stat -L -c %i "$ns") || return 0
	find /proc/[0-9]*/ns/net -maxdepth 0 -lname "net:\[$ino\]" -printf "%h\n" 2>/dev/null |
		awk -F/ "{print \$3}"
	return 0
}

# tail_log FILE: the last lines of a daemon log, for failure messages.
tail_log() {
	if [[ -s $1 ]]; then
		echo "---- last lines of $1 ----" >&2
		tail -n 25 "$1" >&2
	else
		echo "---- $1 is empty or missing ----" >&2
	fi
}

# Run by `unshare --uts /bin/sh -c "$RIG_SETHOST_SH" NAME ARGV...`: give the
# new UTS namespace the node's hostname, then become the daemon.
# shellcheck disable=SC2016 # expanded by that inner sh, not here
RIG_SETHOST_SH='hostname "$0" && exec "$@"'

# host_in_fault HOST: a test holds HOST's lock exclusively (internal/testrig
# fault helpers do while a link is down, a daemon stopped, ...). up.sh then
# leaves the host alone: the test's cleanup restores it.
host_in_fault() {
	local f=$RIG_STATE/locks/$1.lock
	[[ -e $f ]] && ! flock -n -s "$f" true
}
