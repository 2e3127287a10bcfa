node "bastion" {
  host = "bastion.example.net"
}

node "h200-1" {
  host = "10.0.0.11"
  jump = "bastoin"
  gpu  = "h200"
}
