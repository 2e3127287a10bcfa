node "b200" {
  host = "10.0.0.11"
}

cluster "b200" {
  login = "local"
  gpu   = "b200"
}
