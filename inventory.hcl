# inventory.hcl: the machines fleet may use. An example fleet; edit it to
# describe yours.
#
# fleet reads ./inventory.hcl by default (--inventory FILE for another).
# Without one, it knows only node "local": this machine, with fleet's
# simulator standing in for 8 GPUs.
#
# A config's runner selects machines by GPU type (gpu), by node label, or
# by node/cluster name; a job runs on any selected machine with at least
# tp x pp GPUs.
#
# Secrets never go in this file: env_from names variables of fleet's own
# environment (export HF_TOKEN=... before running fleet) whose values are
# passed to the jobs without appearing in argv, logs or results.

variable "user" {
  description = "SSH user on every node (--var user=alice)."
  default     = "bench"
}

locals {
  hf_cache = "/data/hf-cache" # shared by every job of a node: weights download once
  workdir  = "/data/fleet"
  secrets  = ["HF_TOKEN"]
}

# The bastion relays SSH to the nodes of the private network; it has no
# GPU, so no job runs there.
node "bastion" {
  host = "bastion.example.net"
  user = var.user
}

node "h100-1" {
  host          = "10.0.1.11"
  user          = var.user
  identity_file = "~/.ssh/fleet_ed25519"
  jump          = "bastion"
  gpu           = "h100"
  gpus          = 8
  labels        = ["nvidia", "hopper"]
  workdir       = local.workdir
  hf_cache      = local.hf_cache
  env_from      = local.secrets
}

node "h200-1" {
  host     = "10.0.1.21"
  user     = var.user
  jump     = "bastion"
  gpu      = "h200"
  labels   = ["nvidia", "hopper"]
  workdir  = local.workdir
  hf_cache = local.hf_cache
  env_from = local.secrets
}

node "h200-2" {
  host     = "10.0.1.22"
  port     = 2222
  user     = var.user
  jump     = ["bastion"]
  gpu      = "h200"
  labels   = ["nvidia", "hopper"]
  workdir  = local.workdir
  hf_cache = local.hf_cache
  env_from = local.secrets
  # Jobs of tp <= 4 share this node, each on its own GPUs.
  packing = true
}

node "b200-1" {
  host     = "b200-1.lab.example.net"
  user     = var.user
  gpu      = "b200"
  labels   = ["nvidia", "blackwell"]
  workdir  = local.workdir
  hf_cache = local.hf_cache
  env      = { NCCL_DEBUG = "WARN" }
  env_from = local.secrets
}

# AMD Instinct nodes: same docker runtime; fleet adds the ROCm devices.
node "mi300x-1" {
  host     = "10.0.2.11"
  user     = var.user
  jump     = "bastion"
  gpu      = "mi300x"
  labels   = ["amd", "cdna3"]
  workdir  = local.workdir
  hf_cache = local.hf_cache
  env_from = local.secrets
}

node "mi325x-1" {
  host     = "10.0.2.21"
  user     = var.user
  jump     = "bastion"
  gpu      = "mi325x"
  labels   = ["amd", "cdna3"]
  workdir  = local.workdir
  hf_cache = local.hf_cache
  env_from = local.secrets
}

node "mi355x-1" {
  host     = "10.0.2.31"
  user     = var.user
  jump     = "bastion"
  gpu      = "mi355x"
  labels   = ["amd", "cdna4"]
  workdir  = local.workdir
  hf_cache = local.hf_cache
  env_from = local.secrets
}

# Two CPU-only machines where fleet's simulator stands in for one GPU
# each: a node group for multi-node and disaggregated configs
# (sweeps/disagg-sim.hcl). A multi-node job holds as many nodes of one GPU
# type and GPU count as its layout needs, all of them or none.
node "sim-1" {
  host    = "10.0.3.11"
  user    = var.user
  jump    = "bastion"
  gpu     = "sim"
  gpus    = 1
  labels  = ["sim-group"]
  runtime = "none"
  workdir = local.workdir
}

node "sim-2" {
  host    = "10.0.3.12"
  user    = var.user
  jump    = "bastion"
  gpu     = "sim"
  gpus    = 1
  labels  = ["sim-group"]
  runtime = "none"
  workdir = local.workdir
}

# The login node of the Slurm cluster below: fleet runs sbatch there.
node "b200-login" {
  host = "login.hpc.example.net"
  user = var.user
}

# A Slurm cluster of B200 nodes. Each job gets one whole node
# (--exclusive); up to max_nodes jobs run at once. Containers run through
# pyxis/enroot: images are imported once per node into squash_dir.
cluster "b200-slurm" {
  login         = "b200-login"
  partition     = "gpu"
  account       = "inference"
  gpu           = "b200"
  gpus_per_node = 8
  max_nodes     = 4
  time_limit    = "3:00:00"
  container     = "pyxis"
  squash_dir    = "/shared/squash"
  workdir       = "/shared/fleet" # seen by the login and the compute nodes
  hf_cache      = "/shared/hf-cache"
  sbatch_args   = ["--qos=normal"]
  env_from      = local.secrets
}
