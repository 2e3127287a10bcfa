# Numbers that overflowed or made no sense: prompts_per_conc × conc was
# 4.6e18 prompts, and the estimate went negative.
client {
  prompts_per_conc = 2147483647
  warmups_per_conc = 1e6
}

settings {
  retries = 1000000
  timeouts {
    server_start = "100000h"
    job          = "-1h"
  }
}

config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  scenario "s" {
    isl           = 1e9
    osl           = 1024
    max_model_len = 2000000000
    search {
      tp   = 2048
      ep   = 1e5
      conc = [2147483647, -3]
    }
    search {
      tp         = 4
      conc_start = 1
      conc_end   = 4294967296
    }
    search {
      tp         = 2
      conc_start = 1
      conc_end   = 1000000
    }
  }
}
