#!/usr/bin/env bash
# Bring up the fleet test rig: sshd "hosts" in network namespaces behind a
# bridge, fake GPU tools, and two Slurm clusters (with and without
# accounting). Idempotent: rerunning it checks each part and starts only what
# is missing. See README.md beside this file.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

START=$(date +%s.%N)
say() { printf 'testrig: %s\n' "$*" >&2; }
die() {
	printf 'testrig: FAILED: %s\n' "$*" >&2
	exit 1
}
elapsed() { awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}'; }

# put_file FILE [MODE] <CONTENT: replace FILE atomically and only when the
# content changed. Tests of other packages read these files while a rerun of
# up.sh rewrites them (the fake tools read gpu.env, Slurm clients read
# slurm.conf, sshd reads authorized_keys on every login).
put_file() {
	local f=$1 mode=${2:-0644} tmp
	tmp=$(mktemp "$f.XXXXXX")
	cat >"$tmp"
	if cmp -s "$tmp" "$f"; then
		rm -f "$tmp"
		chmod "$mode" "$f"
		return 0
	fi
	chmod "$mode" "$tmp"
	mv -f "$tmp" "$f"
}

[[ $(id -u) == 0 ]] || die "must run as root (namespaces, veths, daemons)"

# ---------------------------------------------------------------- packages
PKGS=(openssh-server openssh-client munge slurmctld slurmd slurm-client slurmdbd
	slurm-wlm-mysql-plugin mariadb-server iptables iproute2 util-linux procps)
