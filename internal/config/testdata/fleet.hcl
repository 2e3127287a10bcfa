# The inventory the tests load sweeps against; fleet.json is its JSON twin.
variable "user" {
  default = "bench"
}

locals {
  cache = "/data/hf"
}

node "bastion" {
  host = "bastion.example.net"
  user = var.user
}

node "h200-1" {
  host          = "10.0.0.11"
  user          = var.user
  identity_file = "~/.ssh/id_ed25519"
  jump          = "bastion"
  gpu           = "h200"
  labels        = ["nvidia", "hopper"]
  hf_cache      = local.cache
  env           = { NCCL_DEBUG = "WARN" }
  env_from      = ["HF_TOKEN"]
}

node "h200-2" {
  host    = "10.0.0.12"
  port    = 2222
  user    = var.user
  jump    = ["bastion", "relay@10.0.0.1:22"]
  gpu     = "h200"
  gpus    = 4
  labels  = ["nvidia", "hopper", "small"]
  runtime = "enroot"
  packing = true
}

node "login" {
  host = "login.example.net"
}

cluster "b200-slurm" {
  login         = "login"
  partition     = "gpu"
  account       = "bench"
  gpu           = "b200"
  gpus_per_node = 8
  max_nodes     = 2
  time_limit    = "3:00:00"
  container     = "pyxis"
  squash_dir    = "/shared/squash"
  workdir       = "/shared/fleet"
  hf_cache      = "/shared/hf"
  sbatch_args   = ["--qos=normal"]
  env_from      = ["HF_TOKEN"]
}
