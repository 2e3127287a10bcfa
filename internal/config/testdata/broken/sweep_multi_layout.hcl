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
    # a worker that does not fill whole nodes, and nodes that disagree
    search {
      prefill {
        workers = 1
        tp      = 12
      }
      decode {
        workers = 2
        tp      = 8
        nodes   = 1
      }
      conc = [64]
    }
    search {
      prefill {
        workers = 1
        tp      = 4
      }
      decode {
        workers = 2
        tp      = 8
        nodes   = 1
      }
      conc = [64]
    }
  }
}