install_packages() {
	local missing=() p s
	# One dpkg-query for all: this is most of the time of a rerun otherwise.
	declare -A have=()
	while read -r p s; do have[$p]=$s; done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null || true)
	for p in "${PKGS[@]}"; do
		[[ ${have[$p]:-} == installed ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	say "installing ${missing[*]}"
	local made_policy=0
	# Package scripts must not start system daemons (sshd on :22, munged,
	# mariadb, slurm*): the rig runs its own copies.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		made_policy=1
		# Also when interrupted: a leftover policy-rc.d would silence every later
		# package install on this machine.
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	local rc=0
	{
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
	} >"${TMPDIR:-/tmp}/fleet-rig-apt.log" 2>&1 || rc=$?
	if ((made_policy)); then
		rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	fi
	if ((rc)); then
		tail -n 30 "${TMPDIR:-/tmp}/fleet-rig-apt.log" >&2
		die "apt-get install failed (rc $rc)"
	fi
	say "packages installed in $(elapsed) s"
}
install_packages

umask 022
install -d -m 0755 "$RIG_STATE" "$RIG_STATE/keys" "$RIG_STATE/nodes" "$RIG_STATE/slurm"
if [[ ! -d /run/sshd ]]; then
	install -d -m 0755 /run/sshd
	touch "$RIG_STATE/.made-run-sshd"
fi

# ---------------------------------------------------------------- login user
install -d -m 0755 "$RIG_STATE/home"
if ! getent passwd "$RIG_USER" >/dev/null; then
	useradd -o -u 0 -g 0 -M -d "$RIG_STATE/home" -s /bin/sh "$RIG_USER"
fi
# '*': no password, but not a locked account (sshd refuses locked ones).
usermod -p '*' "$RIG_USER"

# ---------------------------------------------------------------- another user
# Unprivileged, locked, without a home or a shell: it never logs in; tests
# create files owned by it.
if ! getent passwd "$RIG_OTHER_USER" >/dev/null; then
	useradd --system -U -M -d /nonexistent -s /usr/sbin/nologin "$RIG_OTHER_USER"
fi

# ---------------------------------------------------------------- keys
KEYS=$RIG_STATE/keys
PASSPHRASE=fleet-rig-passphrase
if [[ ! -s $KEYS/id_ed25519 ]]; then
	ssh-keygen -q -t ed25519 -N '' -C fleet-rig-client -f "$KEYS/id_ed25519"
fi
if [[ ! -s $KEYS/id_ed25519_pass ]]; then
	ssh-keygen -q -t ed25519 -N "$PASSPHRASE" -C fleet-rig-client-passphrase -f "$KEYS/id_ed25519_pass"
fi
# A host key that belongs to no host: the "changed key" entry for node2.
if [[ ! -s $KEYS/wrong_host_key ]]; then
	ssh-keygen -q -t ed25519 -N '' -C wrong-host-key -f "$KEYS/wrong_host_key"
fi
cat "$KEYS/id_ed25519.pub" "$KEYS/id_ed25519_pass.pub" | put_file "$KEYS/authorized_keys"
chmod 0600 "$KEYS/id_ed25519" "$KEYS/id_ed25519_pass" "$KEYS/wrong_host_key"

# ---------------------------------------------------------------- network
sysctl_set() { # FILE VALUE, only when different (writes are cheap but noisy)
	[[ $(cat "$1") == "$2" ]] || echo "$2" >"$1"
}
if [[ ! -e /sys/class/net/$RIG_BRIDGE ]]; then
	ip link add "$RIG_BRIDGE" type bridge forward_delay 0 stp_state 0
fi
sysctl_set "/proc/sys/net/ipv6/conf/$RIG_BRIDGE/disable_ipv6" 1
if ! ip -4 -o addr show dev "$RIG_BRIDGE" | grep -q " $RIG_BRIDGE_ADDR/"; then
	ip addr add "$RIG_BRIDGE_ADDR/$RIG_PREFIX" dev "$RIG_BRIDGE"
fi
ip link set "$RIG_BRIDGE" up

setup_host_net() {
	local h=$1 ns veth addr
	ns=$(rig_netns "$h")
	veth=$(rig_veth "$h")
	addr=${RIG_ADDR[$h]}
	[[ -e /run/netns/$ns ]] || ip netns add "$ns"
	if [[ ! -e /sys/class/net/$veth ]]; then
		ip link add "$veth" type veth peer name "frp-$h" netns "$ns"
		ip -n "$ns" link set "frp-$h" name eth0
	fi
	sysctl_set "/proc/sys/net/ipv6/conf/$veth/disable_ipv6" 1
	ip link set "$veth" master "$RIG_BRIDGE"
	local in_fault=0
	if host_in_fault "$h"; then
		say "$h: a test is breaking it on purpose (its lock is held); leaving its link, firewall and daemons alone"
		in_fault=1
	fi
	((in_fault)) || ip link set "$veth" up
	# Namespaced sysctls: a process inside the namespace sees its own
	# /proc/sys/net.
	nsenter --net="/run/netns/$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6'
	if ! ip -n "$ns" -4 -o addr show dev eth0 | grep -q " $addr/"; then
		ip -n "$ns" addr add "$addr/$RIG_PREFIX" dev eth0
	fi
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
	# Rules a killed test left behind (internal/testrig FirewallDrop/Reset).
	local spec
	while read -r -a spec; do
		((in_fault)) || nsenter --net="/run/netns/$ns" iptables -D "${spec[@]:1}"
	done < <(nsenter --net="/run/netns/$ns" iptables -S INPUT | grep -e "--comment $RIG_FAULT_COMMENT" || true)
	if [[ ${RIG_ROLE[$h]} == private ]]; then
		# Only the jump host may reach the private node's sshd.
		local rule=(INPUT -p tcp --dport 22 ! -s "${RIG_ADDR[jump]}" -j DROP -m comment --comment fleet-rig-private)
		if ! nsenter --net="/run/netns/$ns" iptables -C "${rule[@]}" 2>/dev/null; then
			nsenter --net="/run/netns/$ns" iptables -A "${rule[@]}"
		fi
	fi
}
for h in "${RIG_HOSTS[@]}"; do setup_host_net "$h"; done

# ---------------------------------------------------------------- GPU types
declare -A GPU_TYPE=([node1]=H200 [node2]=H200 [node3]=H200 [node4]=MI300X [private1]=H200)
# FLEET_RIG_GPU_TYPES="node3=H100 node2=B200" overrides the defaults.
for kv in ${FLEET_RIG_GPU_TYPES:-}; do
	[[ $kv == *=* && -n ${GPU_TYPE[${kv%%=*}]+x} ]] || die "FLEET_RIG_GPU_TYPES: bad entry $kv (want gpu-node=TYPE)"
	GPU_TYPE[${kv%%=*}]=${kv#*=}
done
gpu_mem_mib() { # what the vendor tools report as total memory
	case $1 in
	H200) echo 143771 ;; H100) echo 81559 ;; B200) echo 183359 ;; A100) echo 81920 ;;
	L40S) echo 46068 ;; MI300X) echo 196592 ;; MI325X) echo 262128 ;; MI355X) echo 294896 ;;
	*) echo 81920 ;;
	esac
}
gpu_platform() { case $1 in MI*) echo amd ;; *) echo nvidia ;; esac }

