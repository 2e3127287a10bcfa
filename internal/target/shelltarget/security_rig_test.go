package shelltarget_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
	"github.com/fleetbench/fleet/internal/testrig"
)

// rigTarget is a shell target on node2 of the rig over SSH, with a work
// directory base of its own; the test's files go with the test.
func rigTarget(t *testing.T) (*testrig.Rig, *shelltarget.Target, string) {
	t.Helper()
	r := testrig.Load(t)
	h := r.Host(t, "node2")
	r.Share(t, h.Name)
	r.Other(t)
	client, err := ssh.New(ssh.Config{
		Name: h.Name, Host: h.Addr, Port: h.Port, User: r.User,
		IdentityFiles: []string{r.Keys.Private}, KnownHosts: []string{r.KnownHosts}, SSHConfigPath: ssh.NoSSHConfig,
	})
	if err != nil {
		t.Fatal(err)
	}
	top := filepath.Join(h.WorkDir, "security-test-"+strconv.Itoa(os.Getpid())+"-"+strings.ReplaceAll(t.Name(), "/", "-"))
	if err := os.MkdirAll(top, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	base := filepath.Join(top, "work")
	tg := shelltarget.New(client, shelltarget.Options{WorkDir: base, Grace: time.Second, Poll: 200 * time.Millisecond})
	t.Cleanup(func() { tg.Close() })
	return r, tg, base
}

// Another user of the node (fleetmallory) plants, where fleet looks, a
// "fleet" binary padded to the real one's size, a link from a job's log to
// a private key, and a work directory of its own: fleet runs none of it,
// fetches none of it, and refuses the directory with a clear message.
func TestAnotherUserOfTheNodeCannotPlantFilesForFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	t.Run("a planted cache binary is replaced, never run", func(t *testing.T) {
		r, tg, base := rigTarget(t)
		local := t.TempDir()
		real := []byte("#!/bin/sh\necho real fleet\n" + strings.Repeat("#", 300) + "\n")
		bin := filepath.Join(local, "fleet")
		os.WriteFile(bin, real, 0o755)
		s := sha256.Sum256(real)
		digest := hex.EncodeToString(s[:])
		marker := filepath.Join(filepath.Dir(base), "planted-ran")
		planted := "#!/bin/sh\ntouch " + marker + "\n"
		planted += strings.Repeat("#", len(real)-len(planted))
		// The cache chain is ours (as after an earlier run); the file in
		// it is the other user's.
		cached := filepath.Join(base, "cache", "bin", digest[:16]+"-fleet")
		os.MkdirAll(filepath.Dir(cached), 0o700)
		r.Plant(t, cached, []byte(planted), 0o755, "")
		spec := &target.Spec{RunID: "sec", JobID: "cache", Attempt: 1,
			Files:   []target.File{{Path: "bin/fleet", Mode: 0o755, Source: bin, Shared: true, Digest: digest}},
			Command: []string{"sh", "-c", "./bin/fleet"}}
		hd, err := tg.Prepare(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if hd, err = tg.Start(ctx, spec, hd); err != nil {
			t.Fatal(err)
		}
		if ex, err := tg.Wait(ctx, hd); err != nil || !ex.OK() {
			t.Fatalf("job: %v %v", ex, err)
		}
		var logs bytes.Buffer
		tg.Logs(ctx, hd, &logs)
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the planted binary ran")
		}
		if !strings.Contains(logs.String(), "real fleet") {
			t.Errorf("job output %q, want the real binary's", logs.String())
		}
		st, err := os.Lstat(cached)
		if err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != os.Getuid() || st.Mode().Perm()&0o022 != 0 {
			t.Errorf("cached copy not re-pushed as ours: %v %v", err, st)
		}
	})

	t.Run("a link from a job's log to a private key is not followed", func(t *testing.T) {
		r, tg, base := rigTarget(t)
		key := filepath.Join(filepath.Dir(base), "id_ed25519")
		os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600)
		spec := &target.Spec{RunID: "sec", JobID: "link", Attempt: 1,
			Command: []string{"sh", "-c", "mkdir -p results logs && chmod 777 logs && echo '{}' > results/r.json && chmod 666 results/r.json"}}
		hd, err := tg.Prepare(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if hd, err = tg.Start(ctx, spec, hd); err != nil {
			t.Fatal(err)
		}
		if ex, err := tg.Wait(ctx, hd); err != nil || !ex.OK() {
			t.Fatalf("job: %v %v", ex, err)
		}
		// What a container sharing the directory would leave behind.
		r.Plant(t, filepath.Join(hd.WorkDir, "logs", "server.log"), nil, 0, key)
		local := t.TempDir()
		got, err := tg.Fetch(ctx, hd, []string{"results/r.json", "logs/server.log"}, local)
		if !errors.Is(err, shelltarget.ErrRefused) || !strings.Contains(err.Error(), "logs/server.log: is a symbolic link") {
			t.Fatalf("fetch: %v; want the link refused", err)
		}
		if len(got) != 1 || got[0] != "results/r.json" {
			t.Errorf("fetched %v", got)
		}
		if _, err := os.Lstat(filepath.Join(local, "logs", "server.log")); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("the key came back as server.log")
		}
		if st, err := os.Stat(filepath.Join(local, "results", "r.json")); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("result mode %v (%v), want 0644 whatever the node says", st.Mode().Perm(), err)
		}
	})

	for _, tc := range []struct {
		name string
		mode os.FileMode
		says string
	}{
		{"a work directory the other user owns is refused", os.ModeDir | 0o700, "is owned by fleetmallory (uid"},
		{"a world-writable work directory the other user owns is refused", os.ModeDir | 0o777, "is owned by fleetmallory (uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, tg, base := rigTarget(t)
			r.Plant(t, base, nil, tc.mode, "")
			marker := filepath.Join(base, "fleet-was-here")
			spec := &target.Spec{RunID: "sec", JobID: "dir", Attempt: 1,
				Secrets: map[string]string{"HF_TOKEN": "hf_must_not_land"},
				Command: []string{"touch", marker}}
			_, err := tg.Prepare(ctx, spec)
			if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "not by you") {
				t.Fatalf("prepare: %v; want a refusal saying %q", err, tc.says)
			}
			filepath.Walk(base, func(p string, info os.FileInfo, err error) error {
				if info != nil && !info.IsDir() {
					t.Errorf("fleet wrote %s into the other user's directory", p)
				}
				return nil
			})
		})
	}
	t.Run("a world-writable work directory of ours is refused", func(t *testing.T) {
		_, tg, base := rigTarget(t)
		os.Mkdir(base, 0o777)
		os.Chmod(base, 0o777)
		_, err := tg.Prepare(ctx, &target.Spec{RunID: "sec", JobID: "ww", Attempt: 1, Command: []string{"true"}})
		if err == nil || !strings.Contains(err.Error(), "writable by its group or others (mode 777)") {
			t.Fatalf("prepare: %v", err)
		}
	})
	t.Run("a link to the other user's directory is refused", func(t *testing.T) {
		r, tg, base := rigTarget(t)
		theirs := filepath.Join(filepath.Dir(base), "theirs")
		r.Plant(t, theirs, nil, os.ModeDir|0o755, "")
		if err := os.Symlink(theirs, base); err != nil {
			t.Fatal(err)
		}
		_, err := tg.Prepare(ctx, &target.Spec{RunID: "sec", JobID: "ln", Attempt: 1, Command: []string{"true"}})
		if err == nil || !strings.Contains(err.Error(), "owned by fleetmallory") {
			t.Fatalf("prepare: %v", err)
		}
	})
}

