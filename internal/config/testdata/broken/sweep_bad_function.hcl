locals {
  tps = [1, 2, 4, 8]
}

config "x" {
  image        = "img"
  model        = upper(local.tps)
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
