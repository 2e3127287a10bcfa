# range and setproduct are how a few characters make millions of values.
locals {
  many  = range(1e9)
  pairs = setproduct(range(100), range(100))
}

config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  scenario "s" {
    isl = 1
    osl = 1
    search {
      tp   = 1
      conc = [1]
    }
  }
}
