package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// Fetch brings back regular files only, never through a link a job (or a
// container sharing its directory) planted, each under the cap, with
// modes of its own.
func TestFetchCopiesOnlyRegularFilesWithFixedModes(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(secret, []byte("PRIVATE KEY"), 0o600)
	tg := shelltarget.New(local.New("local"), shelltarget.Options{WorkDir: t.TempDir(), Poll: 50 * time.Millisecond, MaxFetch: 1000})
	s := spec("fetch", map[string]string{"SECRET": secret}, "sh", "-c", `
mkdir -p results logs other
echo '{"ok":1}' > results/r.json; chmod 666 results/r.json
ln -s "$SECRET" logs/server.log
echo key > other/k; ln -s other linked
ln -s "${SECRET%/*}" up
head -c 5000 /dev/zero > logs/big.log
mkfifo logs/fifo`)
	h, ex := run(t, tg, s)
	if !ex.OK() {
		t.Fatalf("job: %v", ex)
	}
	local := t.TempDir()
	got, err := tg.Fetch(context.Background(), h, []string{"results/r.json", "logs/server.log", "linked/k", "up/id_ed25519", "logs/big.log", "logs/fifo", "logs/missing"}, local)
	if len(got) != 1 || got[0] != "results/r.json" {
		t.Errorf("fetched %v, want only results/r.json", got)
	}
	if !errors.Is(err, shelltarget.ErrRefused) {
		t.Fatalf("err = %v, want refusals", err)
	}
	for _, says := range []string{"logs/server.log: is a symbolic link", "/linked: is a symbolic link", "/up: is a symbolic link", "logs/big.log: is 4.9 KiB, over the 1000 bytes cap", "logs/fifo: is a named pipe"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("error does not say %q:\n%v", says, err)
		}
	}
	filepath.Walk(local, func(p string, info os.FileInfo, err error) error {
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("PRIVATE")) || bytes.Contains(b, []byte("key")) {
			t.Errorf("%s holds what a link pointed at", p)
		}
		return nil
	})
	st, err := os.Stat(filepath.Join(local, "results", "r.json"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("result: %v mode %v, want 0644 whatever the job set", err, st.Mode().Perm())
	}
}

func TestFetchModes(t *testing.T) {
	for p, want := range map[string]os.FileMode{"results/r.json": 0o644, "logs/server.log": 0o644, "job.log": 0o644, ".fleet/env.sh": 0o600, ".fleet": 0o600} {
		if got := shelltarget.FetchMode(p); got != want {
			t.Errorf("FetchMode(%s) = %v, want %v", p, got, want)
		}
	}
	// A private file on the machine stays private here.
	tg := newTarget(t)
	h, _ := run(t, tg, spec("modes", nil, "sh", "-c", "umask 077; echo x > .fleet/private"))
	local := t.TempDir()
	if _, err := tg.Fetch(context.Background(), h, []string{".fleet/private"}, local); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(local, ".fleet", "private")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%v mode %v, want 0600", err, st.Mode().Perm())
	}
}

func TestFetchStopsWhenItsContextEnds(t *testing.T) {
	tg := newTarget(t)
	h, _ := run(t, tg, spec("ctx", nil, "sh", "-c", "mkdir results; echo 1 > results/a"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := tg.Fetch(ctx, h, []string{"results/a"}, t.TempDir())
	if !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Fatalf("fetched %v, err %v; want nothing and context.Canceled", got, err)
	}
	// A copy stops too.
	err = local.New("l").Get(ctx, filepath.Join(h.WorkDir, "results/a"), filepath.Join(t.TempDir(), "a"), shelltarget.GetOptions{Root: h.WorkDir})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("get with an ended context: %v", err)
	}
}

// failingStart is this machine, except that starting a job fails.
type failingStart struct{ *local.Host }

func (h failingStart) Exec(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if strings.Contains(cmd, "setsid -f") {
		io.WriteString(stderr, "no start today")
		return 99, nil
	}
	return h.Host.Exec(ctx, cmd, stdin, stdout, stderr)
}

// The secrets file is 0600, and goes when the start fails.
func TestSecretsFileIsPrivateAndGoesWhenStartFails(t *testing.T) {
	tg := shelltarget.New(failingStart{local.New("local")}, shelltarget.Options{WorkDir: t.TempDir()})
	s := spec("sec", nil, "true")
	s.Secrets = map[string]string{"HF_TOKEN": "hf_x"}
	ctx := context.Background()
	h, err := tg.Prepare(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(h.WorkDir, ".fleet", "secrets.env")
	st, err := os.Stat(f)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v mode %v", err, st.Mode())
	}
	if _, err := tg.Start(ctx, s, h); err == nil || !strings.Contains(err.Error(), "no start today") {
		t.Fatalf("start: %v", err)
	}
	if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secrets file left after a failed start: %v", err)
	}
}
