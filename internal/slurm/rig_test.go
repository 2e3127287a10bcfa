package slurm_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/slurm"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/local"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
	"github.com/fleetbench/fleet/internal/testrig"
)

// These tests drive the rig's real Slurm clusters from this machine as
// their login node: "rig" keeps accounting (sacct) and requeues jobs of a
// failed node, "rignoacct" has neither. The work directories live on this
// machine's filesystem, which the rig's compute nodes share.

// countingHost is a real Host that counts the Slurm commands run through
// it, to measure how many controller RPCs the target makes.
type countingHost struct {
	shelltarget.Host
	mu    sync.Mutex
	calls map[string]int
	cmds  []string
}

var slurmCommands = regexp.MustCompile(`\b(sacct|squeue|scontrol|sbatch|scancel|sinfo)\b`)

func (h *countingHost) Exec(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	h.mu.Lock()
	for _, m := range slurmCommands.FindAllString(cmd, -1) {
		h.calls[m]++
	}
	h.cmds = append(h.cmds, cmd)
	h.mu.Unlock()
	return h.Host.Exec(ctx, cmd, stdin, stdout, stderr)
}

func (h *countingHost) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[name]
}

// commands returns the commands run so far that call name.
func (h *countingHost) commands(name string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	re := regexp.MustCompile(`\b` + name + `\b`)
	for _, c := range h.cmds {
		if re.MatchString(c) {
			out = append(out, c)
		}
	}
	return out
}

// rigCluster is one cluster of the rig with a target on it.
type rigCluster struct {
	rig  *testrig.Rig
	c    testrig.Cluster
	tg   *slurm.Target
	host *countingHost
	opts slurm.Options
}

// rigClusters are both kinds of cluster: with and without accounting.
var rigClusters = []string{"rig", "rignoacct"}

// workBase is a work directory base on the shared filesystem, removed at
// the end of the test.
func workBase(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fleet-slurm-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newCluster returns a target on the named rig cluster. share takes a
// shared lock on every node so that no fault test of another package
// breaks a node under this test.
func newCluster(t *testing.T, name string, share bool, tweak func(*slurm.Options)) *rigCluster {
	t.Helper()
	r := testrig.Load(t)
	c := r.Cluster(t, name)
	if share {
		r.Share(t, c.Nodes...)
	}
	host := &countingHost{Host: local.New("login-" + name), calls: map[string]int{}}
	opts := slurm.Options{
		Name:        name,
		WorkDir:     workBase(t),
		GPUsPerNode: 8,
		CommandEnv:  map[string]string{"SLURM_CONF": c.SlurmConf},
		Poll:        500 * time.Millisecond,
		CancelWait:  time.Minute,
	}
	if tweak != nil {
		tweak(&opts)
	}
	tg, err := slurm.New(host, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return &rigCluster{rig: r, c: c, tg: tg, host: host, opts: opts}
}

var specSeq struct {
	sync.Mutex
	n int
}

// shSpec is a job running sh -c script.
func shSpec(t testing.TB, gpus int, script string) *target.Spec {
	specSeq.Lock()
	specSeq.n++
	n := specSeq.n
	specSeq.Unlock()
	id := fmt.Sprintf("%s-%d", regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"), n)
	return &target.Spec{
		RunID: "slurmtest", JobID: id, Attempt: 1, GPUs: gpus,
		Command: []string{"sh", "-c", script},
		Timeout: 10 * time.Minute,
	}
}

// submit prepares and starts spec; the job is scancelled at the end of
// the test if it is still there.
func (rc *rigCluster) submit(t *testing.T, spec *target.Spec) target.Handle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := rc.tg.Prepare(ctx, spec)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	h, err = rc.tg.Start(ctx, spec, h)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if h.Ref == "" {
		t.Fatal("start returned no Slurm job id")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rc.tg.Cancel(ctx, h)
	})
	return h
}

func (rc *rigCluster) wait(t *testing.T, h target.Handle, limit time.Duration) target.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	ex, err := rc.tg.Wait(ctx, h)
	if err != nil {
		t.Fatalf("wait for Slurm job %s: %v\n%s", h.Ref, err, rc.jobInfo(t, h))
	}
	return ex
}

