# spec-sim.hcl: speculative decoding as a sweep dimension, on the
# simulator, on this machine, in about a minute.
#
#   fleet plan sweeps/spec-sim.hcl
#   fleet sweep sweeps/spec-sim.hcl
#
# Each concurrency runs twice: without speculative decoding and with MTP
# drafting three tokens per step. The simulator (framework "sim") accepts
# each draft position with chance 0.7 given the ones before it, so a
# decode step emits 1 to 4 tokens in one chunk (2.53 on average) and
# lasts 15% longer than a plain one. The rows carry spec_decoding ("none"
# or "mtp") and, for the MTP jobs, spec_accept_length: the acceptance
# length fleet bench read from the simulator's vLLM spec-decode counters.

client {
  range_ratio      = 0.8
  prompts_per_conc = 4
  warmups_per_conc = 1
  percentiles      = [90, 99, 99.9]
}

settings {
  retries = 1
  timeouts {
    server_start = "2m"
    benchmark    = "5m"
    job          = "10m"
  }
}

config "sim70b-fp8-local-sim-spec" {
  image        = ""
  model        = "sim-llama-3.3-70b"
  model_prefix = "sim70b"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"

  # The simulator's acceptance per draft position (sim flags; the golden
  # mode would be spec_accept_length below instead).
  server_args = ["--profile", "h200-llama70b-tp8", "--startup-delay", "2s", "--spec-acceptance", "0.7"]

  scenario "1k256" {
    isl = 1024
    osl = 256
    search {
      tp          = 8
      conc        = [4, 16]
      spec        = ["none", "mtp"] # swept like conc: one job per method and concurrency
      spec_tokens = 3
    }
  }

  # InferenceX's golden acceptance: every MTP step emits 2.5 tokens on
  # average, whatever the drafter would do, so that systems compare.
  scenario "1k256-golden" {
    isl = 1024
    osl = 256
    search {
      tp                 = 8
      conc               = [16]
      spec               = "mtp"
      spec_tokens        = 3
      spec_accept_length = 2.5
    }
  }
}
