package shelltarget_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

func leaseTarget(t *testing.T) (*shelltarget.Target, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	return shelltarget.New(local.New("n1"), shelltarget.Options{WorkDir: dir, Grace: time.Second, Poll: 50 * time.Millisecond}), dir
}

func holder(run, job, token string, devices ...int) *shelltarget.Lease {
	return &shelltarget.Lease{Token: token, Host: "laptop", User: "alice", PID: 4242, Run: run, Job: job, Devices: devices}
}

func TestLeaseExcludesOverlapsAndAllowsDisjointDevices(t *testing.T) {
	tg, _ := leaseTarget(t)
	ctx := context.Background()
	a := holder("runA", "j1", "tokA", 0, 1, 2, 3)
	if _, err := tg.AcquireLease(ctx, a, time.Minute); err != nil {
		t.Fatalf("first lease: %v", err)
	}
	for _, tc := range []struct {
		name    string
		devices []int
		busy    bool
	}{
		{"disjoint devices", []int{4, 5, 6, 7}, false},
		{"one shared device", []int{3, 8}, true},
		{"whole node", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := holder("runB", "j-"+strings.ReplaceAll(tc.name, " ", "-"), "tok"+fmt.Sprint(len(tc.devices)), tc.devices...)
			_, err := tg.AcquireLease(ctx, b, time.Minute)
			var busy *shelltarget.BusyError
			if got := errors.As(err, &busy); got != tc.busy {
				t.Fatalf("busy = %v (err %v), want %v", got, err, tc.busy)
			}
			if tc.busy {
				if busy.Queued {
					// The earlier refused case waits for its turn, and
					// comes first.
					if busy.Holder.Run != "runB" || !strings.HasPrefix(busy.Holder.Job, "j-") {
						t.Errorf("queued behind %+v, want the earlier waiter of runB", busy.Holder)
					}
					return
				}
				if busy.Holder.Run != "runA" || busy.Holder.User != "alice" || busy.Holder.Expires.IsZero() {
					t.Errorf("busy error names %+v, want runA's lease with its expiry", busy.Holder)
				}
				return
			}
			if kept, err := tg.ReleaseLease(ctx, b); err != nil || kept {
				t.Fatalf("release: kept %v, %v", kept, err)
			}
		})
	}
	if kept, err := tg.ReleaseLease(ctx, a); err != nil || kept {
		t.Fatalf("release: kept %v, %v", kept, err)
	}
	// The refused attempts above wait in the node's queue; one that asked
	// before them all gets the node.
	first := holder("runB", "j9", "tokB")
	first.Ticket = 1
	if _, err := tg.AcquireLease(ctx, first, time.Minute); err != nil {
		t.Fatalf("after release, the whole node: %v", err)
	}
}