// jobInfo is what Slurm and the job's log say, for failure messages.
func (rc *rigCluster) jobInfo(t *testing.T, h target.Handle) string {
	out, _ := rc.rig.Slurm(t, rc.c.Name, "scontrol", "-o", "show", "job", strings.Split(h.Ref, ";")[0])
	log, _ := os.ReadFile(filepath.Join(h.WorkDir, "job.log"))
	return "scontrol: " + out + "\njob.log:\n" + string(log)
}

// waitState polls squeue until the job is in state.
func (rc *rigCluster) waitState(t *testing.T, h target.Handle, state string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) {
		out, _ := rc.rig.Slurm(t, rc.c.Name, "squeue", "-h", "-t", "all", "-j", strings.Split(h.Ref, ";")[0], "-o", "%T")
		last = strings.TrimSpace(out)
		if last == state {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Slurm job %s not %s after %v (last %q)\n%s", h.Ref, state, limit, last, rc.jobInfo(t, h))
}

func readFile(t *testing.T, h target.Handle, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.WorkDir, name))
	if err != nil {
		t.Fatalf("read %s of job %s: %v", name, h.JobID, err)
	}
	return string(b)
}

func TestJobsEndAsSlurmReportsThem(t *testing.T) {
	t.Parallel()
	for _, name := range rigClusters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rc := newCluster(t, name, true, nil)
			for _, tc := range []struct {
				name   string
				script string
				want   target.Exit
			}{
				{"success", "echo hello from $(hostname)", target.Exit{Code: 0}},
				{"exit 3 fails with code 3", "exit 3", target.Exit{Code: 3}},
				{"a script killed by SIGKILL", "kill -KILL $$", target.Exit{Code: 137, Signal: "SIGKILL"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					h := rc.submit(t, shSpec(t, 1, tc.script))
					ex := rc.wait(t, h, 3*time.Minute)
					if ex != tc.want {
						t.Fatalf("exit = %+v, want %+v\n%s", ex, tc.want, rc.jobInfo(t, h))
					}
					if ex.OK() != (tc.want.Code == 0) {
						t.Errorf("OK() = %v for %+v", ex.OK(), ex)
					}
					rec := strings.TrimSpace(readFile(t, h, ".fleet/exit"))
					if rec != strconv.Itoa(tc.want.Code) {
						t.Errorf(".fleet/exit = %q, want %d", rec, tc.want.Code)
					}
				})
			}
		})
	}
}

func TestJobSeesTheGPUsSlurmAssigned(t *testing.T) {
	t.Parallel()
	for _, name := range rigClusters {
		for _, tc := range []struct {
			name   string
			shared bool
			want   int
		}{
			// A whole node comes with all its GPUs.
			{"exclusive", false, 8},
			{"shared", true, 3},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				rc := newCluster(t, name, true, func(o *slurm.Options) { o.Shared = tc.shared })
				spec := shSpec(t, 3, `printf '%s|%s' "$CUDA_VISIBLE_DEVICES" "$SLURM_JOB_GPUS" > cvd.out`)
				// The engine's packing variables never override Slurm's.
				spec.Env = map[string]string{"CUDA_VISIBLE_DEVICES": "7", "GPUS": "7"}
				h := rc.submit(t, spec)
				if ex := rc.wait(t, h, 3*time.Minute); !ex.OK() {
					t.Fatalf("job failed: %v\n%s", ex, rc.jobInfo(t, h))
				}
				dir := t.TempDir()
				got, err := rc.tg.Fetch(context.Background(), h, []string{"cvd.out", "missing.out"}, dir)
				if err != nil || len(got) != 1 {
					t.Fatalf("fetch = %v, %v; want cvd.out only", got, err)
				}
				b, _ := os.ReadFile(filepath.Join(dir, "cvd.out"))
				cvd, jobGPUs, _ := strings.Cut(string(b), "|")
				if ids := strings.Split(cvd, ","); len(ids) != tc.want || cvd != jobGPUs {
					t.Fatalf("CUDA_VISIBLE_DEVICES = %q with SLURM_JOB_GPUS = %q, want the %d GPUs Slurm gave the job", cvd, jobGPUs, tc.want)
				}
			})
		}
	}
}

