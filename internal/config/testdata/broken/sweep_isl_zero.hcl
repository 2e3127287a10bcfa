config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  scenario "1k1k" {
    isl = 0
    osl = -5
    search {
      tp   = 8
      conc = [4]
    }
  }
}
