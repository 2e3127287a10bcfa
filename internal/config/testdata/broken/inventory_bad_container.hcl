cluster "slurm" {
  login     = "local"
  gpu       = "b200"
  container = "docker"
}
