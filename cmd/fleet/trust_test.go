package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleetbench/fleet/internal/ssh"
)

// hostKeyServer is an in-process SSH server that offers a host key and
// lets no one in: trust needs only the key exchange.
func hostKeyServer(t *testing.T) (port int, key gossh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	trustMust(t, err)
	signer, err := gossh.NewSignerFromKey(priv)
	trustMust(t, err)
	cfg := &gossh.ServerConfig{PasswordCallback: func(gossh.ConnMetadata, []byte) (*gossh.Permissions, error) {
		return nil, errors.New("no one gets in")
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	trustMust(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _, _, _ = gossh.NewServerConn(c, cfg)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, signer.PublicKey()
}

// trustSetup is one node served in-process, an inventory naming it, and
// empty user and system known_hosts paths.
type trustSetup struct {
	inv, user, system string
	addr, fp          string
	line              string // the known_hosts line of the node's key
	env               map[string]string
}

func newTrustSetup(t *testing.T) *trustSetup {
	t.Helper()
	port, key := hostKeyServer(t)
	dir := t.TempDir()
	s := &trustSetup{inv: filepath.Join(dir, "inventory.hcl"), user: filepath.Join(dir, "home", ".ssh", "known_hosts"),
		system: filepath.Join(dir, "ssh_known_hosts"), addr: "[127.0.0.1]:" + strconv.Itoa(port), fp: gossh.FingerprintSHA256(key),
		env: map[string]string{"HOME": filepath.Join(dir, "home"), "SSH_AUTH_SOCK": ""}}
	s.line = knownhosts.Line([]string{s.addr}, key) + "\n"
	inv := fmt.Sprintf("node \"n1\" {\n  host = \"127.0.0.1\"\n  port = %d\n  user = \"u\"\n  runtime = \"none\"\n}\n", port)
	trustMust(t, os.WriteFile(s.inv, []byte(inv), 0o644))
	return s
}

func (s *trustSetup) args(extra ...string) []string {
	return append([]string{"nodes", "trust", "--inventory", s.inv, "--system-known-hosts", s.system, "n1"}, extra...)
}

func (s *trustSetup) userFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(s.user)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func TestNodesTrustWithoutATerminal(t *testing.T) {
	t.Run("nothing is added without --fingerprint or --yes, and the error says how", func(t *testing.T) {
		s := newTrustSetup(t)
		code, out, errOut := runFleet(t, s.env, s.args()...)
		if code != ExitError {
			t.Fatalf("exit %d, want %d\n%s%s", code, ExitError, out, errOut)
		}
		for _, want := range []string{s.fp, "not added", "fleet nodes trust n1 --fingerprint " + s.fp, "--yes", "trust on first use"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
		if f := s.userFile(t); f != "" {
			t.Errorf("known_hosts written:\n%s", f)
		}
	})
	t.Run("the expected fingerprint adds the key, once", func(t *testing.T) {
		s := newTrustSetup(t)
		code, out, errOut := runFleet(t, s.env, s.args("--fingerprint", s.fp)...)
		if code != ExitOK || !strings.Contains(out, "n1: added ssh-ed25519 "+s.fp+" for "+s.addr+" to "+s.user) {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if f := s.userFile(t); f != s.line {
			t.Errorf("known_hosts:\n%s\nwant:\n%s", f, s.line)
		}
		code, out, _ = runFleet(t, s.env, s.args("--fingerprint", s.fp)...)
		if code != ExitOK || !strings.Contains(out, "n1: already trusted") {
			t.Errorf("second trust: exit %d\n%s", code, out)
		}
		if f := s.userFile(t); f != s.line {
			t.Errorf("known_hosts after the second trust:\n%s", f)
		}
	})
	t.Run("another fingerprint refuses the key", func(t *testing.T) {
		s := newTrustSetup(t)
		other := "SHA256:" + strings.Repeat("A", 43)
		code, _, errOut := runFleet(t, s.env, s.args("--fingerprint", other, "--yes")...)
		if code != ExitError || !strings.Contains(errOut, "is "+s.fp+", not the expected "+other) {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if f := s.userFile(t); f != "" {
			t.Errorf("known_hosts written:\n%s", f)
		}
	})
	t.Run("a malformed fingerprint is a usage error", func(t *testing.T) {
		s := newTrustSetup(t)
		code, _, errOut := runFleet(t, s.env, s.args("--fingerprint", "a1:b2:c3")...)
		if code != ExitUsage || !strings.Contains(errOut, "--fingerprint") {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
	})
	t.Run("--yes trusts on first use", func(t *testing.T) {
		s := newTrustSetup(t)
		code, out, errOut := runFleet(t, s.env, s.args("--yes")...)
		if code != ExitOK || !strings.Contains(out, "n1: added") || s.userFile(t) != s.line {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("a key in the system's known_hosts is already trusted, and the user's file stays as it is", func(t *testing.T) {
		s := newTrustSetup(t)
		trustMust(t, os.WriteFile(s.system, []byte(s.line), 0o644))
		code, out, errOut := runFleet(t, s.env, s.args()...)
		if code != ExitOK || !strings.Contains(out, "n1: already trusted: ssh-ed25519 "+s.fp+" for "+s.addr+" (in "+s.system+")") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if f := s.userFile(t); f != "" {
			t.Errorf("known_hosts written:\n%s", f)
		}
	})
	t.Run("a changed key is refused, --yes or not", func(t *testing.T) {
		s := newTrustSetup(t)
		_, other, err := ed25519.GenerateKey(rand.Reader)
		trustMust(t, err)
		otherKey, err := gossh.NewPublicKey(other.Public())
		trustMust(t, err)
		old := knownhosts.Line([]string{s.addr}, otherKey) + "\n"
		trustMust(t, os.WriteFile(s.system, []byte(old), 0o644))
		code, _, errOut := runFleet(t, s.env, s.args("--yes")...)
		if code != ExitError || !strings.Contains(errOut, "REMOTE HOST KEY CHANGED") {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if f := s.userFile(t); f != "" {
			t.Errorf("known_hosts written:\n%s", f)
		}
	})
	t.Run("--system-known-hosts none reads no system file", func(t *testing.T) {
		s := newTrustSetup(t)
		trustMust(t, os.WriteFile(s.system, []byte(s.line), 0o644))
		args := []string{"nodes", "trust", "--inventory", s.inv, "--system-known-hosts", "none", "n1"}
		code, _, errOut := runFleet(t, s.env, args...)
		if code != ExitError || !strings.Contains(errOut, "not added") {
			t.Fatalf("exit %d: the system file was read\n%s", code, errOut)
		}
	})
}

func TestNodesTrustAsksOnATerminal(t *testing.T) {
	tests := []struct {
		name, answer string
		added        bool
	}{
		{"y adds the key", "y\n", true},
		{"yes adds the key", "YES\n", true},
		{"n refuses it", "n\n", false},
		{"an empty answer refuses it", "\n", false},
		{"no answer at all refuses it", "", false},
		{"anything else refuses it", "sure\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTrustSetup(t)
			var stdout, stderr bytes.Buffer
			a := &App{Stdin: strings.NewReader(tc.answer), Stdout: &stdout, Stderr: &stderr,
				Getenv: func(k string) string { return s.env[k] }, Environ: os.Environ}
			f := &sshFlags{inventory: s.inv, systemKnownHosts: s.system}
			err := a.trustNodes(context.Background(), f, []string{"n1"}, trustOptions{interactive: true})
			prompt := "n1 (" + s.addr + ") offers a host key that no known_hosts file has:\n  ssh-ed25519 " + s.fp + "\nAdd it to " + s.user + "? [y/N] "
			if !strings.HasPrefix(stderr.String(), prompt) {
				t.Errorf("prompt:\n%q\nwant:\n%q", stderr.String(), prompt)
			}
			if tc.added {
				if err != nil || s.userFile(t) != s.line {
					t.Fatalf("err %v, known_hosts %q", err, s.userFile(t))
				}
				return
			}
			if err == nil || s.userFile(t) != "" || !strings.Contains(stderr.String(), "not added (not confirmed)") {
				t.Fatalf("err %v, known_hosts %q, stderr:\n%s", err, s.userFile(t), stderr.String())
			}
		})
	}
	t.Run("a pinned fingerprint asks nothing", func(t *testing.T) {
		var prompt bytes.Buffer
		p := trustPolicy(trustOptions{interactive: true, fingerprints: []string{"SHA256:x"}}, bufio.NewReader(strings.NewReader("y\n")), &prompt)
		if p.Confirm != nil || len(p.Fingerprints) != 1 {
			t.Errorf("policy %+v", p)
		}
	})
	t.Run("--yes asks nothing", func(t *testing.T) {
		var prompt bytes.Buffer
		p := trustPolicy(trustOptions{interactive: true, yes: true}, bufio.NewReader(strings.NewReader("n\n")), &prompt)
		if ok, _ := p.Confirm(ssh.TrustResult{}); !ok || prompt.Len() > 0 {
			t.Errorf("--yes: ok %v, prompt %q", ok, prompt.String())
		}
	})
}

func trustMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
