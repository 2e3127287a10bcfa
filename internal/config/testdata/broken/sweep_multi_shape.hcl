config "x" {
  image        = "img"
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sglang"
  runner       = "b200"
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    # tp belongs to single-node bands
    search {
      tp = 8
      prefill {
        workers = 1
        tp      = 8
      }
      decode {
        workers = 1
        tp      = 8
      }
      conc = [4]
    }
    # kv_transfer on an aggregated shape
    search {
      kv_transfer = "nixl"
      prefill {
        workers = 2
        tp      = 4
      }
      conc = [8]
    }
    # no prefill block; a bad policy and engine
    search {
      kv_transfer = "nixel"
      decode {
        workers = 1
        tp      = 8
      }
      router {
        policy = "cache_aware"
      }
      conc = [16]
    }
    # bad numbers
    search {
      prefill {
        workers = 0
        tp      = 0
      }
      decode {
        workers = -1
      }
      conc = [32]
    }
  }
}
