package ssh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// keyServer is an in-process SSH server that offers its host key and
// lets no one in: enough for Trust, which stops after the key exchange.
func keyServer(t *testing.T) (port int, key gossh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &gossh.ServerConfig{PasswordCallback: func(gossh.ConnMetadata, []byte) (*gossh.Permissions, error) {
		return nil, errors.New("no one gets in")
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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

func TestTrustWithPolicy(t *testing.T) {
	port, key := keyServer(t)
	addr := "[127.0.0.1]:" + strconv.Itoa(port)
	fp := gossh.FingerprintSHA256(key)
	known := knownhosts.Line([]string{addr}, key) + "\n"
	changed := knownhosts.Line([]string{addr}, edKey(t)) + "\n"
	yes := func(TrustResult) (bool, error) { return true, nil }
	no := func(TrustResult) (bool, error) { return false, nil }

	tests := []struct {
		name         string
		user, system string // known_hosts contents ("": no file)
		policy       TrustPolicy
		wantErr      any // nil, error sentinel, or pointer to an error type
		added        bool
		foundIn      string // "user" or "system" when already known
	}{
		{name: "a confirmed unknown key is added", policy: TrustPolicy{Confirm: yes}, added: true},
		{name: "a refused unknown key is not added", policy: TrustPolicy{Confirm: no}, wantErr: ErrNotConfirmed},
		{name: "no policy adds nothing", wantErr: ErrNotConfirmed},
		{name: "a matching pinned fingerprint adds without asking", policy: TrustPolicy{Fingerprints: []string{"SHA256:x", fp}, Confirm: no}, added: true},
		{name: "a different pinned fingerprint is refused", policy: TrustPolicy{Fingerprints: []string{"SHA256:x"}, Confirm: yes}, wantErr: &FingerprintMismatchError{}},
		{name: "a key in the user's file is already known", user: known, policy: TrustOnFirstUse(), foundIn: "user"},
		{name: "a key in the system's file is already known", system: known, policy: TrustOnFirstUse(), foundIn: "system"},
		{name: "a known key that is not the pinned one is refused", system: known, policy: TrustPolicy{Fingerprints: []string{"SHA256:x"}}, wantErr: &FingerprintMismatchError{}},
		{name: "a changed key is never replaced", user: changed, policy: TrustOnFirstUse(), wantErr: &HostKeyChangedError{}},
		{name: "a changed key is never replaced, even when pinned", user: changed, policy: TrustPolicy{Fingerprints: []string{fp}}, wantErr: &HostKeyChangedError{}},
		{name: "a changed key in the system's file is never replaced", system: changed, policy: TrustOnFirstUse(), wantErr: &HostKeyChangedError{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			user, system := filepath.Join(dir, "user_known_hosts"), filepath.Join(dir, "ssh_known_hosts")
			for f, content := range map[string]string{user: tc.user, system: tc.system} {
				if content != "" {
					if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			asked := 0
			if c := tc.policy.Confirm; c != nil {
				tc.policy.Confirm = func(r TrustResult) (bool, error) {
					asked++
					if r.Fingerprint != fp || r.Addr != addr || r.File != user {
						t.Errorf("asked about %+v, want %s for %s into %s", r, fp, addr, user)
					}
					return c(r)
				}
			}
			cfg := Config{Name: "n1", Host: "127.0.0.1", Port: port, User: "u", KnownHosts: []string{user, system}, SSHConfigPath: NoSSHConfig}
			res, err := TrustWith(t.Context(), cfg, tc.policy)
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			case *FingerprintMismatchError:
				if !errors.As(err, &want) {
					t.Fatalf("err = %v, want *FingerprintMismatchError", err)
				}
			case *HostKeyChangedError:
				if !errors.As(err, &want) {
					t.Fatalf("err = %v, want *HostKeyChangedError", err)
				}
			case error:
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
			if res.Fingerprint != fp || res.Added != tc.added {
				t.Errorf("result %+v: want fingerprint %s, added %v", res, fp, tc.added)
			}
			if len(tc.policy.Fingerprints) > 0 && asked > 0 {
				t.Error("a pinned fingerprint asked for confirmation")
			}
			if tc.foundIn != "" && res.File != map[string]string{"user": user, "system": system}[tc.foundIn] {
				t.Errorf("found in %s, want the %s file", res.File, tc.foundIn)
			}
			b, _ := os.ReadFile(user)
			if tc.added {
				if !bytes.Equal(b, []byte(known)) {
					t.Errorf("user known_hosts:\n%s\nwant:\n%s", b, known)
				}
			} else if string(b) != tc.user {
				t.Errorf("user known_hosts changed:\n%s", b)
			}
			if s, _ := os.ReadFile(system); string(s) != tc.system {
				t.Errorf("the system's known_hosts changed:\n%s", s)
			}
		})
	}
}

func TestParseFingerprint(t *testing.T) {
	key := edKey(t)
	fp := gossh.FingerprintSHA256(key)
	tests := []struct {
		in, want string
	}{
		{fp, fp},
		{" " + fp + "= ", fp},
		{fp[len("SHA256:"):], ""},
		{"MD5:" + fp[len("SHA256:"):], ""},
		{"SHA256:abc", ""},
		{"SHA256:" + fp[len("SHA256:"):] + "AAAA", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := ParseFingerprint(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
