# demo.hcl: a sweep that runs anywhere in about a minute.
#
#   fleet plan sweeps/demo.hcl
#   fleet sweep sweeps/demo.hcl
#
# It serves a simulated Llama-3.3-70B with fleet's own inference simulator
# (framework "sim") on the built-in "local" node, so it needs no GPU, no
# container image and no SSH. The simulator follows a synthetic H200 tp8
# latency profile in real time (only its startup is shortened to 2 s), so
# the figures look like a GPU's; the benchmark client, result files and
# reports are exactly those of a real sweep.

# Fewer prompts than InferenceMAX's 10 x concurrency keep the run short;
# every concurrency still gets a warmup round first.
client {
  range_ratio      = 0.8
  prompts_per_conc = 4
  warmups_per_conc = 1
  percentiles      = [50, 90, 99, 99.9]
}

settings {
  retries = 1
  timeouts {
    server_start = "2m"
    benchmark    = "5m"
    job          = "10m"
  }
}

config "sim70b-fp8-local-sim" {
  image        = "" # the simulator runs without a container
  model        = "sim-llama-3.3-70b"
  model_prefix = "sim70b"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"

  # Flags of `fleet sim`: the latency profile to imitate, and a short
  # startup instead of the profile's model-loading time.
  server_args = ["--profile", "h200-llama70b-tp8", "--startup-delay", "2s"]

  # 1024 tokens in, 256 out: long enough to show prefill and decode in the
  # metrics, short enough for a demo.
  scenario "1k256" {
    isl = 1024
    osl = 256
    search {
      tp   = 8
      conc = [4, 8, 16]
    }
  }
}
