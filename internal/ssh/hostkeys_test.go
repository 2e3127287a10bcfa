package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func edKey(t *testing.T) gossh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t *testing.T) gossh.PublicKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gossh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHostKeyVerdicts(t *testing.T) {
	dir := t.TempDir()
	known, other, rsaK := edKey(t), edKey(t), rsaKey(t)
	kh := filepath.Join(dir, "known_hosts")
	lines := knownhosts.Line([]string{"10.0.0.1"}, known) + "\n" +
		knownhosts.Line([]string{"[10.0.0.2]:2222"}, known) + "\n" +
		knownhosts.Line([]string{"rsa-only"}, rsaK) + "\n"
	if err := os.WriteFile(kh, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	hk, err := loadHostKeys(&Config{Name: "n1", KnownHosts: []string{kh, filepath.Join(dir, "missing")}})
	if err != nil {
		t.Fatal(err)
	}
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 22}

	tests := []struct {
		name string
		addr string
		key  gossh.PublicKey
		want any // nil, or a pointer to the error type
	}{
		{"the known key passes", "10.0.0.1:22", known, nil},
		{"the known key on a non-standard port passes", "10.0.0.2:2222", known, nil},
		{"another port of a known host is unknown", "10.0.0.2:22", known, &UnknownHostError{}},
		{"an unknown host is refused as unknown", "10.0.0.9:22", known, &UnknownHostError{}},
		{"a different key is refused as changed", "10.0.0.1:22", other, &HostKeyChangedError{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := hk.check(tc.addr, remote, tc.key)
			switch want := tc.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("check = %v, want nil", err)
				}
			case *UnknownHostError:
				if !errors.As(err, &want) {
					t.Fatalf("check = %v, want *UnknownHostError", err)
				}
				msg := err.Error()
				for _, s := range []string{gossh.FingerprintSHA256(tc.key), "fleet nodes trust n1"} {
					if !strings.Contains(msg, s) {
						t.Errorf("message %q lacks %q", msg, s)
					}
				}
			case *HostKeyChangedError:
				if !errors.As(err, &want) {
					t.Fatalf("check = %v, want *HostKeyChangedError", err)
				}
				if len(want.Known) != 1 || want.Known[0].Line != 1 {
					t.Errorf("known keys %+v, want line 1", want.Known)
				}
				if !strings.Contains(err.Error(), "CHANGED") {
					t.Errorf("message %q does not shout", err)
				}
			}
		})
	}
}

func TestHostKeyAlgorithmsFollowKnownKeys(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	lines := knownhosts.Line([]string{"rsa-only"}, rsaKey(t)) + "\n" +
		knownhosts.Line([]string{"both"}, rsaKey(t)) + "\n" +
		knownhosts.Line([]string{"both"}, edKey(t)) + "\n"
	if err := os.WriteFile(kh, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	hk, err := loadHostKeys(&Config{Name: "x", KnownHosts: []string{kh}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want []string
	}{
		{"rsa-only:22", []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA}},
		{"both:22", []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA, gossh.KeyAlgoED25519}},
		{"unknown:22", nil},
	}
	for _, tc := range tests {
		if got := hk.algorithms(tc.addr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("algorithms(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestAppendKnownHostAddsANewlineWhenMissing(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
	if err := os.MkdirAll(filepath.Dir(kh), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kh, []byte("a ssh-ed25519 AAAA"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := appendKnownHost(kh, "b ssh-ed25519 BBBB"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(kh)
	if string(got) != "a ssh-ed25519 AAAA\nb ssh-ed25519 BBBB\n" {
		t.Errorf("got %q", got)
	}
	fresh := filepath.Join(t.TempDir(), "new", "known_hosts")
	if err := appendKnownHost(fresh, "c x y"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(fresh)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new known_hosts: %v, mode %v", err, st.Mode())
	}
}