# ---------------------------------------------------------------- hosts
BASE_PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
setup_host_files() {
	local h=$1 d extra=""
	d=$(rig_node_dir "$h")
	install -d -m 0755 "$d" "$d/bin" "$d/work" "$d/dev"
	if [[ ! -s $d/ssh_host_ed25519_key ]]; then
		ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$d/ssh_host_ed25519_key"
	fi
	if [[ -n ${GPU_TYPE[$h]+x} ]]; then
		local t=${GPU_TYPE[$h]}
		printf 'GPU_TYPE=%s\nGPU_COUNT=8\nGPU_MEM_MIB=%s\nGPU_PLATFORM=%s\nGPU_NODE=%s\n' \
			"$t" "$(gpu_mem_mib "$t")" "$(gpu_platform "$t")" "$h" | put_file "$d/gpu.env"
		local tool=nvidia-smi other=rocm-smi
		if [[ $(gpu_platform "$t") == amd ]]; then tool=rocm-smi other=nvidia-smi; fi
		put_file "$d/bin/$tool" 0755 <"$HERE/fake/$tool"
		rm -f "$d/bin/$other"
		# Character devices, as Slurm's gres needs (plain files drain the node).
		local k
		for ((k = 0; k < 8; k++)); do
			[[ -c $d/dev/nvidia$k ]] || { rm -f "$d/dev/nvidia$k"; mknod "$d/dev/nvidia$k" c 1 3; }
		done
	fi
	local c
	for c in "${RIG_CLUSTERS[@]}"; do
		[[ ${RIG_LOGIN[$c]} == "$h" ]] && extra=" SLURM_CONF=$(rig_cluster_dir "$c")/slurm.conf"
	done
	put_file "$d/sshd_config" <<CONF
# fleet test rig: sshd for $h (generated by up.sh)
ListenAddress ${RIG_ADDR[$h]}:22
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $KEYS/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
MaxStartups 100:30:200
MaxSessions 64
ClientAliveInterval 5
ClientAliveCountMax 3
AllowTcpForwarding yes
Subsystem sftp /usr/lib/openssh/sftp-server
SetEnv PATH=$d/bin:$BASE_PATH FLEET_RIG_NODE=$h FLEET_RIG_WORK=$d/work$extra
CONF
}

