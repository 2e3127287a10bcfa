node "local" {
  host = "127.0.0.1"
  gpus = 2
}
