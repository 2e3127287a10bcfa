node "h200-1" {
  host = "10.0.0.11"
  port = 70000
  gpu  = "h200"
}
