#!/usr/bin/env bash
# Tear the fleet test rig down: stop every daemon by its pid file (TERM, then
# KILL), end whatever still runs inside the rig's namespaces (job steps,
# servers a test left behind), delete veths, namespaces and the bridge, and
# remove the state directory. Safe to run when nothing (or half) is up.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

[[ $(id -u) == 0 ]] || {
	echo "testrig: down.sh must run as root" >&2
	exit 1
}
START=$(date +%s.%N)

# Daemons, clients of others first: slurmd, slurmctld, slurmdbd, mariadbd,
# munged, then sshd. Globs cover every node and cluster up.sh may have made.
stop_glob() {
	local name=$1 f
	shift
	for f in "$@"; do
		[[ -e $f ]] && stop_pidfile "$f" "$name" &
	done
	wait
}
if [[ -d $RIG_STATE ]]; then
	stop_glob slurmd "$RIG_STATE"/slurm/*/run/slurmd-*.pid
	stop_glob slurmctld "$RIG_STATE"/slurm/*/run/slurmctld.pid
	stop_glob slurmdbd "$RIG_STATE"/slurm/dbd/slurmdbd.pid
	stop_glob mariadbd "$RIG_STATE"/mariadb/mariadbd.pid
	stop_glob munged "$RIG_STATE"/munge/munged.pid
	stop_glob sshd "$RIG_STATE"/nodes/*/sshd.pid
fi

# Everything else inside our namespaces: these processes exist only because
# the rig or a test run on it started them.
mapfile -t namespaces < <(ip netns list 2>/dev/null | awk -v p="$RIG_NETNS_PREFIX" 'index($1, p) == 1 {print $1}')
for ns in "${namespaces[@]}"; do
	while read -r pid; do
		[[ -n $pid ]] && stop_pid "$pid" "process in $ns" &
	done < <(pids_in_netns "$ns")
done
wait

# Delete the host-side veth first: a namespace's deletion removes its end
# asynchronously, and a quick up.sh would then trip over the old one.
while read -r link; do
	if [[ -n $link ]]; then ip link del "$link" 2>/dev/null || true; fi
done < <(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep "^$RIG_VETH_PREFIX" || true)
for ns in "${namespaces[@]}"; do
	ip netns del "$ns" 2>/dev/null || true
done
if [[ -e /sys/class/net/$RIG_BRIDGE ]]; then
	ip link del "$RIG_BRIDGE"
fi

if [[ -e $RIG_STATE/.made-run-sshd ]]; then
	rmdir /run/sshd 2>/dev/null || true
fi
rm -rf "$RIG_STATE"
rm -f "$HERE/env.sh"
# The login user is an alias of uid 0, which userdel refuses while root
# processes run: drop its two lines directly.
if getent passwd "$RIG_USER" >/dev/null; then
	sed -i "/^$RIG_USER:/d" /etc/passwd /etc/shadow
fi
if getent passwd "$RIG_OTHER_USER" >/dev/null; then
	userdel "$RIG_OTHER_USER" || echo "testrig: could not remove user $RIG_OTHER_USER (a process of it still runs?)" >&2
fi
awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "testrig: down in %.1f s\n", e-s}' >&2
