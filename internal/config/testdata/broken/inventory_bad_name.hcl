node "h200 one" {
  host = "10.0.0.11"
}
