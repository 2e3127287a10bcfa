//go:build !linux

package jobrun

import "syscall"

// serverAttr: only Linux can tie the launcher's life to fleet job's.
func serverAttr() *syscall.SysProcAttr { return nil }
