# Agentic jobs of every kind: a trace beside this file, a dataset,
# offload on and off, a multi-node band.
config "cc-h200-sglang" {
  image        = "lmsysorg/sglang:v0.5.2"
  model        = "org/m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sglang"
  runner       = "h200"
  agentic "agentic" {
    trace    = "traces.jsonl"
    duration = "1800s"
    search {
      tp   = 8
      conc = [4, 8]
    }
    search {
      tp                 = 8
      conc               = [4]
      kv_offloading      = "dram"
      kv_offload_backend = "hicache"
      dram_gb            = 100
    }
  }
}

config "cc-b200-pd" {
  model        = "org/m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sim"
  runner       = "b200"
  agentic "cc" {
    dataset         = "semianalysisai/cc-traces-weka-062126-256k"
    block_size      = 32
    warmup_requests_per_lane = 2
    search {
      prefill {
        workers = 1
        tp      = 4
      }
      decode {
        workers = 1
        tp      = 4
      }
      kv_offloading      = "dram"
      kv_offload_backend = "native"
      dram_gb            = 50
      conc               = [2, 4]
    }
  }
}
