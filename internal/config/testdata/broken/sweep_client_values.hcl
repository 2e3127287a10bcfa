client {
  prompts_per_conc = 0
  warmups_per_conc = -1
  percentiles      = [50, 0, 101]
}

config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    search {
      tp   = 8
      conc = [4]
    }
  }
}
