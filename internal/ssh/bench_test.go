package ssh_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
	"github.com/fleetbench/fleet/internal/testrig"
)

// Benchmarks against the rig, comparing fleet's SSH client with the
// OpenSSH client doing the same steps (no connection sharing:
// ControlMaster=no). Run:
//
//	go test ./internal/ssh -run '^$' -bench . -benchtime 5x

// jobFiles makes the 1 MB and 20 MB files a job pushes.
func jobFiles(b *testing.B) (small, large string) {
	dir := b.TempDir()
	small, large = filepath.Join(dir, "small.bin"), filepath.Join(dir, "large.bin")
	randomFile(b, small, 1<<20)
	randomFile(b, large, 20<<20)
	return small, large
}

// fleetJob runs one job's orchestration steps on c: work dir, two files,
// the command, the result back.
func fleetJob(ctx context.Context, c *ssh.Client, small, large, dir, local string) error {
	if err := c.MkdirAll(ctx, dir); err != nil {
		return err
	}
	if err := c.Put(ctx, target.File{Source: small, Mode: 0o644}, dir+"/small.bin"); err != nil {
		return err
	}
	if err := c.Put(ctx, target.File{Source: large, Mode: 0o644}, dir+"/large.bin"); err != nil {
		return err
	}
	code, err := c.Exec(ctx, "cd "+shellquote.Quote(dir)+" && wc -c small.bin large.bin > result.txt", nil, nil, nil)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit %d", code)
	}
	return c.Get(ctx, dir+"/result.txt", filepath.Join(local, "result.txt"), shelltarget.GetOptions{})
}

func BenchmarkJobOverhead(b *testing.B) {
	r := testrig.Load(b)
	h := r.Host(b, "node2")
	r.Share(b, h.Name)
	small, large := jobFiles(b)
	base := filepath.Join(h.WorkDir, fmt.Sprintf("bench-%d", os.Getpid()))
	b.Cleanup(func() { os.RemoveAll(base) })
	local := b.TempDir()
	ctx := context.Background()

	b.Run("fleet-new-connection", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c, err := ssh.New(rigConfig(r, h))
			if err != nil {
				b.Fatal(err)
			}
			if err := fleetJob(ctx, c, small, large, fmt.Sprintf("%s/fleet-new-%d", base, i), local); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("fleet-reused-connection", func(b *testing.B) {
		c, err := ssh.New(rigConfig(r, h))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for i := 0; b.Loop(); i++ {
			if err := fleetJob(ctx, c, small, large, fmt.Sprintf("%s/fleet-reused-%d", base, i), local); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("openssh", func(b *testing.B) {
		opts := []string{"-F", r.SSHConfig, "-o", "ControlMaster=no", "-o", "ControlPath=none"}
		sshRun := func(args ...string) {
			cmd := exec.Command("ssh", append(append(append([]string{}, opts...), h.Name), args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("ssh %v: %v: %s", args, err, out)
			}
		}
		scp := func(args ...string) {
			cmd := exec.Command("scp", append(append([]string{"-q"}, opts...), args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("scp %v: %v: %s", args, err, out)
			}
		}
		for i := 0; b.Loop(); i++ {
			dir := fmt.Sprintf("%s/openssh-%d", base, i)
			sshRun("mkdir", "-p", dir)
			scp(small, h.Name+":"+dir+"/small.bin")
			scp(large, h.Name+":"+dir+"/large.bin")
			sshRun("cd " + dir + " && wc -c small.bin large.bin > result.txt")
			scp(h.Name+":"+dir+"/result.txt", filepath.Join(local, "result.txt"))
		}
	})
}

func BenchmarkPush100MB(b *testing.B) {
	r := testrig.Load(b)
	h := r.Host(b, "node2")
	r.Share(b, h.Name)
	src := filepath.Join(b.TempDir(), "push.bin")
	const size = 100 << 20
	randomFile(b, src, size)
	base := filepath.Join(h.WorkDir, fmt.Sprintf("bench-push-%d", os.Getpid()))
	if err := os.MkdirAll(base, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(base) })
	report := func(b *testing.B, elapsed time.Duration) {
		b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds()/1e6, "MB/s")
	}

	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		file target.File
	}{
		// The transfer alone.
		{"fleet-sftp", target.File{Data: data}},
		// As jobs push large files: local sha256 and a remote sha256sum
		// first (the copy is skipped when they match; here they never do).
		{"fleet-sftp-checksummed", target.File{Source: src}},
	} {
		b.Run(v.name, func(b *testing.B) {
			c, err := ssh.New(rigConfig(r, h))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			// Connect outside the timing: this measures the transfer.
			if err := c.MkdirAll(context.Background(), base); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				dst := fmt.Sprintf("%s/%s-%d.bin", base, v.name, i)
				copied, err := c.PutFile(context.Background(), v.file, dst)
				if err != nil || !copied {
					b.Fatalf("copied %v err %v", copied, err)
				}
				os.Remove(dst) // the rig's disk is this machine's

			}
			report(b, time.Since(start))
		})
	}
	b.Run("openssh-scp", func(b *testing.B) {
		start := time.Now()
		for i := 0; b.Loop(); i++ {
			cmd := exec.Command("scp", "-q", "-F", r.SSHConfig, "-o", "ControlMaster=no", src, fmt.Sprintf("%s:%s/scp-%d.bin", h.Name, base, i))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				b.Fatalf("scp: %v: %s", err, out.String())
			}
			os.Remove(fmt.Sprintf("%s/scp-%d.bin", base, i))
		}
		report(b, time.Since(start))
	})
}
