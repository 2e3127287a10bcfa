# agentic-sim.hcl: agentic trace replay on this machine, with fleet's
# simulator keeping a prefix cache, in about three minutes.
#
#   fleet plan sweeps/agentic-sim.hcl
#   fleet sweep sweeps/agentic-sim.hcl
#
# Each job replays the synthetic agent sessions of traces/demo.jsonl (each
# turn resends the whole growing conversation) for 60 s at one
# concurrency, against `fleet sim` with a KV cache (sim.sh gives it
# SIM_KV_CACHE_TOKENS, 1,048,576 unless the node's env says otherwise),
# and writes InferenceX's agentic row: throughput per GPU, TTFT, ITL,
# interactivity, and the theoretical and server-reported cache hit rates.

settings {
  retries = 1
  timeouts {
    server_start = "2m"
  }
}

config "sim70b-fp8-local-agentic" {
  image        = "" # the simulator runs without a container
  model        = "sim-llama-3.3-70b"
  model_prefix = "sim70b"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  # The simulator's timing, twenty times faster than its default model.
  server_args = ["--startup-delay", "2s", "--time-scale", "0.05"]

  agentic "demo" {
    trace    = "traces/demo.jsonl"
    duration = "60s"
    warmup_requests_per_lane = 1
    search {
      tp   = 1
      conc = [2, 8]
    }
  }
}
