node "login-1" {
  host = "login.example.net"
}

cluster "slurm" {
  login = "login1"
  gpu   = "b200"
}
