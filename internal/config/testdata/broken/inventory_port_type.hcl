node "h200-1" {
  host = "10.0.0.11"
  port = "ssh"
}
