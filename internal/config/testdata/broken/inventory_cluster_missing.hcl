cluster "slurm" {
  partition = "gpu"
}