func TestTimeLimitEndsAsTimeoutAfterAGracefulStop(t *testing.T) {
	t.Parallel()
	for _, name := range rigClusters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rc := newCluster(t, name, true, func(o *slurm.Options) { o.TimeLimit = "1" })
			// job.sh's part: on TERM, stop and say so.
			h := rc.submit(t, shSpec(t, 1, `trap 'echo graceful stop; exit 143' TERM; echo started; while :; do sleep 1; done`))
			ex := rc.wait(t, h, 4*time.Minute)
			if ex.State != "TIMEOUT" || ex.OK() {
				t.Fatalf("exit = %+v, want State TIMEOUT\n%s", ex, rc.jobInfo(t, h))
			}
			log := readFile(t, h, "job.log")
			if !strings.Contains(log, "graceful stop") || !strings.Contains(log, "ahead of the time limit") {
				t.Errorf("the job was not stopped gracefully before the limit:\n%s", log)
			}
		})
	}
}

// leftovers lists processes whose command line holds marker.
func leftovers(marker string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(marker)) {
			stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
			out = append(out, e.Name()+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return out
}

func TestCancelStopsTheJobAndItsProcesses(t *testing.T) {
	t.Parallel()
	for _, name := range rigClusters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rc := newCluster(t, name, true, nil)
			marker := fmt.Sprintf("fleet-cancel-marker-%d-%s", os.Getpid(), name)
			h := rc.submit(t, shSpec(t, 1, `echo started; (sleep 300; : `+marker+`) & sleep 300; : `+marker))
			rc.waitState(t, h, "RUNNING", 2*time.Minute)

			var logs bytes.Buffer
			logsDone := make(chan error, 1)
			go func() { logsDone <- rc.tg.Logs(context.Background(), h, &logs) }()
			waitDone := make(chan target.Exit, 1)
			go func() { waitDone <- rc.wait(t, h, 3*time.Minute) }()

			deadline := time.Now().Add(time.Minute)
			for len(leftovers(marker)) == 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if len(leftovers(marker)) == 0 {
				t.Fatalf("the job's processes never appeared\n%s", rc.jobInfo(t, h))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := rc.tg.Cancel(ctx, h); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			// Cancel confirms the job ended: nothing of it runs any more.
			if left := leftovers(marker); len(left) > 0 {
				t.Errorf("processes left after Cancel returned: %v", left)
			}
			select {
			case ex := <-waitDone:
				if ex.State != "CANCELLED" {
					t.Errorf("exit = %+v, want State CANCELLED", ex)
				}
			case <-time.After(time.Minute):
				t.Fatal("Wait did not return after the job was cancelled")
			}
			select {
			case err := <-logsDone:
				if err != nil {
					t.Errorf("logs: %v", err)
				}
				if !strings.Contains(logs.String(), "started") {
					t.Errorf("log stream lacks the job's output: %q", logs.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatal("log stream still open 30s after the job was cancelled")
			}
			// Cancelling again, or an ended job, is no error.
			if err := rc.tg.Cancel(ctx, h); err != nil {
				t.Errorf("second cancel: %v", err)
			}
		})
	}
}

func TestLogsWaitQuietlyWhileQueuedAndEndWithTheJob(t *testing.T) {
	t.Parallel()
	for _, name := range rigClusters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// --begin keeps the job PENDING for a while: no log file yet.
			rc := newCluster(t, name, true, func(o *slurm.Options) { o.SbatchArgs = []string{"--begin=now+4"} })
			h := rc.submit(t, shSpec(t, 1, `echo first line; sleep 2; echo last line`))
			var logs bytes.Buffer
			logsDone := make(chan error, 1)
			go func() { logsDone <- rc.tg.Logs(context.Background(), h, &logs) }()
			if ex := rc.wait(t, h, 3*time.Minute); !ex.OK() {
				t.Fatalf("job failed: %v\n%s", ex, rc.jobInfo(t, h))
			}
			select {
			case err := <-logsDone:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("log stream still open 30s after the job ended")
			}
			if !strings.Contains(logs.String(), "first line") || !strings.Contains(logs.String(), "last line") {
				t.Errorf("streamed log = %q, want both lines", logs.String())
			}
			// A job cancelled while queued ends its log stream too.
			rc2 := newCluster(t, name, true, func(o *slurm.Options) { o.SbatchArgs = []string{"--hold"} })
			h2 := rc2.submit(t, shSpec(t, 1, "echo never"))
			done2 := make(chan error, 1)
			go func() { done2 <- rc2.tg.Logs(context.Background(), h2, io.Discard) }()
			time.Sleep(time.Second)
			if err := rc2.tg.Cancel(context.Background(), h2); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done2:
			case <-time.After(30 * time.Second):
				t.Fatal("log stream of a job cancelled while queued still open after 30s")
			}
		})
	}
}

