cluster "slurm" {
  login      = "local"
  gpu        = "b200"
  time_limit = "3 hours"
}
