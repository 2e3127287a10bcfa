# Machines for placement tests: two whole h200 nodes, a half one, a packing
# h100 node and a b200 cluster that runs two jobs at once.
node "a" {
  host = "10.0.0.1"
  gpu  = "h200"
}

node "b" {
  host = "10.0.0.2"
  gpu  = "h200"
}

node "c" {
  host   = "10.0.0.3"
  gpu    = "h200"
  gpus   = 4
  labels = ["half"]
}

node "p" {
  host    = "10.0.0.4"
  gpu     = "h100"
  packing = true
}

node "login" {
  host = "10.0.0.5"
}

cluster "s" {
  login     = "login"
  gpu       = "b200"
  max_nodes = 2
}
