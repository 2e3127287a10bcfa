# disagg-sim.hcl: disaggregated prefill/decode serving with fleet's
# simulator, beside its aggregated baseline, on a group of two nodes.
#
#   fleet plan sweeps/disagg-sim.hcl
#
# A search band with prefill and decode blocks is one multi-node job: a
# router in front, prefill workers that hand the KV cache of each prompt
# over to decode workers, all started once and measured at every
# concurrency of the list in turn. The inventory's nodes labelled
# sim-group (two CPU-only machines where the simulator stands in for one
# GPU each) hold it: each worker on a node of its own.

client {
  prompts_per_conc = 4
  warmups_per_conc = 1
}

config "sim70b-fp8-pd-sim" {
  image        = "" # the simulator runs without a container
  model        = "sim-llama-3.3-70b"
  model_prefix = "sim70b"
  precision    = "fp8"
  framework    = "sim"
  runner       = "sim-group"
  server_args  = ["--startup-delay", "2s"]

  scenario "1k256" {
    isl = 1024
    osl = 256

    # 1 prefill worker and 1 decode worker of one GPU each.
    search {
      prefill {
        workers = 1
        tp      = 1
      }
      decode {
        workers = 1
        tp      = 1
      }
      router {
        policy = "round_robin"
      }
      kv_transfer = "nixl"
      conc        = [1, 2, 4]
    }

    # The aggregated baseline on as many GPUs and nodes: two workers that
    # each prefill and decode (no decode workers).
    search {
      prefill {
        workers = 2
        tp      = 1
      }
      conc = [1, 2, 4]
    }
  }
}
