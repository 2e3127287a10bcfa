config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sglang"
  runner       = "b200-slurm"
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    search {
      prefill {
        workers = 1
        tp      = 8
      }
      decode {
        workers = 0
      }
      conc = [4, 8]
    }
    # The same job: nodes only checks the layout, round_robin is the
    # default policy, and no decode block is aggregated too.
    search {
      prefill {
        workers = 1
        tp      = 8
        nodes   = 1
      }
      router {
        policy = "round_robin"
      }
      conc = [4, 8]
    }
    # Another job: its list differs.
    search {
      prefill {
        workers = 1
        tp      = 8
      }
      conc = [4]
    }
  }
}
