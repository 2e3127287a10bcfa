package jobrun

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portHolder says whether the socket listening on port (any address, in
// this network namespace) is held by a process of process group pgrp.
// known is false when /proc cannot tell: no listener on the port, or none
// of the processes this user can see holds it.
func portHolder(port, pgrp int) (ours, known bool) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeners(f, port, inodes)
	}
	if len(inodes) == 0 {
		return false, false
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	seen := false
	for _, p := range procs {
		if !holdsOne(p, inodes) {
			continue
		}
		seen = true
		if procGroup(p) == pgrp {
			return true, true
		}
	}
	return false, seen
}

// listeners adds the inodes of the sockets in state LISTEN on port in the
// /proc/net table file to inodes.
func listeners(file string, port int, inodes map[string]bool) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Scan() // the header
	for s.Scan() {
		fl := strings.Fields(s.Text())
		if len(fl) < 10 || fl[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(fl[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); !ok || err != nil || int(p) != port {
			continue
		}
		inodes[fl[9]] = true
	}
}

// holdsOne says whether process dir p (/proc/PID) has one of the sockets
// open.
func holdsOne(p string, inodes map[string]bool) bool {
	fds, err := os.ReadDir(filepath.Join(p, "fd"))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
		if err != nil {
			continue
		}
		if in, ok := strings.CutPrefix(l, "socket:["); ok && inodes[strings.TrimSuffix(in, "]")] {
			return true
		}
	}
	return false
}

// procGroup is the process group of process dir p; -1 when unknown.
func procGroup(p string) int {
	b, err := os.ReadFile(filepath.Join(p, "stat"))
	if err != nil {
		return -1
	}
	// After the command name, which may hold spaces and parentheses:
	// state, ppid, pgrp.
	s := string(b)
	i := strings.LastIndex(s, ") ")
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 3 {
		return -1
	}
	g, err := strconv.Atoi(f[2])
	if err != nil {
		return -1
	}
	return g
}
