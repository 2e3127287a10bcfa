node "h200-1" {
  host     = "10.0.0.11"
  env      = { HF_HOME = "/data" }
  env_from = ["HF_HOME", "BAD-NAME"]
}
