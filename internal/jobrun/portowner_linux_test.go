package jobrun

import (
	"bufio"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

func TestPortHolderTellsOurListenerFromAnotherGroups(t *testing.T) {
	me := syscall.Getpgrp()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mine := ln.Addr().(*net.TCPAddr).Port
	if ours, known := portHolder(mine, me); !ours || !known {
		t.Errorf("our own listener: ours=%v known=%v, want true true", ours, known)
	}

	// A listener of another process group: another job's server.
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 to hold a port in another process group")
	}
	cmd := exec.Command(py, "-c", `import socket,sys
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1)
print(s.getsockname()[1], flush=True); sys.stdin.read()`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := strconv.Atoi(line[:len(line)-1])
	if err != nil {
		t.Fatal(err)
	}
	if ours, known := portHolder(theirs, me); ours || !known {
		t.Errorf("another group's listener: ours=%v known=%v, want false true", ours, known)
	}

	// Nobody listens: /proc cannot tell.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	free := ln2.Addr().(*net.TCPAddr).Port
	ln2.Close()
	if _, known := portHolder(free, me); known {
		t.Errorf("a port nobody listens on: known=true, want false")
	}
}
