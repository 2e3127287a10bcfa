node "h200-1" {
  hots = "10.0.0.11"
  gpu  = "h200"
}
