#!/usr/bin/env bash
# gpu-monitor.sh: sample the GPUs once a second into a CSV file until
# TERM, INT or HUP, or until the process given by --parent is gone (so a
# job killed outright leaves no monitor behind).
#
#   scripts/gpu-monitor.sh [--parent PID] [--interval S] logs/gpu.csv
#
# NVIDIA: nvidia-smi's own CSV, header "timestamp, index, power.draw [W],
# clocks.current.sm [MHz], clocks.current.memory [MHz], memory.used [MiB],
# utilization.gpu [%]". AMD: the same columns, from rocm-smi's CSV. Only
# the job's GPUs (GPUS) are sampled when it shares the machine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/gpu.sh
. "$here/lib/gpu.sh"

parent="" interval=1
while [ $# -gt 1 ]; do
	case "$1" in
	--parent) parent=$2 ;;
	--interval) interval=$2 ;;
	*)
		echo "gpu-monitor.sh: unknown option $1" >&2
		exit 2
		;;
	esac
	shift 2
done
if [ $# -ne 1 ]; then
	echo "usage: gpu-monitor.sh [--parent PID] [--interval S] FILE.csv" >&2
	exit 2
fi
out=$1
mkdir -p "$(dirname "$out")"

sampler="" napper=""
stop() {
	[ -n "$napper" ] && kill "$napper" 2>/dev/null
	if [ -n "$sampler" ]; then
		kill -TERM "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
	fi
	exit 0
}
trap stop TERM INT HUP

# amd_sample prints one CSV row per GPU in the NVIDIA columns.
amd_sample() {
	local ts
	ts=$(date '+%Y/%m/%d %H:%M:%S.%3N')
	local sel=()
	if [ -n "${GPUS:-}" ]; then
		IFS=, read -r -a sel <<<"$GPUS"
		sel=(-d "${sel[@]}")
	fi
	rocm-smi "${sel[@]}" --showpower --showclocks --showmeminfo vram --showuse --csv 2>/dev/null |
		awk -F, -v ts="$ts" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 ~ /^card/ {
			idx = substr($1, 5)
			pw = ""; for (k in col) if (k ~ /[Pp]ower/ && pw == "") pw = $(col[k])
			sclk = ""; if ("sclk clock speed:" in col) sclk = $(col["sclk clock speed:"])
			mclk = ""; if ("mclk clock speed:" in col) mclk = $(col["mclk clock speed:"])
			used = ""; if ("VRAM Total Used Memory (B)" in col) used = int($(col["VRAM Total Used Memory (B)"]) / 1048576)
			use = ""; if ("GPU use (%)" in col) use = $(col["GPU use (%)"])
			gsub(/[()Mhz]/, "", sclk); gsub(/[()Mhz]/, "", mclk)
			printf "%s, %s, %s W, %s MHz, %s MHz, %s MiB, %s %%\n", ts, idx, pw, sclk, mclk, used, use
		}'
}

if [ "$(fleet_gpu_vendor)" = nvidia ]; then
	sel=()
	[ -n "${GPUS:-}" ] && sel=(-i "$GPUS")
	# -l keeps one NVML session open and samples on its own clock.
	nvidia-smi "${sel[@]}" --query-gpu=timestamp,index,power.draw,clocks.sm,clocks.mem,memory.used,utilization.gpu \
		--format=csv -l "$interval" >>"$out" &
	sampler=$!
else
	echo "timestamp, index, power.draw [W], clocks.current.sm [MHz], clocks.current.memory [MHz], memory.used [MiB], utilization.gpu [%]" >>"$out"
	(
		while :; do
			amd_sample >>"$out" || true
			sleep "$interval"
		done
	) &
	sampler=$!
fi

while kill -0 "$sampler" 2>/dev/null; do
	if [ -n "$parent" ] && ! kill -0 "$parent" 2>/dev/null; then
		stop
	fi
	sleep 1 &
	napper=$!
	wait "$napper" || true
	napper=""
done
wait "$sampler" || echo "gpu-monitor.sh: the sampler exited with status $?" >&2
