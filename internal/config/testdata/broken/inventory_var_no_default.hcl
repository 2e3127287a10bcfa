variable "host" {
  description = "where the node is"
}

node "h200-1" {
  host = var.host
}