# The argv that starts each daemon is also recorded in rig.json so that the
# Go helpers restart daemons exactly as up.sh does.
sshd_argv() {
	local h=$1 d
	d=$(rig_node_dir "$h")
	SSHD_ARGV=(nsenter "--net=/run/netns/$(rig_netns "$h")" unshare --uts
		/bin/sh -c "$RIG_SETHOST_SH" "$h"
		/usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log")
}

start_sshd() {
	local h=$1 d
	d=$(rig_node_dir "$h")
	host_in_fault "$h" && return 0
	if pid_alive "$d/sshd.pid"; then
		# A test killed while it had the listener SIGSTOPped (FreezeSSHD).
		kill -CONT "$(cat "$d/sshd.pid")" 2>/dev/null || true
		return 0
	fi
	/usr/sbin/sshd -t -f "$d/sshd_config" || die "sshd config for $h is invalid"
	sshd_argv "$h"
	"${SSHD_ARGV[@]}" </dev/null >>"$d/sshd.log" 2>&1 || { tail_log "$d/sshd.log"; die "sshd for $h did not start"; }
}

for h in "${RIG_HOSTS[@]}"; do
	setup_host_files "$h"
	start_sshd "$h"
done

# known_hosts: port 22 everywhere, so entries are the plain address (that is
# what OpenSSH and x/crypto/ssh/knownhosts look up for port 22), plus the
# host's name as an alias.
{
	for h in "${RIG_HOSTS[@]}"; do
		printf '%s,%s %s\n' "${RIG_ADDR[$h]}" "$h" "$(cut -d' ' -f1,2 "$(rig_node_dir "$h")/ssh_host_ed25519_key.pub")"
	done
} | put_file "$RIG_STATE/known_hosts"
{
	for h in "${RIG_HOSTS[@]}"; do
		if [[ $h == node2 ]]; then
			printf '%s,%s %s\n' "${RIG_ADDR[$h]}" "$h" "$(cut -d' ' -f1,2 "$KEYS/wrong_host_key.pub")"
		else
			printf '%s,%s %s\n' "${RIG_ADDR[$h]}" "$h" "$(cut -d' ' -f1,2 "$(rig_node_dir "$h")/ssh_host_ed25519_key.pub")"
		fi
	done
} | put_file "$RIG_STATE/known_hosts.bad"

{
	for h in "${RIG_HOSTS[@]}"; do
		printf 'Host %s\n  HostName %s\n  Port 22\n  User %s\n' "$h" "${RIG_ADDR[$h]}" "$RIG_USER"
		[[ ${RIG_ROLE[$h]} == private ]] && printf '  ProxyJump jump\n'
	done
	printf 'Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n' "$KEYS/id_ed25519" "$RIG_STATE/known_hosts"
	printf '  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 5\n  ServerAliveInterval 2\n  ServerAliveCountMax 3\n'
} | put_file "$RIG_STATE/ssh_config"

# ---------------------------------------------------------------- munge
MUNGE=$RIG_STATE/munge
MUNGE_SOCK=$(rig_munge_socket)
install -d -m 0711 "$MUNGE" # every directory on the socket path needs o+x
install -d -m 0711 "$MUNGE/sock"
[[ -s $MUNGE/munge.key ]] || mungekey -c -k "$MUNGE/munge.key"
chmod 0600 "$MUNGE/munge.key"
MUNGED_ARGV=(munged "--socket=$MUNGE_SOCK" "--key-file=$MUNGE/munge.key"
	"--pid-file=$MUNGE/munged.pid" "--log-file=$MUNGE/munged.log" "--seed-file=$MUNGE/munged.seed")
if ! pid_alive "$MUNGE/munged.pid"; then
	rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
	"${MUNGED_ARGV[@]}" </dev/null >>"$MUNGE/munged.log" 2>&1 || { tail_log "$MUNGE/munged.log"; die "munged did not start"; }
fi

# ---------------------------------------------------------------- MariaDB + slurmdbd
DB=$RIG_STATE/mariadb
DB_SOCK=$DB/mariadb.sock
DB_PASS=fleet-rig-slurmdbd
install -d -m 0700 "$DB"
MARIADBD_ARGV=(mariadbd --no-defaults "--datadir=$DB/data" "--socket=$DB_SOCK"
	"--port=$RIG_MARIADB_PORT" --bind-address=127.0.0.1 "--pid-file=$DB/mariadbd.pid"
	"--log-error=$DB/mariadbd.log" --user=root --skip-name-resolve --skip-log-bin
	--innodb-buffer-pool-size=64M --performance-schema=OFF "--tmpdir=$DB")
start_mariadb() {
	if [[ ! -d $DB/data/mysql ]]; then
		rm -rf "$DB/data"
		mariadb-install-db --no-defaults "--datadir=$DB/data" --user=root --skip-test-db \
			>"$DB/install.log" 2>&1 || { tail_log "$DB/install.log"; die "mariadb-install-db failed"; }
	fi
	if ! pid_alive "$DB/mariadbd.pid"; then
		setsid "${MARIADBD_ARGV[@]}" </dev/null >>"$DB/mariadbd.log" 2>&1 &
	fi
}

SLURM=$RIG_STATE/slurm
DBD_CONF=$(rig_cluster_dir rig)/slurmdbd.conf
write_slurmdbd_conf() {
	install -d -m 0755 "$SLURM/dbd"
	put_file "$DBD_CONF" 0600 <<CONF
# fleet test rig: slurmdbd for cluster "rig" (generated by up.sh)
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdPort=$RIG_DBD_PORT
SlurmUser=root
PidFile=$SLURM/dbd/slurmdbd.pid
LogFile=$SLURM/dbd/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$RIG_MARIADB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF
}

# ---------------------------------------------------------------- Slurm configs
write_task_prolog() {
	# Jobs get the node's fake tools and name, as an ssh session there does.
	put_file "$SLURM/task_prolog.sh" 0755 <<PROLOG
#!/bin/sh
echo "export PATH=$RIG_STATE/nodes/\${SLURMD_NODENAME}/bin:\${PATH}"
echo "export FLEET_RIG_NODE=\${SLURMD_NODENAME}"
PROLOG
}

write_cluster_conf() {
	local c=$1 cd
	cd=$(rig_cluster_dir "$c")
	install -d -m 0755 "$cd" "$cd/ctld" "$cd/spool" "$cd/run" "$cd/log"
	{
		cat <<CONF
# fleet test rig: cluster "$c" (generated by up.sh)
ClusterName=$c
SlurmctldHost=localhost($RIG_BRIDGE_ADDR)
SlurmctldPort=${RIG_CTLD_PORT[$c]}
SlurmdPort=${RIG_SLURMD_PORT[$c]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$cd/ctld
SlurmdSpoolDir=$cd/spool/%n
SlurmctldPidFile=$cd/run/slurmctld.pid
SlurmdPidFile=$cd/run/slurmd-%n.pid
SlurmctldLogFile=$cd/log/slurmctld.log
SlurmdLogFile=$cd/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
TaskProlog=$SLURM/task_prolog.sh
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobRequeue=${RIG_REQUEUE[$c]}
MinJobAge=3600
SlurmdTimeout=10
InactiveLimit=0
KillWait=10
GresTypes=gpu
JobCompType=jobcomp/none
CONF
		if [[ ${RIG_ACCOUNTING[$c]} == true ]]; then
			cat <<CONF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$RIG_BRIDGE_ADDR
AccountingStoragePort=$RIG_DBD_PORT
AccountingStoragePass=$MUNGE_SOCK
CONF
		else
			echo "AccountingStorageType=accounting_storage/none"
		fi
		local n
		for n in "${RIG_GPU_NODES[@]}"; do
			echo "NodeName=$n NodeAddr=${RIG_ADDR[$n]} CPUs=8 RealMemory=4096 Gres=gpu:8 State=UNKNOWN"
		done
		echo "PartitionName=gpu Nodes=$(
			IFS=,
			echo "${RIG_GPU_NODES[*]}"
		) Default=YES MaxTime=INFINITE State=UP"
		echo "PartitionName=debug Nodes=node1,node2 MaxTime=30 State=UP"
	} | put_file "$cd/slurm.conf"
	{
		echo "AutoDetect=off"
		for n in "${RIG_GPU_NODES[@]}"; do
			echo "NodeName=$n Name=gpu File=$(rig_node_dir "$n")/dev/nvidia[0-7]"
		done
	} | put_file "$cd/gres.conf"
}

slurmctld_argv() {
	local cd
	cd=$(rig_cluster_dir "$1")
	CTLD_ARGV=(env "SLURM_CONF=$cd/slurm.conf" slurmctld -f "$cd/slurm.conf")
}
slurmd_argv() {
	local c=$1 n=$2 cd
	cd=$(rig_cluster_dir "$c")
	SLURMD_ARGV=(env "SLURM_CONF=$cd/slurm.conf" nsenter "--net=/run/netns/$(rig_netns "$n")"
		unshare --uts /bin/sh -c "$RIG_SETHOST_SH" "$n"
		slurmd -f "$cd/slurm.conf" -N "$n")
}
SLURMDBD_ARGV=(env "SLURM_CONF=$(rig_cluster_dir rig)/slurm.conf" slurmdbd)

write_task_prolog
for c in "${RIG_CLUSTERS[@]}"; do write_cluster_conf "$c"; done
write_slurmdbd_conf

# wait_for SECONDS WHAT LOG CMD...: poll CMD every 0.2 s; fail with LOG's tail.
wait_for() {
	local secs=$1 what=$2 log=$3 deadline
	shift 3
	deadline=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		if (($(date +%s) >= deadline)); then
			tail_log "$log"
			die "$what not ready after $secs s"
		fi
		sleep 0.2
	done
}

start_mariadb
wait_for 60 "mariadbd" "$DB/mariadbd.log" timeout 10 mariadb-admin --no-defaults "--socket=$DB_SOCK" -uroot ping
timeout 30 mariadb --no-defaults "--socket=$DB_SOCK" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

RIG_CONF=$(rig_cluster_dir rig)/slurm.conf
if ! pid_alive "$SLURM/dbd/slurmdbd.pid"; then
	"${SLURMDBD_ARGV[@]}" </dev/null >>"$SLURM/dbd/slurmdbd.log" 2>&1 || { tail_log "$SLURM/dbd/slurmdbd.log"; die "slurmdbd did not start"; }
fi
wait_for 60 "slurmdbd" "$SLURM/dbd/slurmdbd.log" env "SLURM_CONF=$RIG_CONF" timeout 10 sacctmgr -n -P list cluster
if ! SLURM_CONF=$RIG_CONF timeout 30 sacctmgr -n -P list cluster format=cluster | grep -qx rig; then
	SLURM_CONF=$RIG_CONF timeout 30 sacctmgr -i add cluster rig >/dev/null
fi

for c in "${RIG_CLUSTERS[@]}"; do
	cd=$(rig_cluster_dir "$c")
	if ! pid_alive "$cd/run/slurmctld.pid"; then
		slurmctld_argv "$c"
		"${CTLD_ARGV[@]}" </dev/null >>"$cd/log/slurmctld.log" 2>&1 || { tail_log "$cd/log/slurmctld.log"; die "slurmctld ($c) did not start"; }
	fi
	for n in "${RIG_GPU_NODES[@]}"; do
		if ! host_in_fault "$n" && ! pid_alive "$cd/run/slurmd-$n.pid"; then
			slurmd_argv "$c" "$n"
			"${SLURMD_ARGV[@]}" </dev/null >>"$cd/log/slurmd-$n.log" 2>&1 || { tail_log "$cd/log/slurmd-$n.log"; die "slurmd $n ($c) did not start"; }
		fi
	done
done

# ---------------------------------------------------------------- readiness
ssh_port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/22" 2>/dev/null; }
for h in "${RIG_HOSTS[@]}"; do
	[[ ${RIG_ROLE[$h]} == private ]] && continue # firewalled from here by design
	host_in_fault "$h" && continue
	wait_for 20 "sshd on $h" "$(rig_node_dir "$h")/sshd.log" ssh_port_open "${RIG_ADDR[$h]}"
done
host_in_fault private1 || pid_alive "$(rig_node_dir private1)/sshd.pid" || { tail_log "$(rig_node_dir private1)/sshd.log"; die "sshd on private1 is not running"; }

ctld_up() { SLURM_CONF=$1 timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
# nodes_ready CONF: every node idle (or busy); resume the ones an earlier run
# left down or drained. Fails (so the caller polls) until all are usable.
nodes_ready() {
	local conf=$1 ok=0 node state
	while read -r node state; do
		host_in_fault "$node" && continue
		case $state in
		idle | mixed | allocated | completing) ;;
		down | drained | draining | drain | fail | failing)
			SLURM_CONF=$conf timeout 10 scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
			ok=1
			;;
		*) ok=1 ;;
		esac
	done < <(SLURM_CONF=$conf timeout 10 sinfo -h -N -o '%N %T' | sort -u)
	return $ok
}
for c in "${RIG_CLUSTERS[@]}"; do
	cd=$(rig_cluster_dir "$c")
	wait_for 30 "slurmctld ($c)" "$cd/log/slurmctld.log" ctld_up "$cd/slurm.conf"
	wait_for 45 "nodes of cluster $c" "$cd/log/slurmctld.log" nodes_ready "$cd/slurm.conf"
