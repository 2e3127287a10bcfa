node "a" {
  host = "10.0.0.1"
  jump = "b"
}

node "b" {
  host = "10.0.0.2"
  jump = "a"
}
