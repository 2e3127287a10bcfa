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
      tp         = 8
      conc       = [4, 8]
      conc_start = 4
      conc_end   = 8
    }
  }
}