// A journalled handle whose process group id now names an unrelated
// `setsid sleep` (the id was reused) is neither waited on nor killed.
func TestAStaleProcessGroupOnANodeIsNotKilled(t *testing.T) {
	_, tg, _ := rigTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := &target.Spec{RunID: "sec", JobID: "stale", Attempt: 1, Command: []string{"true"}}
	hd, err := tg.Prepare(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// The rig's hosts share this machine's kernel: a process started
	// here is one on the node.
	sleep := exec.Command("sleep", "300")
	sleep.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	hd.Ref = strconv.Itoa(sleep.Process.Pid)
	hd.Start, hd.Boot = "1", strings.TrimSpace(string(boot)) // the job's leader started at tick 1
	ex, err := tg.Wait(ctx, hd)
	if err != nil || ex.State != "LOST" {
		t.Errorf("wait: %v %v; want LOST at once", ex, err)
	}
	if err := tg.Cancel(ctx, hd); err != nil {
		t.Errorf("cancel: %v", err)
	}
	old := hd
	old.Start, old.Boot = "", "" // as an older fleet journalled it
	if err := tg.Cancel(ctx, old); !errors.Is(err, shelltarget.ErrUnverified) {
		t.Errorf("cancel of an unverifiable handle: %v; want ErrUnverified", err)
	}
	if st, err := os.ReadFile("/proc/" + hd.Ref + "/stat"); err != nil || strings.Contains(string(st), ") Z") {
		t.Fatal("the unrelated sleep was killed")
	}
}
