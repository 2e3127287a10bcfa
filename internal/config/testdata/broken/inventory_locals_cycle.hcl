locals {
  a = local.b
  b = local.a
  c = "fine"
}

node "h200-1" {
  host = local.c
}
