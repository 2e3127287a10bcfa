package ssh

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseJump(t *testing.T) {
	tests := []struct {
		in      string
		want    Config
		wantErr bool
	}{
		{in: "bastion", want: Config{Host: "bastion"}},
		{in: "ops@bastion", want: Config{Host: "bastion", User: "ops"}},
		{in: "ops@bastion:2222", want: Config{Host: "bastion", User: "ops", Port: 2222}},
		{in: "10.0.0.1:22", want: Config{Host: "10.0.0.1", Port: 22}},
		{in: "[fe80::1]:2200", want: Config{Host: "fe80::1", Port: 2200}},
		{in: "u@[::1]", want: Config{Host: "::1", User: "u"}},
		{in: "", wantErr: true},
		{in: "bastion:0", wantErr: true},
		{in: "bastion:port", wantErr: true},
		{in: "ssh://bastion", wantErr: true},
		{in: "[::1", wantErr: true},
		{in: "u@", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseJump(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseJump(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseJump(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

const testSSHConfig = `
Host gpu1
  HostName 10.1.0.1
  User alice
  Port 2201
  IdentityFile ~/.ssh/gpu_key

Match host weird exec "true"
  User nobody

Host hidden
  HostName 10.2.0.5
  ProxyJump gw1,bob@gw2:2022

Host gw1
  HostName 10.0.0.1
  ProxyJump gw0

Host gw0
  HostName 10.0.0.100
  User gate

Host loop
  ProxyJump loop
`

func TestResolveReadsSSHConfig(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "ssh_config")
	if err := os.WriteFile(path, []byte(testSSHConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(home, "kh")
	base := Config{SSHConfigPath: path, KnownHosts: []string{kh}}

	t.Run("values come from the matching Host block", func(t *testing.T) {
		c := base
		c.Host = "gpu1"
		r, err := c.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if r.Host != "10.1.0.1" || r.User != "alice" || r.Port != 2201 {
			t.Errorf("got host %s user %s port %d", r.Host, r.User, r.Port)
		}
		if len(r.IdentityFiles) != 1 || filepath.Base(r.IdentityFiles[0]) != "gpu_key" || r.IdentityFiles[0][0] == '~' {
			t.Errorf("identity files %v: want the expanded ~/.ssh/gpu_key", r.IdentityFiles)
		}
	})
	t.Run("explicit values win over the config file", func(t *testing.T) {
		c := base
		c.Host, c.User, c.Port, c.IdentityFiles = "gpu1", "root", 22, []string{"/k"}
		r, err := c.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if r.Host != "10.1.0.1" || r.User != "root" || r.Port != 22 || !reflect.DeepEqual(r.IdentityFiles, []string{"/k"}) {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("ProxyJump hops chain, each resolved through the config", func(t *testing.T) {
		c := base
		c.Host = "hidden"
		r, err := c.resolve()
		if err != nil {
			t.Fatal(err)
		}
		var hops []string
		for _, j := range r.Jump {
			hops = append(hops, j.User+"@"+j.addr())
			if !reflect.DeepEqual(j.KnownHosts, []string{kh}) {
				t.Errorf("hop %s checks %v, want the connection's known_hosts", j.Host, j.KnownHosts)
			}
		}
		me := currentUser()
		want := []string{"gate@10.0.0.100:22", me + "@10.0.0.1:22", "bob@gw2:2022"}
		if !reflect.DeepEqual(hops, want) {
			t.Errorf("hops %v, want %v", hops, want)
		}
	})
	t.Run("explicit jumps replace the config's ProxyJump", func(t *testing.T) {
		c := base
		c.Host = "hidden"
		c.Jump = []Config{{Host: "10.9.9.9", User: "x"}}
		r, err := c.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Jump) != 1 || r.Jump[0].addr() != "10.9.9.9:22" {
			t.Errorf("jumps %+v", r.Jump)
		}
	})
	t.Run("a ProxyJump loop is an error, not a hang", func(t *testing.T) {
		c := base
		c.Host = "loop"
		if _, err := c.resolve(); err == nil {
			t.Fatal("want an error")
		}
	})
	t.Run("unknown hosts keep their name and get defaults", func(t *testing.T) {
		c := base
		c.Host = "elsewhere"
		r, err := c.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if r.Host != "elsewhere" || r.Port != 22 || r.MaxSessions != DefaultMaxSessions ||
			r.KeepaliveInterval != DefaultKeepaliveInterval || r.ConnectTimeout != DefaultConnectTimeout {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("no config file at all", func(t *testing.T) {
		c := base
		c.SSHConfigPath = NoSSHConfig
		c.Host = "gpu1"
		r, err := c.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if r.Host != "gpu1" || r.Port != 22 {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("resolving leaves the caller's slices alone", func(t *testing.T) {
		c := base
		c.Host = "gpu1"
		c.IdentityFiles = []string{"~/k"}
		c.KnownHosts = []string{"~/kh"}
		r, err := c.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if c.IdentityFiles[0] != "~/k" || c.KnownHosts[0] != "~/kh" || r.IdentityFiles[0] == "~/k" {
			t.Errorf("caller %v %v, resolved %v", c.IdentityFiles, c.KnownHosts, r.IdentityFiles)
		}
	})
	t.Run("MaxSessions below 2 is refused", func(t *testing.T) {
		c := base
		c.Host, c.MaxSessions = "gpu1", 1
		if _, err := c.resolve(); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestDropMatchBlocks(t *testing.T) {
	in := "Host a\n  User x\nMatch exec \"foo\"\n  User y\n  Port 1\nHost b\n  User z\n"
	want := "Host a\n  User x\nHost b\n  User z\n"
	if got := string(dropMatchBlocks([]byte(in))); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
