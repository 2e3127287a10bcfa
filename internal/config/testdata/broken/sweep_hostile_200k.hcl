# M4 of the security issue: five lines that made `fleet plan` spend
# minutes converting a 200,000-element list.
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
      conc = flatten([for i in range(200) : range(i * 1000 + 1, i * 1000 + 1001)])
    }
  }
}
