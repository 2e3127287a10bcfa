package jobrun

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is one launcher fleet job started: a server, or one process of a
// multi-node job.
type proc struct {
	name   string // what reasons call it: "server", "decode-0"
	log    string // its log file
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited
	status error         // its exit, once exited is closed
}

// startProc starts `bash launcher args...` in dir, in the job's process
// group (a cancel of the job reaches it), with its output in logPath and
// env over the base environment.
func startProc(name, dir, launcher, logPath string, base []string, env map[string]string, args []string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	all := map[string]string{}
	for _, e := range base {
		if k, v, ok := strings.Cut(e, "="); ok {
			all[k] = v
		}
	}
	for k, v := range env {
		all[k] = v
	}
	cmd := exec.Command("bash", append([]string{launcher}, args...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = serverAttr()
	for k, v := range all {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.status = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop stops the process: TERM, a grace period, KILL. logf says what it
// does.
func (p *proc) stop(grace time.Duration, logf func(string, ...any)) {
	if p == nil || !p.alive() {
		return
	}
	logf("stopping %s (pid %d)", p.name, p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	logf("%s still running %s after TERM; killing it", p.name, grace)
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// serverStatus is the server's exit status once it has exited.
func (r *runner) serverStatus() error {
	if r.server == nil || r.server.alive() {
		return nil
	}
	return r.server.status
}
