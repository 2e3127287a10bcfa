config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  dynamic "scenario" {
    for_each = 3
    labels   = ["1k1k"]
    content {
      isl = 1024
      osl = 1024
    }
  }
}