done

# ---------------------------------------------------------------- rig.json, env.sh
json_argv() { # print a JSON array of the arguments
	local first=1 a
	printf "["
	for a in "$@"; do
		a=${a//\\/\\\\}
		a=${a//\"/\\\"}
		((first)) || printf ', '
		printf '"%s"' "$a"
		first=0
	done
	printf ']'
}
fingerprint() { ssh-keygen -l -E sha256 -f "$1" | awk '{print $2}'; }

write_json() {
	local h d c cd n first
	echo '{'
	echo '  "version": 1,'
	echo "  \"state_dir\": \"$RIG_STATE\","
	echo "  \"user\": \"$RIG_USER\","
	echo "  \"bridge\": {\"name\": \"$RIG_BRIDGE\", \"addr\": \"$RIG_BRIDGE_ADDR\", \"prefix\": $RIG_PREFIX},"
	echo "  \"keys\": {\"private\": \"$KEYS/id_ed25519\", \"public\": \"$KEYS/id_ed25519.pub\","
	echo "    \"passphrase_private\": \"$KEYS/id_ed25519_pass\", \"passphrase_public\": \"$KEYS/id_ed25519_pass.pub\","
	echo "    \"passphrase\": \"$PASSPHRASE\", \"authorized_keys\": \"$KEYS/authorized_keys\"},"
	echo "  \"known_hosts\": \"$RIG_STATE/known_hosts\","
	echo "  \"bad_known_hosts\": \"$RIG_STATE/known_hosts.bad\","
	echo "  \"bad_known_hosts_host\": \"node2\","
	echo "  \"ssh_config\": \"$RIG_STATE/ssh_config\","
	echo "  \"other_user\": {\"name\": \"$RIG_OTHER_USER\", \"uid\": $(id -u "$RIG_OTHER_USER"), \"gid\": $(id -g "$RIG_OTHER_USER")},"
	echo '  "hosts": ['
	first=1
	for h in "${RIG_HOSTS[@]}"; do
		d=$(rig_node_dir "$h")
		local gt="" gp="" gn=0 gm=0 pj="" sc=""
		if [[ -n ${GPU_TYPE[$h]+x} ]]; then
			gt=${GPU_TYPE[$h]} gp=$(gpu_platform "$gt") gn=8 gm=$(gpu_mem_mib "$gt")
		fi
		[[ ${RIG_ROLE[$h]} == private ]] && pj=jump
		for c in "${RIG_CLUSTERS[@]}"; do
			[[ ${RIG_LOGIN[$c]} == "$h" ]] && sc=$(rig_cluster_dir "$c")/slurm.conf
		done
		sshd_argv "$h"
		((first)) || echo '    ,'
		first=0
		cat <<J
    {"name": "$h", "role": "${RIG_ROLE[$h]}", "addr": "${RIG_ADDR[$h]}", "port": 22,
     "netns": "$(rig_netns "$h")", "netns_path": "/run/netns/$(rig_netns "$h")", "veth": "$(rig_veth "$h")",
     "host_key": "$d/ssh_host_ed25519_key.pub", "fingerprint": "$(fingerprint "$d/ssh_host_ed25519_key.pub")",
     "node_dir": "$d", "work_dir": "$d/work", "bin_dir": "$d/bin", "gpu_busy_file": "$d/gpu-busy",
     "gpu_type": "$gt", "gpu_platform": "$gp", "gpus": $gn, "gpu_memory_mib": $gm,
     "proxy_jump": "$pj", "slurm_conf": "$sc",
     "sshd": {"config": "$d/sshd_config", "pid_file": "$d/sshd.pid", "log": "$d/sshd.log", "start": $(json_argv "${SSHD_ARGV[@]}")}}
J
	done
	echo '  ],'
	echo "  \"munge\": {\"socket\": \"$MUNGE_SOCK\", \"key\": \"$MUNGE/munge.key\", \"pid_file\": \"$MUNGE/munged.pid\", \"log\": \"$MUNGE/munged.log\"},"
	echo "  \"mariadb\": {\"socket\": \"$DB_SOCK\", \"port\": $RIG_MARIADB_PORT, \"pid_file\": \"$DB/mariadbd.pid\", \"log\": \"$DB/mariadbd.log\"},"
	echo "  \"slurmdbd\": {\"config\": \"$DBD_CONF\", \"port\": $RIG_DBD_PORT, \"pid_file\": \"$SLURM/dbd/slurmdbd.pid\", \"log\": \"$SLURM/dbd/slurmdbd.log\"},"
	echo '  "clusters": ['
	first=1
	for c in "${RIG_CLUSTERS[@]}"; do
		cd=$(rig_cluster_dir "$c")
		slurmctld_argv "$c"
		((first)) || echo '    ,'
		first=0
		local nodes
		nodes=$(json_argv "${RIG_GPU_NODES[@]}")
		cat <<J
    {"name": "$c", "slurm_conf": "$cd/slurm.conf", "accounting": ${RIG_ACCOUNTING[$c]},
     "job_requeue": $([[ ${RIG_REQUEUE[$c]} == 1 ]] && echo true || echo false),
     "login_host": "${RIG_LOGIN[$c]}", "ctld_port": ${RIG_CTLD_PORT[$c]}, "slurmd_port": ${RIG_SLURMD_PORT[$c]},
     "default_partition": "gpu", "nodes": $nodes,
     "partitions": [{"name": "gpu", "nodes": $nodes, "default": true}, {"name": "debug", "nodes": ["node1", "node2"], "default": false}],
     "slurmctld": {"pid_file": "$cd/run/slurmctld.pid", "log": "$cd/log/slurmctld.log", "start": $(json_argv "${CTLD_ARGV[@]}")},
     "slurmd": {
J
		local nfirst=1
		for n in "${RIG_GPU_NODES[@]}"; do
			slurmd_argv "$c" "$n"
			((nfirst)) || echo ','
			nfirst=0
			printf '       "%s": {"pid_file": "%s", "log": "%s", "start": %s}' "$n" "$cd/run/slurmd-$n.pid" "$cd/log/slurmd-$n.log" "$(json_argv "${SLURMD_ARGV[@]}")"
		done
		printf '\n     }}\n'
	done
	echo '  ]'
	echo '}'
}
write_json | put_file "$RIG_STATE/rig.json"

write_env() {
	cat <<ENV
# shellcheck shell=bash
# fleet test rig environment (generated by scripts/testrig/up.sh); source it.
export FLEET_RIG=$RIG_STATE/rig.json
export FLEET_RIG_DIR=$RIG_STATE
export FLEET_RIG_KEY=$KEYS/id_ed25519
export FLEET_RIG_PASS_KEY=$KEYS/id_ed25519_pass
export FLEET_RIG_PASSPHRASE=$PASSPHRASE
export FLEET_RIG_KNOWN_HOSTS=$RIG_STATE/known_hosts
export FLEET_RIG_BAD_KNOWN_HOSTS=$RIG_STATE/known_hosts.bad
export FLEET_RIG_SSH_CONFIG=$RIG_STATE/ssh_config
export FLEET_RIG_MUNGE_SOCKET=$MUNGE_SOCK
export FLEET_RIG_SLURM_CONF_RIG=$(rig_cluster_dir rig)/slurm.conf
export FLEET_RIG_SLURM_CONF_RIGNOACCT=$(rig_cluster_dir rignoacct)/slurm.conf
ENV
	local h
	for h in "${RIG_HOSTS[@]}"; do
		printf 'export FLEET_RIG_ADDR_%s=%s\n' "${h^^}" "${RIG_ADDR[$h]}"
	done
}
write_env | put_file "$RIG_STATE/env.sh"
write_env | put_file "$HERE/env.sh"

say "up in $(elapsed) s; state in $RIG_STATE; source $RIG_STATE/env.sh (or $HERE/env.sh)"
