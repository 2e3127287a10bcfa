config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  scenaro "1k1k" {
    isl = 1024
    osl = 1024
  }
}
