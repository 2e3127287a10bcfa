package local_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// nobody is a uid other than ours, for files "another user" planted; the
// tests that need it run as root.
const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("chown to another user needs root")
	}
}

// stranger starts `setsid sleep` outside fleet: a process group that a
// journalled handle may name by accident (a reused id).
func stranger(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

func procStart(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Skip("no /proc: ", err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndex(s, ")")+2:])[19]
}

func bootID(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skip("no boot id: ", err)
	}
	return strings.TrimSpace(string(b))
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(b), ") Z")
}

// A handle whose process group id now names another process (a reused
// id, a reboot) is neither waited on nor killed; one from an older
// journal, without identity, is reported and not killed; only a full
// match is the job.
func TestAReusedProcessGroupIdIsNeitherWaitedOnNorKilled(t *testing.T) {
	tg := newTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := spec("stale", nil, "true")
	h, err := tg.Prepare(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	pid := stranger(t)
	start, boot := procStart(t, pid), bootID(t)
	for _, tc := range []struct {
		name        string
		start, boot string
		wantLost    bool
		unverified  bool
	}{
		{"another start time (the id was reused)", start + "1", boot, true, false},
		{"another boot", start, "00000000-dead-beef-0000-000000000000", true, false},
		{"no identity (an older journal)", "", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hd := h
			hd.Ref, hd.Start, hd.Boot = strconv.Itoa(pid), tc.start, tc.boot
			ex, err := tg.Wait(ctx, hd)
			switch {
			case tc.unverified && !errors.Is(err, shelltarget.ErrUnverified):
				t.Errorf("wait: %v, %v; want ErrUnverified", ex, err)
			case tc.wantLost && (err != nil || ex.State != "LOST"):
				t.Errorf("wait: %v, %v; want LOST at once", ex, err)
			}
			err = tg.Cancel(ctx, hd)
			if tc.unverified != errors.Is(err, shelltarget.ErrUnverified) || (!tc.unverified && err != nil) {
				t.Errorf("cancel: %v", err)
			}
			if !alive(pid) {
				t.Fatal("the unrelated process group was killed")
			}
		})
	}
	t.Run("an exit file wins over a live-looking group", func(t *testing.T) {
		hd := h
		hd.Ref, hd.Start, hd.Boot = strconv.Itoa(pid), start, boot
		if err := os.WriteFile(filepath.Join(h.WorkDir, ".fleet", "exit"), []byte("7\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(h.WorkDir, ".fleet", "exit"))
		ex, err := tg.Wait(ctx, hd)
		if err != nil || ex.Code != 7 {
			t.Fatalf("wait: %v, %v; want exit 7 from the file", ex, err)
		}
	})
	t.Run("a full match is the job, and cancel kills it", func(t *testing.T) {
		hd := h
		hd.Ref, hd.Start, hd.Boot = strconv.Itoa(pid), start, boot
		if err := tg.Cancel(ctx, hd); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Fatal("a verified group survived cancel")
		}
	})
}

func TestProcessGroupIdsBelowTwoAreRejected(t *testing.T) {
	tg := newTarget(t)
	ctx := context.Background()
	for _, ref := range []string{"0", "1", "-1", "x"} {
		h := target.Handle{JobID: "j", WorkDir: t.TempDir(), Ref: ref, Start: "1", Boot: "b"}
		if _, err := tg.Wait(ctx, h); err == nil {
			t.Errorf("wait accepted pgid %q", ref)
		}
		if err := tg.Cancel(ctx, h); err == nil {
			t.Errorf("cancel accepted pgid %q", ref)
		}
	}
}

func TestAStartedJobRecordsItsIdentity(t *testing.T) {
	tg := newTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := spec("ident", nil, "sleep", "30")
	h, err := tg.Prepare(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = tg.Start(ctx, s, h); err != nil {
		t.Fatal(err)
	}
	defer tg.Cancel(ctx, h)
	pid, _ := strconv.Atoi(h.Ref)
	if h.Start != procStart(t, pid) || h.Boot != bootID(t) {
		t.Fatalf("handle %+v: want start %s boot %s", h, procStart(t, pid), bootID(t))
	}
}

// Cleanup removes only directories inside the node's workdir, whatever a
// journal names.
func TestCleanupRemovesOnlyWorkDirsInsideTheWorkdir(t *testing.T) {
	base := t.TempDir()
	tg := shelltarget.New(local.New("local"), shelltarget.Options{WorkDir: base})
	outside := t.TempDir()
	for _, dir := range []string{outside, base, base + "/../" + filepath.Base(outside), "relative/dir"} {
		if err := tg.Cleanup(context.Background(), target.Handle{WorkDir: dir}); err == nil || !strings.Contains(err.Error(), "not inside") {
			t.Errorf("cleanup of %s: %v, want a refusal", dir, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatal("a directory outside the workdir was removed")
	}
	inside := filepath.Join(base, "r", "j", "1")
	os.MkdirAll(inside, 0o700)
	if err := tg.Cleanup(context.Background(), target.Handle{WorkDir: inside}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(inside); !os.IsNotExist(err) {
		t.Error("the work dir inside was not removed")
	}
}

// Every directory fleet makes is 0700; one that exists and that another
// user owns or may write is refused with a message that says so.
func TestWorkDirectoriesArePrivate(t *testing.T) {
	ctx := context.Background()
	prepare := func(t *testing.T, base string) (target.Handle, error) {
		tg := shelltarget.New(local.New("local"), shelltarget.Options{WorkDir: base})
		s := spec("j", nil, "true")
		s.Files = []target.File{{Path: "bin/tool", Data: []byte("x"), Shared: true, Digest: strings.Repeat("ab", 32)}}
		return tg.Prepare(ctx, s)
	}
	t.Run("made 0700 along the chain", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "new", "work")
		h, err := prepare(t, base)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{base, base + "/run1", base + "/run1/j", h.WorkDir, h.WorkDir + "/.fleet", base + "/cache", base + "/cache/bin"} {
			st, err := os.Stat(d)
			if err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v mode %v, want 0700", d, err, st.Mode().Perm())
			}
		}
	})
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, base string)
		says  string
	}{
		{"a world-writable workdir", func(t *testing.T, base string) { os.Mkdir(base, 0o777); os.Chmod(base, 0o777) }, "writable by its group or others (mode 777)"},
		{"a group-writable run dir", func(t *testing.T, base string) {
			os.MkdirAll(base+"/run1", 0o700)
			os.Chmod(base+"/run1", 0o770)
		}, "run/job directory " + "BASE/run1 on this machine is writable"},
		{"a workdir owned by another user", func(t *testing.T, base string) {
			needRoot(t)
			os.Mkdir(base, 0o700)
			os.Chown(base, nobody, nobody)
		}, "owned by"},
		{"a cache dir owned by another user", func(t *testing.T, base string) {
			needRoot(t)
			os.MkdirAll(base+"/cache", 0o700)
			os.Chown(base+"/cache", nobody, nobody)
		}, "cache directory BASE/cache on this machine is owned by"},
		{"a link to a world-writable directory", func(t *testing.T, base string) {
			d := t.TempDir()
			os.Chmod(d, 0o777)
			os.Symlink(d, base)
		}, "writable by its group or others"},
		{"a link owned by another user", func(t *testing.T, base string) {
			needRoot(t)
			os.Symlink(t.TempDir(), base)
			os.Lchown(base, nobody, nobody)
		}, "is a symbolic link owned by uid 65534"},
		{"a file where the workdir should be", func(t *testing.T, base string) { os.WriteFile(base, nil, 0o600) }, "is not a directory"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "work")
			tc.plant(t, base)
			_, err := prepare(t, base)
			want := strings.ReplaceAll(tc.says, "BASE", base)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("prepare: %v; want a refusal saying %q", err, want)
			}
		})
	}
	t.Run("a link to a private directory of ours is used", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "work")
		os.Symlink(t.TempDir(), base)
		if _, err := prepare(t, base); err != nil {
			t.Fatal(err)
		}
	})
}

