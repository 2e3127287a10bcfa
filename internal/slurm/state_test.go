package slurm

import (
	"reflect"
	"testing"

	"github.com/fleetbench/fleet/internal/target"
)

// The sacct, squeue and scontrol outputs below are those the test rig
// measured (shared/reference/test-rig.md, "what a client sees").
func TestSacctOutputMapsToExits(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want map[string]target.Exit // only terminal jobs
		busy []string               // jobs still active
	}{
		{
			name: "exit 3 in the batch script is a failure with code 3",
			out:  "12|FAILED|3:0\n12.batch|FAILED|3:0\n12.extern|COMPLETED|0:0\n",
			want: map[string]target.Exit{"12": {Code: 3}},
		},
		{
			name: "a script killed by signal 9 reads like a local kill",
			out:  "13|FAILED|0:9\n13.batch|FAILED|0:9\n",
			want: map[string]target.Exit{"13": {Code: 137, Signal: "SIGKILL"}},
		},
		{
			name: "success",
			out:  "14|COMPLETED|0:0\n14.batch|COMPLETED|0:0\n14.extern|COMPLETED|0:0\n",
			want: map[string]target.Exit{"14": {Code: 0}},
		},
		{
			name: "COMPLETED with a failing batch step is a failure",
			out:  "15|COMPLETED|0:0\n15.batch|COMPLETED|2:0\n",
			want: map[string]target.Exit{"15": {Code: 2}},
		},
		{
			name: "CANCELLED by a user id keeps only the state word",
			out:  "16|CANCELLED by 0|0:15\n16.batch|CANCELLED|0:15\n",
			want: map[string]target.Exit{"16": {Code: 143, Signal: "SIGTERM", State: "CANCELLED"}},
		},
		{
			name: "time limit",
			out:  "17|TIMEOUT|0:15\n17.batch|CANCELLED|0:15\n",
			want: map[string]target.Exit{"17": {Code: 143, Signal: "SIGTERM", State: "TIMEOUT"}},
		},
		{
			name: "node failure, out of memory, deadline, boot failure and preemption keep Slurm's word",
			out:  "18|NODE_FAIL|0:0\n19|OUT_OF_MEMORY|0:125\n20|DEADLINE|0:0\n21|BOOT_FAIL|0:0\n22|PREEMPTED|0:0\n",
			want: map[string]target.Exit{
				"18": {Code: 0, State: "NODE_FAIL"},
				"19": {Code: 128 + 125, Signal: "signal 125", State: "OUT_OF_MEMORY"},
				"20": {Code: 0, State: "DEADLINE"},
				"21": {Code: 0, State: "BOOT_FAIL"},
				"22": {Code: 0, State: "PREEMPTED"},
			},
		},
		{
			name: "queued, starting, running, completing and requeued jobs are still active",
			out:  "30|PENDING|0:0\n31|CONFIGURING|0:0\n32|RUNNING|0:0\n32.batch|RUNNING|0:0\n33|COMPLETING|0:0\n34|REQUEUED|0:0\n35|SUSPENDED|0:0\n36|REQUEUE_HOLD|0:0\n",
			busy: []string{"30", "31", "32", "33", "34", "35", "36"},
		},
		{
			name: "FAILED without a status never passes for success",
			out:  "40|FAILED|0:0\n",
			want: map[string]target.Exit{"40": {Code: 0, State: "FAILED"}},
		},
		{
			name: "blank lines and other steps are ignored",
			out:  "\n41|COMPLETED|0:0\n41.0|FAILED|1:0\n\n",
			want: map[string]target.Exit{"41": {Code: 0}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts, err := parseSacct(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]target.Exit{}
			var busy []string
			for id, st := range sts {
				if terminal(st.State) {
					got[id] = exitOf(st)
				} else {
					busy = append(busy, id)
				}
			}
			if tc.want == nil {
				tc.want = map[string]target.Exit{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("exits = %+v, want %+v", got, tc.want)
			}
			if len(busy) != len(tc.busy) {
				t.Errorf("active jobs = %v, want %v", busy, tc.busy)
			}
		})
	}
}

func TestSacctRejectsGarbage(t *testing.T) {
	if _, err := parseSacct("12 FAILED 3:0\n"); err == nil {
		t.Fatal("a line without -P separators was accepted")
	}
}

func TestOKMatchesSlurmSuccessOnly(t *testing.T) {
	for _, tc := range []struct {
		st   status
		want bool
	}{
		{status{State: "COMPLETED", HaveCode: true}, true},
		{status{State: "COMPLETED"}, true},
		{status{State: "COMPLETED", Code: 1, HaveCode: true}, false},
		{status{State: "FAILED", Code: 1, HaveCode: true}, false},
		{status{State: "FAILED", HaveCode: true}, false},
		{status{State: "FAILED"}, false},
		{status{State: "CANCELLED", HaveCode: true}, false},
		{status{State: "TIMEOUT", Sig: 15, HaveCode: true}, false},
		{status{State: "NODE_FAIL", HaveCode: true}, false},
		{status{State: "SPECIAL_EXIT", HaveCode: true}, false},
	} {
		if got := exitOf(tc.st).OK(); got != tc.want {
			t.Errorf("%+v: OK() = %v, want %v", tc.st, got, tc.want)
		}
	}
}

