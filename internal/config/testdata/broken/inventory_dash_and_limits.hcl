# Values that reach ssh, sbatch or a shell command as arguments must not
# start with '-'; counts are bounded.
node "a" {
  host          = "-oProxyCommand=touch /tmp/pwned"
  user          = "-l"
  identity_file = "-i"
  jump          = ["-J"]
  workdir       = "-rf"
  hf_cache      = "--cache"
  gpu           = "h200"
  gpus          = 100000
}

node "b" {
  host = "b.example.net"
  user = ""
}

cluster "c" {
  login         = "b"
  gpu           = "h200"
  partition     = "--qos=high"
  account       = "-A"
  gpus_per_node = 5000
  max_nodes     = 1e6
  squash_dir    = "-squash"
  workdir       = "-work"
  hf_cache      = "-hf"
}
