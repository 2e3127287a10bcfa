node "h200-1" {
  gpu = "h200"
}
