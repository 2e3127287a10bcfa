package jobrun

import "syscall"

// serverAttr makes the kernel send the launcher TERM when fleet job dies
// without stopping it (SIGKILL, OOM killer): its trap then stops the
// server, which would otherwise hold the GPUs and the port. The launcher
// stays in the job's process group.
func serverAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
