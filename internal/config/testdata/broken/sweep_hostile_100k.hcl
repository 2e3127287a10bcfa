# M4 of the security issue: a small file whose search space is 100,000
# jobs (25 scenarios × 4 bands × 1,000 concurrencies), refused before any
# job is made.
config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  dynamic "scenario" {
    for_each = range(25)
    labels   = ["s${scenario.value}"]
    content {
      isl = 1024
      osl = 1024
      dynamic "search" {
        for_each = [1, 2, 4, 8]
        content {
          tp   = search.value
          conc = range(1, 1001)
        }
      }
    }
  }
}