func TestEveryDocumentedStateIsClassified(t *testing.T) {
	ended := []string{"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}
	active := []string{"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED"}
	for _, s := range ended {
		if !terminal(s) {
			t.Errorf("%s is not treated as ended", s)
		}
	}
	for _, s := range active {
		if terminal(s) || !activeStates[s] {
			t.Errorf("%s is not treated as active", s)
		}
	}
	if terminal("SOME_FUTURE_STATE") {
		t.Error("an unknown state ends the wait")
	}
}

func TestSqueueOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want map[string]string
		bad  bool
	}{
		{"states by id", "7|PENDING\n8|RUNNING\n9|COMPLETED\n10|CANCELLED\n", map[string]string{"7": "PENDING", "8": "RUNNING", "9": "COMPLETED", "10": "CANCELLED"}, false},
		{"a finished job shows nothing without -t all", "", map[string]string{}, false},
		{"garbage", "not a state line\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts, err := parseSqueue(tc.out)
			if tc.bad {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for id, st := range sts {
				got[id] = st.State
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScontrolOutput(t *testing.T) {
	const failed = "JobId=7 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901753 Nice=0 Account=root QOS=normal JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:00 TimeLimit=UNLIMITED Command=(null) WorkDir=/tmp/slurmprobe StdErr=/tmp/slurmprobe/o1 StdIn=/dev/null StdOut=/tmp/slurmprobe/o1 Power= \n"
	const requeued = "JobId=21 JobName=fleet-r-j UserId=root(0) JobState=PENDING Reason=BeginTime Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 ExitCode=0:0 Comment=JobState=COMPLETED ExitCode=9:0\n"
	for _, tc := range []struct {
		name string
		out  string
		want status
	}{
		{"a failed job", failed, status{ID: "7", State: "FAILED", Code: 3, HaveCode: true}},
		{"a requeued job, with a comment that imitates fields", requeued, status{ID: "21", State: "PENDING", HaveCode: true, Restarts: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseScontrol(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := parseScontrol("slurm_load_jobs error: Invalid job id specified"); err == nil {
		t.Error("an error message parsed as a job")
	}
}

func TestSubmitOutput(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want jobRef
		bad  bool
	}{
		{"12345\n", jobRef{ID: "12345"}, false},
		{"12345;rig\n", jobRef{ID: "12345", Cluster: "rig"}, false},
		{"sbatch: notice: site message\n678\n", jobRef{ID: "678"}, false},
		{"", jobRef{}, true},
		{"Submitted batch job 12\n", jobRef{}, true},
	} {
		got, err := parseSubmit(tc.out)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("parseSubmit(%q) = %+v, %v; want %+v (error: %v)", tc.out, got, err, tc.want, tc.bad)
		}
		if err == nil {
			back, err := parseRef(got.String())
			if err != nil || back != got {
				t.Errorf("ref %q did not round-trip: %+v, %v", got.String(), back, err)
			}
		}
	}
	for _, bad := range []string{"", "abc", "12;rig;x y", "12;$(id)"} {
		if _, err := parseRef(bad); err == nil {
			t.Errorf("parseRef(%q) accepted", bad)
		}
	}
}

func TestNodePlatform(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want target.Platform
		ok   bool
	}{
		{"NodeName=node1 Arch=x86_64 CoresPerSocket=1 OS=Linux 6.18.44-fc #1 SMP RealMemory=4096", target.Platform{OS: "linux", Arch: "amd64"}, true},
		{"NodeName=gh1 Arch=aarch64 OS=Linux 5.14.0", target.Platform{OS: "linux", Arch: "arm64"}, true},
		{"NodeName=n1 Arch=(null) OS=(null)", target.Platform{}, false},
		{"", target.Platform{}, false},
	} {
		got, ok := nodePlatform(tc.out)
		if ok != tc.ok || got != tc.want {
			t.Errorf("nodePlatform(%q) = %v, %v; want %v, %v", tc.out, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPartitionsOfScontrol(t *testing.T) {
	out := "PartitionName=gpu AllowGroups=ALL Default=YES MaxTime=UNLIMITED State=UP TotalNodes=4\n" +
		"PartitionName=debug AllowGroups=ALL Default=NO MaxTime=00:30:00 State=DRAIN TotalNodes=2\n"
	want := []partition{{Name: "gpu", State: "UP", MaxTime: "UNLIMITED", Default: true}, {Name: "debug", State: "DRAIN", MaxTime: "00:30:00"}}
	if got := parsePartitions(out); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if m, ok := limitMinutes("00:30:00"); !ok || m != 30 {
		t.Errorf("MaxTime 00:30:00 = %v min, %v", m, ok)
	}
	if _, ok := limitMinutes("UNLIMITED"); ok {
		t.Error("UNLIMITED read as a number of minutes")
	}
}
