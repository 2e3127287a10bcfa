#!/usr/bin/env bash
# gpu-monitor.sh: sample the GPUs into a CSV file, once every interval
# (1 s unless --interval or FLEET_GPU_MONITOR_INTERVAL says otherwise),
# until TERM, INT or HUP, until the process given by --parent is gone (so
# a job killed outright leaves no monitor behind), or until the file
# reaches FLEET_GPU_MONITOR_MAX_BYTES (64 MiB: days of samples).
#
#   scripts/gpu-monitor.sh [--parent PID] [--interval S] logs/gpu.csv
#
# The file has nvidia-smi's CSV columns, header "timestamp, index,
# power.draw [W], clocks.current.sm [MHz], clocks.current.memory [MHz],
# memory.used [MiB], utilization.gpu [%]", power in watts ("[N/A]" when
# the tool has no reading). NVIDIA: nvidia-smi's own output (only its
# first three columns where the driver refuses the others). AMD: rocm-smi's
# CSV (or amd-smi's where rocm-smi is gone) turned into those columns,
# milliwatts into watts. Timestamps are the node's local time, as
# nvidia-smi writes them, without a zone: the monitor records the zone's
# UTC offset in seconds beside the file (logs/gpu.csv: logs/gpu.zone), so
# that the controller lines the samples up with the benchmark's window.
# Only the job's GPUs (GPUS) are sampled when it shares the machine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/gpu.sh
. "$here/lib/gpu.sh"

parent="" interval=${FLEET_GPU_MONITOR_INTERVAL:-1} max_bytes=${FLEET_GPU_MONITOR_MAX_BYTES:-67108864}
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
if ! [[ $interval =~ ^[0-9]*\.?[0-9]+$ ]] || [[ $interval =~ ^[0.]+$ ]]; then
	echo "gpu-monitor.sh: interval $interval: want seconds > 0" >&2
	exit 2
fi
if ! [[ $max_bytes =~ ^[0-9]+$ ]]; then
	echo "gpu-monitor.sh: FLEET_GPU_MONITOR_MAX_BYTES=$max_bytes: want a byte count" >&2
	exit 2
fi
mkdir -p "$(dirname "$out")"

# The zone of the timestamps: date's +HHMM as seconds east of UTC.
zone=$(date +%z)
offset=$((10#${zone:1:2} * 3600 + 10#${zone:3:2} * 60))
[ "${zone:0:1}" = - ] && offset=$((-offset))
echo "$offset" >"${out%.csv}.zone"

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

# amd_sample prints one CSV row per GPU in the NVIDIA columns, from
# rocm-smi's CSV or else amd-smi's: the GPU's column (device "cardN", or
# gpu), the first power column that is no limit, cap, maximum or minimum
# (watts, or milliwatts when its header or cell says mW), and what else
# rocm-smi shows.
amd_sample() {
	local ts
	ts=$(date '+%Y/%m/%d %H:%M:%S.%3N')
	local sel=()
	if [ -n "${GPUS:-}" ]; then
		IFS=, read -r -a sel <<<"$GPUS"
	fi
	if command -v rocm-smi >/dev/null 2>&1; then
		local dev=()
		[ "${#sel[@]}" -gt 0 ] && dev=(-d "${sel[@]}")
		rocm-smi "${dev[@]}" --showpower --showclocks --showmeminfo vram --showuse --csv 2>/dev/null
	else
		local dev=()
		[ "${#sel[@]}" -gt 0 ] && dev=(-g "${sel[@]}")
		amd-smi metric "${dev[@]}" --power --csv 2>/dev/null
	fi | awk -F, -v ts="$ts" '
		function num(v) { gsub(/[^0-9.]/, "", v); return v }
		NR == 1 {
			for (i = 1; i <= NF; i++) {
				h = $i; gsub(/^ +| +$/, "", h); col[h] = i
				if (pw == "" && h ~ /[Pp]ower/ && h !~ /[Ll]imit|[Cc]ap|[Mm]ax|[Mm]in/) { pw = i; milli = (h ~ /mW/) }
				if (id == "" && (h == "device" || h == "gpu")) id = i
			}
			next
		}
		id != "" {
			idx = $(id); gsub(/^ +| +$|card/, "", idx)
			if (idx !~ /^[0-9]+$/) next
			w = "[N/A]"
			if (pw != "") {
				v = $(pw)
				if (v !~ /N\/A/ && num(v) != "") {
					w = num(v) + 0
					if (milli || v ~ /mW/) w = w / 1000
					w = sprintf("%.2f W", w)
				}
			}
			sclk = ""; if ("sclk clock speed:" in col) sclk = num($(col["sclk clock speed:"]))
			mclk = ""; if ("mclk clock speed:" in col) mclk = num($(col["mclk clock speed:"]))
			used = ""; if ("VRAM Total Used Memory (B)" in col) used = int($(col["VRAM Total Used Memory (B)"]) / 1048576)
			use = ""; if ("GPU use (%)" in col) use = $(col["GPU use (%)"])
			printf "%s, %s, %s, %s MHz, %s MHz, %s MiB, %s %%\n", ts, idx, w, sclk, mclk, used, use
		}'
}

if [ "$(fleet_gpu_vendor)" = nvidia ]; then
	sel=()
	[ -n "${GPUS:-}" ] && sel=(-i "$GPUS")
	# -l (whole seconds) or -lms keeps one NVML session open and samples
	# on its own clock.
	loop=(-l "$interval")
	[[ $interval =~ ^[0-9]+$ ]] || loop=(-lms "$(awk -v s="$interval" 'BEGIN { printf "%d", s * 1000 }')")
	# A driver that refuses a field (an old one, a GPU without clocks)
	# still gets its power sampled: the columns energy needs, alone.
	fields=timestamp,index,power.draw,clocks.sm,clocks.mem,memory.used,utilization.gpu
	if ! nvidia-smi "${sel[@]}" --query-gpu="$fields" --format=csv,noheader >/dev/null 2>&1; then
		echo "gpu-monitor.sh: nvidia-smi refuses --query-gpu=$fields; sampling timestamp, index and power only" >&2
		fields=timestamp,index,power.draw
	fi
	nvidia-smi "${sel[@]}" --query-gpu="$fields" --format=csv "${loop[@]}" >>"$out" &
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
	if [ "$(stat -c %s "$out" 2>/dev/null || echo 0)" -gt "$max_bytes" ]; then
		echo "gpu-monitor.sh: $out reached FLEET_GPU_MONITOR_MAX_BYTES=$max_bytes bytes; sampling stops" >&2
		stop
	fi
	sleep 1 &
	napper=$!
	wait "$napper" || true
	napper=""
done
wait "$sampler" || echo "gpu-monitor.sh: the sampler exited with status $?" >&2
