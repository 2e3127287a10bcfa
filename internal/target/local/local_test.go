package local_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

func newTarget(t *testing.T) *shelltarget.Target {
	t.Helper()
	return shelltarget.New(local.New("local"), shelltarget.Options{
		WorkDir: t.TempDir(), Grace: time.Second, Poll: 50 * time.Millisecond,
	})
}

func spec(id string, env map[string]string, cmd ...string) *target.Spec {
	return &target.Spec{RunID: "run1", JobID: id, Attempt: 1, Env: env, Command: cmd}
}

func run(t *testing.T, tg *shelltarget.Target, s *target.Spec) (target.Handle, target.Exit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := tg.Prepare(ctx, s)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	h, err = tg.Start(ctx, s, h)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	ex, err := tg.Wait(ctx, h)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return h, ex
}

func TestJobExitStatusIsReported(t *testing.T) {
	tg := newTarget(t)
	for _, tc := range []struct {
		name string
		cmd  string
		want target.Exit
	}{
		{"success", "exit 0", target.Exit{Code: 0}},
		{"failure code", "exit 3", target.Exit{Code: 3}},
		{"killed by a signal", "kill -KILL $$", target.Exit{Code: 137, Signal: "SIGKILL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ex := run(t, tg, spec(strings.ReplaceAll(tc.name, " ", "-"), nil, "sh", "-c", tc.cmd))
			if ex != tc.want {
				t.Fatalf("exit = %+v, want %+v", ex, tc.want)
			}
		})
	}
}

func TestValuesArriveLiterallyAndSecretsStayOutOfArgv(t *testing.T) {
	tg := newTarget(t)
	nasty := "a 'quoted' \"double\" $(touch /tmp/pwned) `id` $HOME\nsecond line \\ end"
	s := spec("env", map[string]string{"NASTY": nasty},
		"sh", "-c", `printf '%s' "$NASTY" > nasty.out; printf '%s' "$HF_TOKEN" > token.out; cat /proc/$$/cmdline > argv.out`)
	s.Secrets = map[string]string{"HF_TOKEN": "hf_secret_value_123"}
	h, ex := run(t, tg, s)
	if !ex.OK() {
		t.Fatalf("job failed: %v", ex)
	}
	dir := t.TempDir()
	got, err := tg.Fetch(context.Background(), h, []string{"nasty.out", "token.out", "argv.out", "missing.out"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("fetched %v, want the three existing files", got)
	}
	read := func(n string) string { b, _ := os.ReadFile(filepath.Join(dir, n)); return string(b) }
	if v := read("nasty.out"); v != nasty {
		t.Errorf("value arrived as %q, want %q", v, nasty)
	}
	if v := read("token.out"); v != "hf_secret_value_123" {
		t.Errorf("secret arrived as %q", v)
	}
	if strings.Contains(read("argv.out"), "hf_secret") {
		t.Errorf("secret found in argv: %q", read("argv.out"))
	}
	if _, err := os.Stat(filepath.Join(h.WorkDir, ".fleet", "secrets.env")); !os.IsNotExist(err) {
		t.Errorf("secrets file left behind in the work dir (err=%v)", err)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Errorf("a value was executed by a shell")
	}
}

func TestCancelKillsTheWholeProcessTree(t *testing.T) {
	tg := newTarget(t)
	ctx := context.Background()
	// A job whose child ignores TERM, with a background sleep, and a child
	// that moved to a process group of its own (GNU timeout does that).
	s := spec("tree", nil, "sh", "-c", `(trap '' TERM; sleep 300) & sleep 300 & timeout 300 sleep 301 & echo started; wait`)
	h, err := tg.Prepare(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = tg.Start(ctx, s, h); err != nil {
		t.Fatal(err)
	}
	pgid, _ := strconv.Atoi(h.Ref)
	deadline := time.Now().Add(5 * time.Second)
	for countGroup(t, pgid) < 5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := countGroup(t, pgid); n < 5 {
		t.Fatalf("expected the job's processes to be running, found %d", n)
	}
	if err := tg.Cancel(ctx, h); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if n := countGroup(t, pgid); n != 0 {
		t.Fatalf("%d processes of the job's group still alive after cancel", n)
	}
	ex, err := tg.Wait(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if ex.OK() {
		t.Fatalf("cancelled job reported success: %+v", ex)
	}
}

func TestLogsFollowUntilTheJobEnds(t *testing.T) {
	tg := newTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := spec("logs", nil, "sh", "-c", `for i in 1 2 3; do echo line $i; sleep 0.2; done`)
	h, err := tg.Prepare(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = tg.Start(ctx, s, h); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tg.Logs(ctx, h, &buf); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "line 1\nline 2\nline 3\n" {
		t.Fatalf("logs = %q", got)
	}
}

func TestPlatformMatchesThisMachine(t *testing.T) {
	p, err := newTarget(t).Platform(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("go", "env", "GOOS", "GOARCH").Output()
	if want := strings.Fields(string(out)); len(want) == 2 && (p.OS != want[0] || p.Arch != want[1]) {
		t.Fatalf("platform %v, want %v", p, want)
	}
}

// countGroup counts live (non-zombie) processes in the job's session,
// whose id is the job's process group id.
func countGroup(t *testing.T, pgid int) int {
	t.Helper()
	out, err := exec.Command("ps", "-e", "-o", "sid=,stat=").Output()
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == strconv.Itoa(pgid) && !strings.HasPrefix(f[1], "Z") {
			n++
		}
	}
	return n
}
