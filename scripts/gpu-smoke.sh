#!/usr/bin/env bash
# gpu-smoke.sh: fleet on a real GPU in a few minutes, without vLLM or a
# network. For a machine with an NVIDIA GPU (H100/H200 class), PyTorch
# with CUDA and transformers (>= 4.45), and Go to build fleet.
#
#   scripts/gpu-smoke.sh [OUT_DIR]
#
# It builds fleet, writes a one-config sweep whose framework is
# torch-smoke (scripts/server/torch-smoke.sh starting
# scripts/gpu-smoke/server.py: a small random-weight Llama on the GPU
# behind an OpenAI-compatible streaming endpoint), and runs it with
# `fleet sweep` on this machine (the local target): job.sh starts the
# server, waits for /health, and `fleet bench` measures it at
# concurrency 1, 4 and 16. Then it checks that every job produced a
# result with all requests done and a positive throughput, and prints the
# summary. Exit 0 when all of that holds. Everything lands in OUT_DIR
# (default: a new temporary directory).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$(mktemp -d /tmp/fleet-gpu-smoke.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
step() { printf '\n==> %s\n' "$*"; }
fail() {
	echo "gpu-smoke: $*" >&2
	exit 1
}

step "checking the machine"
command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: this check needs an NVIDIA GPU"
nvidia-smi --query-gpu=index,name,memory.total,memory.used --format=csv
command -v go >/dev/null || fail "Go is not installed (needed to build fleet)"
python=${TORCH_SMOKE_PYTHON:-python3}
"$python" - <<'PY' || fail "$python lacks a CUDA-enabled torch or transformers >= 4.45"
import sys
import torch, transformers
v = tuple(int(x) for x in transformers.__version__.split(".")[:2])
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}")
sys.exit(0 if torch.cuda.is_available() and v >= (4, 45) else 1)
PY

step "building fleet"
(cd "$repo" && CGO_ENABLED=0 go build -o "$out/fleet" ./cmd/fleet)

step "writing the sweep"
# A fresh directory without inventory.hcl: fleet's built-in "local" node.
cat >"$out/smoke.hcl" <<HCL
# Written by scripts/gpu-smoke.sh.
client {
  range_ratio      = 0.8
  prompts_per_conc = 4
  warmups_per_conc = 1
  percentiles      = [50, 99]
}

settings {
  retries = 0
  timeouts {
    server_start = "5m"
    benchmark    = "3m"
    job          = "10m"
  }
}

config "smoke-bf16-local-torch" {
  image        = ""
  model        = "smoke-llama-tiny"
  model_prefix = "smoke"
  precision    = "bf16"
  framework    = "torch-smoke"
  runner       = "local"
  env          = { TORCH_SMOKE_SERVER = "$repo/scripts/gpu-smoke/server.py", TORCH_SMOKE_PYTHON = "$(command -v "$python")" }

  scenario "1k256" {
    isl = 1024
    osl = 256
    search {
      tp   = 1
      conc = [1, 4, 16]
    }
  }
}
HCL

step "running the sweep (about 2-5 minutes)"
cd "$out"
started=$(date +%s)
rc=0
timeout 540 ./fleet sweep smoke.hcl --run-id smoke --results "$out/results" --log-format text --json >"$out/summary.json" || rc=$?
echo "fleet sweep exited $rc after $(($(date +%s) - started))s"
[ "$rc" -eq 0 ] || {
	find "$out/results" -name server.log -exec tail -n 30 {} \; 2>/dev/null || true
	fail "the sweep failed (exit $rc); logs under $out/results/smoke"
}

step "checking the results"
"$python" - "$out/results/smoke" <<'PY' || fail "results incomplete; see $out/results/smoke"
import glob, json, os, sys
run = sys.argv[1]
files = [f for f in glob.glob(os.path.join(run, "**", "*.json"), recursive=True)
         if "conc" in os.path.basename(f) and "journal" not in f]
raw = {}
for f in files:
    try:
        d = json.load(open(f))
    except ValueError:
        continue
    if isinstance(d, dict) and "completed" in d and "max_concurrency" in d:
        raw[d["max_concurrency"]] = d
ok = True
for conc in (1, 4, 16):
    d = raw.get(conc)
    if d is None:
        print(f"conc {conc}: no client result"); ok = False; continue
    good = d["completed"] == conc * 4 and d.get("output_throughput", 0) > 0
    ok &= good
    print(f"conc {conc:3d}: {d['completed']}/{conc * 4} requests, {d.get('output_throughput', 0):8.1f} output tok/s, "
          f"median TTFT {d.get('median_ttft_ms', 0):7.1f} ms, median TPOT {d.get('median_tpot_ms', 0):6.2f} ms  {'ok' if good else 'FAILED'}")
sys.exit(0 if ok else 1)
PY
echo
echo "gpu-smoke: passed; results in $out/results/smoke"
