node "h200-1" {
  host = "10.0.0.11"
  gpu  = "h200"
  gpus = 7.5
}
