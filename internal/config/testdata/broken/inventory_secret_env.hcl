node "h200-1" {
  host = "10.0.0.11"
  gpu  = "h200"
  env  = { HF_TOKEN = "hf_abc", NCCL_DEBUG = "WARN" }
}