func sum(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// A cached shared file is reused only when it is a regular file of ours
// that nobody else may write and that holds the right contents: a script
// planted at its name, padded to the binary's size, never runs.
func TestCachedFilesAreReusedOnlyWhenTrusted(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fleet")
	real := "#!/bin/sh\necho real\n" + strings.Repeat("#", 200) + "\n"
	os.WriteFile(bin, []byte(real), 0o755)
	digest := sum(t, bin)
	f := target.File{Path: "bin/fleet", Mode: 0o755, Source: bin, Shared: true, Digest: digest}
	h := local.New("local")
	marker := filepath.Join(dir, "planted-ran")
	planted := "#!/bin/sh\ntouch " + marker + "\n"
	planted += strings.Repeat("#", len(real)-len(planted)) // same size as the real one
	for _, tc := range []struct {
		name   string
		plant  func(t *testing.T, dst string)
		reused bool
	}{
		{"a script of the same size", func(t *testing.T, dst string) { os.WriteFile(dst, []byte(planted), 0o755) }, false},
		{"the right contents, world-writable", func(t *testing.T, dst string) {
			os.WriteFile(dst, []byte(real), 0o777)
			os.Chmod(dst, 0o777)
		}, false},
		{"the right contents, another user's", func(t *testing.T, dst string) {
			needRoot(t)
			os.WriteFile(dst, []byte(real), 0o755)
			os.Chown(dst, nobody, nobody)
		}, false},
		{"a link to the right contents", func(t *testing.T, dst string) {
			o := filepath.Join(t.TempDir(), "other")
			os.WriteFile(o, []byte(real), 0o755)
			os.Symlink(o, dst)
		}, false},
		{"the right contents, ours", func(t *testing.T, dst string) { os.WriteFile(dst, []byte(real), 0o755) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "cache", "bin", digest[:16]+"-fleet")
			os.MkdirAll(filepath.Dir(dst), 0o700)
			tc.plant(t, dst)
			before, _ := os.Lstat(dst)
			if err := h.Put(context.Background(), f, dst); err != nil {
				t.Fatal(err)
			}
			after, err := os.Lstat(dst)
			if err != nil || !after.Mode().IsRegular() {
				t.Fatalf("after put: %v %v", err, after.Mode())
			}
			if os.SameFile(before, after) != tc.reused {
				t.Errorf("reused = %v, want %v", os.SameFile(before, after), tc.reused)
			}
			if sum(t, dst) != digest || after.Mode().Perm() != 0o755 {
				t.Errorf("cached copy: sha %s mode %v", sum(t, dst), after.Mode().Perm())
			}
			out, _ := exec.Command(dst).Output()
			if string(out) != "real\n" {
				t.Errorf("cached file prints %q", out)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the planted script ran")
			}
		})
	}
}

// A cached file found whole is not hashed again for the next job, but one
// changed since in place (same size, even the same mtime) is: its
// contents are checked again and replaced.
func TestACachedFileChangedAfterItWasVerifiedIsReplaced(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fleet")
	real := "#!/bin/sh\necho real\n" + strings.Repeat("#", 200) + "\n"
	os.WriteFile(bin, []byte(real), 0o755)
	digest := sum(t, bin)
	f := target.File{Path: "bin/fleet", Mode: 0o755, Source: bin, Shared: true, Digest: digest}
	h := local.New("local")
	dst := filepath.Join(dir, "cache", "bin", digest[:16]+"-fleet")
	for i := 0; i < 2; i++ { // the first put copies, the second finds it whole
		if err := h.Put(context.Background(), f, dst); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := os.Stat(dst)
	planted := "#!/bin/sh\necho fake\n"
	planted += strings.Repeat("#", len(real)-len(planted))
	if err := os.WriteFile(dst, []byte(planted), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(dst, st.ModTime(), st.ModTime())
	if err := h.Put(context.Background(), f, dst); err != nil {
		t.Fatal(err)
	}
	if sum(t, dst) != digest {
		t.Fatal("the cached copy changed after it was verified was kept")
	}
}
