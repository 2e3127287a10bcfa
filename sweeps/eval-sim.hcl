# eval-sim.hcl: an accuracy eval after the benchmark, on this machine,
# against fleet's simulator, in about a minute.
#
#   fleet plan sweeps/eval-sim.hcl
#   fleet sweep sweeps/eval-sim.hcl
#   fleet report
#
# The job at the highest concurrency of each scenario (conc = "max", as
# InferenceX picks it) scores GSM8K-style questions after its benchmark:
# fleet's built-in runner asks each question of evals/gsm8k-sim.jsonl after
# the first 3 (the prompt's worked examples) over /v1/completions and
# compares the last number after "####" with the reference. The simulator
# answers from the same file's sim_answer fields, 8 of the 10 right, so the
# score is 0.8, over the 0.7 that evals/thresholds.yaml asks of sim70b.
# A lower score would fail the job (exit 22, eval-failed) with the reason.

settings {
  retries = 0
  timeouts {
    server_start = "2m"
  }
}

eval {
  tasks      = ["gsm8k"]
  dataset    = "evals/gsm8k-sim.jsonl"
  thresholds = "evals/thresholds.yaml"
  shots      = 3
  conc       = "max"
  max_tokens = 64
}

config "sim70b-fp8-local-eval" {
  image        = "" # the simulator runs without a container
  model        = "sim-llama-3.3-70b"
  model_prefix = "sim70b"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  server_args  = ["--time-scale", "0.02"]

  scenario "1k1k" {
    isl = 1024
    osl = 128
    search {
      tp   = 1
      conc = [1, 4]
    }
  }
}