// Several controllers asking at once: exactly one gets the node.
func TestLeaseConcurrentAcquisitionHasOneWinner(t *testing.T) {
	tg, _ := leaseTarget(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = tg.AcquireLease(context.Background(), holder(fmt.Sprintf("run%d", i), "j", fmt.Sprintf("tok%d", i)), time.Minute)
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		var busy *shelltarget.BusyError
		switch {
		case err == nil:
			won++
		case !errors.As(err, &busy):
			t.Errorf("controller %d: %v, want a win or busy", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d controllers got the node, want exactly 1 (%v)", won, errs)
	}
	leases, _, err := tg.Leases(context.Background())
	if err != nil || len(leases) != 1 {
		t.Fatalf("leases on the node: %v, %v; want one", leases, err)
	}
}

func writeLease(t *testing.T, dir, name, body string) string {
	t.Helper()
	d := filepath.Join(dir, shelltarget.LeaseDirName)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(d, name+".lease")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// startJob runs cmd as a job on tg and returns its handle.
func startJob(t *testing.T, tg *shelltarget.Target, id string, cmd ...string) target.Handle {
	t.Helper()
	ctx := context.Background()
	s := &target.Spec{RunID: "jobs", JobID: id, Attempt: 1, Command: cmd}
	h, err := tg.Prepare(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = tg.Start(ctx, s, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Cancel(context.Background(), h) })
	return h
}

// An expired lease is taken over only once its job has ended; one whose
// job never started (no process group) goes at once.
func TestStaleLeaseIsTakenOverOnlyWhenItsJobIsGone(t *testing.T) {
	tg, dir := leaseTarget(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour).Unix()
	writeLease(t, dir, "node", fmt.Sprintf("token=old1\nhost=dead\nuser=bob\npid=1\nrun=old\njob=j\ndevices=all\nsince=%d\nexpires=%d\n", past, past))
	taken, err := tg.AcquireLease(ctx, holder("new", "j", "tokN"), time.Minute)
	if err != nil {
		t.Fatalf("stale lease not taken over: %v", err)
	}
	if len(taken) != 1 || taken[0].Run != "old" || taken[0].User != "bob" {
		t.Fatalf("taken over %+v, want the old run's lease", taken)
	}
	if _, err := tg.ReleaseLease(ctx, holder("new", "j", "tokN")); err != nil {
		t.Fatal(err)
	}

	// Expired, but its job still runs: the GPUs are still taken.
	h := startJob(t, tg, "sleeper", "sleep", "30")
	writeLease(t, dir, "node", fmt.Sprintf("token=old2\nhost=dead\nuser=bob\npid=1\nrun=old\njob=j\ndevices=all\npgid=%s\nstart=%s\nboot=%s\nexpires=%d\n", h.Ref, h.Start, h.Boot, past))
	_, err = tg.AcquireLease(ctx, holder("new", "j", "tokM"), time.Minute)
	var busy *shelltarget.BusyError
	if !errors.As(err, &busy) || busy.Holder.PGID != h.Ref {
		t.Fatalf("lease of a running job: %v, want busy", err)
	}
	if err := tg.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if taken, err := tg.AcquireLease(ctx, holder("new", "j", "tokM"), time.Minute); err != nil || len(taken) != 1 {
		t.Fatalf("after the job ended: taken %v, %v; want the lease taken over", taken, err)
	}
}

// A lease renewed moves its expiry; one someone else took is lost; one
// whose job still runs is kept on release.
func TestLeaseRenewAndRelease(t *testing.T) {
	tg, dir := leaseTarget(t)
	ctx := context.Background()
	l := holder("r", "j", "tokR")
	if _, err := tg.AcquireLease(ctx, l, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	first := readLeases(t, tg)[0].Expires
	h := startJob(t, tg, "sleeper", "sleep", "30")
	l.PGID, l.Start, l.Boot = h.Ref, h.Start, h.Boot
	if err := tg.RenewLease(ctx, l, time.Hour); err != nil {
		t.Fatal(err)
	}
	got := readLeases(t, tg)[0]
	if !got.Expires.After(first.Add(30*time.Minute)) || got.PGID != h.Ref || got.State != "live" {
		t.Fatalf("renewed lease %+v, want an hour ahead of %v with pgid %s", got, first, h.Ref)
	}
	if kept, err := tg.ReleaseLease(ctx, l); err != nil || !kept {
		t.Fatalf("release while the job runs: kept %v, %v; want kept", kept, err)
	}
	if err := tg.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if kept, err := tg.ReleaseLease(ctx, l); err != nil || kept || len(readLeases(t, tg)) != 0 {
		t.Fatalf("release after the job: kept %v, %v, leases %v", kept, err, readLeases(t, tg))
	}
	writeLease(t, dir, "node", "token=other\nrun=x\njob=y\ndevices=all\n")
	if err := tg.RenewLease(ctx, l, time.Hour); !errors.Is(err, shelltarget.ErrLeaseLost) {
		t.Fatalf("renewing a lease someone else holds: %v, want ErrLeaseLost", err)
	}
}

func readLeases(t *testing.T, tg *shelltarget.Target) []shelltarget.Lease {
	t.Helper()
	ls, refused, err := tg.Leases(context.Background())
	if err != nil || len(refused) > 0 {
		t.Fatalf("leases: %v, refused %v", err, refused)
	}
	return ls
}

// A lease directory or file that others could have written is refused,
// never read as a holder.
func TestLeaseRefusesDirectoriesAndFilesOthersControl(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir string)
		says  string
	}{
		{"group-writable lease dir", func(t *testing.T, dir string) {
			d := filepath.Join(dir, shelltarget.LeaseDirName)
			os.MkdirAll(d, 0o700)
			os.Chmod(d, 0o777)
		}, "writable by its group or others"},
		{"foreign-owned lease dir", func(t *testing.T, dir string) {
			if os.Getuid() != 0 {
				t.Skip("needs root to chown")
			}
			d := filepath.Join(dir, shelltarget.LeaseDirName)
			os.MkdirAll(d, 0o700)
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "not by you"},
		{"lease file as a link", func(t *testing.T, dir string) {
			f := writeLease(t, dir, "x", "")
			os.Remove(f)
			os.Symlink("/etc/passwd", f)
		}, "not a regular file"},
		{"group-writable lease file", func(t *testing.T, dir string) {
			os.Chmod(writeLease(t, dir, "x", "token=t\n"), 0o666)
		}, "writable by others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, dir := leaseTarget(t)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, dir)
			_, err := tg.AcquireLease(context.Background(), holder("r", "j", "tok"), time.Minute)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("acquire: %v, want a refusal saying %q", err, tc.says)
			}
			if _, refused, err := tg.Leases(context.Background()); err != nil || len(refused) != 1 {
				t.Fatalf("listing: refused %v, %v; want one refusal", refused, err)
			}
		})
	}
}

// What a lease file says is bounded and made fit for a terminal.
func TestParseLeaseIsSafeToPrint(t *testing.T) {
	body := "user=ev\x1b]0;pwned\x07il\npgid=-1\ndevices=0,x,2\nexpires=notanumber\nhost=" + strings.Repeat("h", 3000) + "\n"
	l := shelltarget.ParseLease("node", []byte(body))
	s := l.Holder()
	if strings.ContainsAny(s, "\x1b\x07\n") || len(s) > 600 {
		t.Fatalf("holder line %q is not safe to print", s)
	}
	if l.PGID != "" || !l.Expires.IsZero() || fmt.Sprint(l.Devices) != "[0 2]" {
		t.Fatalf("parsed %+v: bad numbers must not pass", l)
	}
	if got := shelltarget.ParseLease("n", []byte("user=a\n"+strings.Repeat("x", 5000)+"\nrun=late\n")); got.Run != "" {
		t.Fatalf("read past the size cap: %+v", got)
	}
}

func TestLeaseName(t *testing.T) {
	for _, tc := range []struct {
		devices []int
		want    string
	}{{nil, "node"}, {[]int{3, 1, 2}, "gpu-1-2-3"}, {[]int{0}, "gpu-0"}} {
		if got := shelltarget.LeaseName(tc.devices); got != tc.want {
			t.Errorf("LeaseName(%v) = %q, want %q", tc.devices, got, tc.want)
		}
	}
}

// Controllers waiting for a node get it in the order they first asked:
// one that asks later, even the moment the node frees, waits its turn; a
// wait file whose controller stopped asking lapses.
func TestLeaseIsGrantedInTheOrderControllersAsked(t *testing.T) {
	tg, dir := leaseTarget(t)
	ctx := context.Background()
	a := holder("runA", "j1", "tokA")
	if _, err := tg.AcquireLease(ctx, a, time.Minute); err != nil {
		t.Fatalf("A: %v", err)
	}
	b := holder("runB", "j1", "tokB")
	b.Ticket = 1000
	var busy *shelltarget.BusyError
	if _, err := tg.AcquireLease(ctx, b, time.Minute); !errors.As(err, &busy) || busy.Queued || busy.Holder.Run != "runA" {
		t.Fatalf("B while A holds the node: %v, want busy with A's lease", err)
	}
	if _, err := os.Stat(filepath.Join(dir, shelltarget.LeaseDirName, "tokB.wait")); err != nil {
		t.Fatalf("B, refused, left no wait file: %v", err)
	}
	if _, err := tg.ReleaseLease(ctx, a); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		l      *shelltarget.Lease
		ticket int64
		queued bool
	}{
		{"a later ticket waits behind B", holder("runA", "j2", "tokA2"), 2000, true},
		{"an equal ticket is ordered by token", holder("runC", "j1", "tokC"), 1000, true},
		{"a part of the node waits behind a whole-node waiter", holder("runD", "j1", "tokD", 0), 3000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.l.Ticket = tc.ticket
			_, err := tg.AcquireLease(ctx, tc.l, time.Minute)
			if tc.queued {
				if !errors.As(err, &busy) || !busy.Queued || busy.Holder.Ticket == 0 || busy.Holder.Ticket > tc.ticket || busy.Holder.Run == tc.l.Run && busy.Holder.Job == tc.l.Job {
					t.Fatalf("err %v, want queued behind an earlier waiter", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err %v, want the lease", err)
			}
		})
	}
	if _, err := tg.AcquireLease(ctx, b, time.Minute); err != nil {
		t.Fatalf("B in its turn: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, shelltarget.LeaseDirName, "tokB.wait")); !os.IsNotExist(err) {
		t.Errorf("B's wait file is still there once it holds the lease: %v", err)
	}
	if _, err := tg.ReleaseLease(ctx, b); err != nil {
		t.Fatal(err)
	}

	// The waiters refused above (A2, C) left wait files; once they lapse,
	// a newcomer is not held back by them.
	for _, f := range []string{"tokA2.wait", "tokC.wait", "tokD.wait"} {
		p := filepath.Join(dir, shelltarget.LeaseDirName, f)
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		old := strings.Replace(string(body), "expires=", "expires=1\nwas=", 1)
		if err := os.WriteFile(p, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	late := holder("runE", "j1", "tokE")
	late.Ticket = 9000
	if _, err := tg.AcquireLease(ctx, late, time.Minute); err != nil {
		t.Fatalf("after the waiters lapsed: %v", err)
	}
}
