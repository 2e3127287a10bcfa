//go:build !linux

package jobrun

// portHolder cannot tell where there is no /proc.
func portHolder(port, pgrp int) (ours, known bool) { return false, false }
