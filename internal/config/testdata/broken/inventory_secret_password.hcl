cluster "slurm" {
  login = "local"
  gpu   = "h100"
  env   = { DB_PASSWORD = "hunter2" }
}
