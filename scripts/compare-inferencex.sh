#!/usr/bin/env bash
# compare-inferencex.sh: check that fleet expands an InferenceX checkout's
# matrix exactly as InferenceX's own generator does.
#
#   scripts/compare-inferencex.sh DIR [GENERATOR ARGS...]
#
# DIR is an InferenceX checkout. GENERATOR ARGS are the command line of
# its utils/matrix_logic/generate_sweep_configs.py, default full-sweep;
# without --config-files, InferenceX's two master configs are added
# (paths relative to DIR). The script runs that generator in DIR (python3
# with pydantic and PyYAML) and `fleet inferencex matrix DIR <same args>`
# (fleet from $FLEET, else built from this repository with go), then
# compares the two JSON arrays with python3: the rows as multisets of JSON
# objects (key order ignored), and their order. It prints the counts and
# the first differences. Exit 0: the same rows in the same order; 1: they
# differ; 2: either side failed.
#
# Example, every eval mode of the single-node matrix:
#   for e in "" --no-evals --evals-only --all-evals; do
#     scripts/compare-inferencex.sh ~/InferenceX full-sweep --single-node $e
#   done
set -euo pipefail

usage() {
	echo "usage: $0 DIR [generator args...]" >&2
	exit 2
}
[[ $# -ge 1 ]] || usage
dir=$1
shift
[[ -f $dir/utils/matrix_logic/generate_sweep_configs.py ]] || {
	echo "compare-inferencex: $dir is not an InferenceX checkout (no utils/matrix_logic/generate_sweep_configs.py)" >&2
	exit 2
}
args=("$@")
if [[ ${#args[@]} -eq 0 ]]; then
	args=(full-sweep)
fi
# The generator insists on --config-files; fleet defaults to the same two.
if [[ " ${args[*]} " != *" --config-files "* && " ${args[*]} " != *" --config-files="* ]]; then
	args+=(--config-files configs/nvidia-master.yaml configs/amd-master.yaml)
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d /tmp/compare-inferencex.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fleet=${FLEET:-}
if [[ -z $fleet ]]; then
	(cd "$repo" && go build -o "$tmp/fleet" ./cmd/fleet) || {
		echo "compare-inferencex: building fleet failed" >&2
		exit 2
	}
	fleet=$tmp/fleet
fi

if ! (cd "$dir" && python3 utils/matrix_logic/generate_sweep_configs.py "${args[@]}") >"$tmp/python.json" 2>"$tmp/python.err"; then
	echo "compare-inferencex: InferenceX's generator failed:" >&2
	tail -n 20 "$tmp/python.err" >&2
	exit 2
fi
if ! "$fleet" inferencex matrix "$dir" "${args[@]}" >"$tmp/fleet.json" 2>"$tmp/fleet.err"; then
	echo "compare-inferencex: fleet inferencex matrix failed:" >&2
	tail -n 20 "$tmp/fleet.err" >&2
	exit 2
fi

python3 - "$tmp/python.json" "$tmp/fleet.json" <<'PY'
import collections
import json
import sys


def rows(path):
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, list):
        sys.exit(f"{path}: not a JSON array")
    return [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in data]


py, fl = rows(sys.argv[1]), rows(sys.argv[2])
pc, fc = collections.Counter(py), collections.Counter(fl)
only_py = sorted((pc - fc).elements())
only_fl = sorted((fc - pc).elements())
first = next((i for i, (a, b) in enumerate(zip(py, fl)) if a != b), None)
same_order = py == fl
print(f"generator: {len(py)} rows, fleet: {len(fl)} rows; "
      f"only in the generator: {len(only_py)}, only in fleet: {len(only_fl)}; "
      f"same order: {'yes' if same_order else 'no'}")
for r in only_py[:3]:
    print(f"  only in the generator: {r}")
for r in only_fl[:3]:
    print(f"  only in fleet:         {r}")
if not only_py and not only_fl and not same_order and first is not None:
    print(f"  first row out of order: {first}")
    print(f"    generator: {py[first]}")
    print(f"    fleet:     {fl[first]}")
sys.exit(0 if same_order else 1)
PY
