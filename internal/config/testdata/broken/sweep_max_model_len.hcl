config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  scenario "8k1k" {
    isl           = 8192
    osl           = 1024
    max_model_len = 8192
    search {
      tp   = 8
      conc = [4]
    }
  }
}
