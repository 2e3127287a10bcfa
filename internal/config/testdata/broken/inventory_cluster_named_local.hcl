cluster "local" {
  login = "local"
  gpu   = "b200"
}
