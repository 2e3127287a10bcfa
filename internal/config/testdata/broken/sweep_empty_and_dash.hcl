# Required strings must not be empty, and values that become arguments of
# a command on the node must not start with '-'.
config "empty" {
  image        = "img"
  model        = ""
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

config "dash" {
  image        = "--privileged"
  model        = "--trust-remote-code"
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