func TestPreflightRejectsWhatSlurmWouldRefuse(t *testing.T) {
	t.Parallel()
	for _, name := range rigClusters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name  string
				tweak func(*slurm.Options)
				gpus  []int
				want  []string // in the error; none: accepted
			}{
				{"a sweep that fits", nil, []int{1, 8, 4}, nil},
				{"a partition that does not exist", func(o *slurm.Options) { o.Partition = "nosuch" }, []int{8},
					[]string{"cluster " + name, `partition "nosuch"`, "gpu, debug", "inventory"}},
				{"more GPUs than a node has, as Slurm sees it", func(o *slurm.Options) { o.GPUsPerNode = 0 }, []int{8, 9},
					[]string{"cluster " + name, "9 GPUs", "tp x pp"}},
				{"more GPUs than the inventory says", func(o *slurm.Options) { o.GPUsPerNode = 4 }, []int{8},
					[]string{"cluster " + name, "8 GPUs", "gpus_per_node"}},
				{"a time limit over the partition's", func(o *slurm.Options) { o.Partition = "debug"; o.TimeLimit = "2:00:00" }, []int{8},
					[]string{"cluster " + name, "time_limit"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rc := newCluster(t, name, false, tc.tweak)
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					err := rc.tg.Preflight(ctx, tc.gpus)
					if len(tc.want) == 0 {
						if err != nil {
							t.Fatalf("preflight: %v", err)
						}
						return
					}
					if err == nil {
						t.Fatal("accepted")
					}
					for _, w := range tc.want {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error lacks %q: %v", w, err)
						}
					}
					if target.IsTransient(err) {
						t.Errorf("a configuration error is marked transient: %v", err)
					}
				})
			}
		})
	}
}

