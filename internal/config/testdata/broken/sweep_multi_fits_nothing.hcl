config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sglang"
  runner       = ["hopper", "b200-slurm"]
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    search {
      kv_transfer = "nixl"
      prefill {
        workers = 2
        tp      = 8
      }
      decode {
        workers = 1
        tp      = 8
      }
      conc = [4, 8]
    }
  }
}