func TestNastyValuesReachSlurmLiterally(t *testing.T) {
	t.Parallel()
	const nasty = `it's "quoted" $(touch /tmp/pwned-slurm) ` + "`id`" + ` #hash \ back 100%`
	rc := newCluster(t, "rig", true, func(o *slurm.Options) {
		o.SbatchArgs = []string{"--comment=" + nasty, "--hold"}
		// Slurm strips backslashes from output paths: no backslash here.
		o.WorkDir = filepath.Join(o.WorkDir, strings.ReplaceAll(nasty, `\`, ""))
	})
	spec := shSpec(t, 1, `printf '%s' "$V" > v.out`)
	spec.Env = map[string]string{"V": nasty}
	h := rc.submit(t, spec)
	out, err := rc.rig.Slurm(t, "rig", "scontrol", "-o", "show", "job", h.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Comment="+nasty+" ") {
		t.Errorf("comment did not arrive literally: %s", out)
	}
	if _, err := rc.rig.Slurm(t, "rig", "scontrol", "release", h.Ref); err != nil {
		t.Fatal(err)
	}
	if ex := rc.wait(t, h, 3*time.Minute); !ex.OK() {
		t.Fatalf("job failed: %v\n%s", ex, rc.jobInfo(t, h))
	}
	if got := readFile(t, h, "v.out"); got != nasty {
		t.Errorf("value arrived as %q, want %q", got, nasty)
	}
	readFile(t, h, "job.log") // the output file landed in the work dir
	if _, err := os.Stat("/tmp/pwned-slurm"); err == nil {
		t.Error("a value was executed by a shell")
	}
}

func TestARestartedControllerReattachesFromTheHandle(t *testing.T) {
	t.Parallel()
	for _, name := range rigClusters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rc := newCluster(t, name, true, nil)
			h := rc.submit(t, shSpec(t, 1, `echo before; sleep 3; echo after; exit 5`))
			rc.tg.Close() // the controller dies with the job queued or running

			// A new controller has only the journaled handle.
			fresh := newCluster(t, name, true, func(o *slurm.Options) { o.WorkDir = rc.opts.WorkDir })
			var logs bytes.Buffer
			logsDone := make(chan error, 1)
			go func() { logsDone <- fresh.tg.Logs(context.Background(), h, &logs) }()
			ex := fresh.wait(t, h, 3*time.Minute)
			if ex != (target.Exit{Code: 5}) {
				t.Fatalf("exit = %+v, want code 5", ex)
			}
			select {
			case <-logsDone:
			case <-time.After(30 * time.Second):
				t.Fatal("log stream still open after the job ended")
			}
			if !strings.Contains(logs.String(), "before") || !strings.Contains(logs.String(), "after") {
				t.Errorf("log = %q", logs.String())
			}
			// And once more, long after the end: the answer is the same.
			again := fresh.wait(t, h, time.Minute)
			if again != ex {
				t.Errorf("second wait = %+v, want %+v", again, ex)
			}
		})
	}
}

// TestOneStateQueryPerPollForAllJobs checks the batching: however many
// jobs are followed, each poll is one sacct call (or, without accounting,
// one squeue call, plus one scontrol per job when it ends, for its exit
// status).
func TestOneStateQueryPerPollForAllJobs(t *testing.T) {
	t.Parallel()
	const jobs = 8
	for _, name := range rigClusters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rc := newCluster(t, name, true, func(o *slurm.Options) { o.Poll = time.Second; o.Shared = true })
			var hs []target.Handle
			for i := 0; i < jobs; i++ {
				hs = append(hs, rc.submit(t, shSpec(t, 1, "sleep 4")))
			}
			start := time.Now()
			var wg sync.WaitGroup
			for _, h := range hs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if ex := rc.wait(t, h, 3*time.Minute); !ex.OK() {
						t.Errorf("job %s: %v", h.Ref, ex)
					}
				}()
			}
			wg.Wait()
			// The poller polls close together after jobs are watched
			// (250ms doubling to the interval): up to 3 polls more.
			polls := int(time.Since(start)/time.Second) + 2 + 3
			query := "sacct"
			if name == "rignoacct" {
				query = "squeue"
			}
			n := rc.host.count(query)
			t.Logf("%d jobs over about %d polls: %d %s, %d squeue, %d scontrol calls", jobs, polls, n, query, rc.host.count("squeue"), rc.host.count("scontrol"))
			if n > polls {
				t.Errorf("%d %s calls for %d polls: not one per poll", n, query, polls)
			}
			if n >= jobs*polls/2 {
				t.Errorf("%d %s calls: about one per job per poll", n, query)
			}
			// The first query after all jobs were registered names them all.
			widest := 0
			for _, c := range rc.host.commands(query) {
				if m := regexp.MustCompile(`-j ([0-9,]+)`).FindStringSubmatch(c); m != nil {
					widest = max(widest, len(strings.Split(m[1], ",")))
				}
			}
			if widest != jobs {
				t.Errorf("widest %s call named %d jobs, want all %d", query, widest, jobs)
			}
			if name == "rignoacct" {
				if sc := rc.host.count("scontrol"); sc > jobs+2 {
					t.Errorf("%d scontrol calls for %d jobs: want about one per ended job", sc, jobs)
				}
			}
		})
	}
}

func TestPlatformIsTheComputeNodes(t *testing.T) {
	t.Parallel()
	rc := newCluster(t, "rig", false, func(o *slurm.Options) { o.Partition = "debug" })
	p, err := rc.tg.Platform(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p != (target.Platform{OS: "linux", Arch: runtime.GOARCH}) {
		t.Fatalf("platform = %v", p)
	}
	if rc.host.count("scontrol") != 1 {
		t.Errorf("the platform did not come from the compute node's record (%d scontrol calls)", rc.host.count("scontrol"))
	}
}
