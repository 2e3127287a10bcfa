package slurm

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/shellgolden"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// scriptedHost is a login node that keeps every command the target sends
// and answers with the first reply whose key the command contains.
type scriptedHost struct {
	replies [][2]string
	cmds    []string
}

func (h *scriptedHost) Name() string { return "login" }
func (h *scriptedHost) Exec(_ context.Context, cmd string, _ io.Reader, stdout, _ io.Writer) (int, error) {
	h.cmds = append(h.cmds, cmd)
	for _, r := range h.replies {
		if strings.Contains(cmd, r[0]) {
			if stdout != nil {
				io.WriteString(stdout, r[1])
			}
			break
		}
	}
	return 0, nil
}
func (h *scriptedHost) Put(context.Context, target.File, string) error { return nil }
func (h *scriptedHost) Get(context.Context, string, string, shelltarget.GetOptions) error {
	return fs.ErrNotExist
}
func (h *scriptedHost) Close() error { return nil }

// Every command the target runs on the login node, for hostile inventory
// values, rendered into testdata/rendered where the shellcheck test
// (internal/scriptstest) checks them too. The sbatch script itself is
// TestBatchScriptMatchesGolden's.
func TestRenderedShellMatchesGolden(t *testing.T) {
	// A partition name cannot hold white space (scontrol's output is
	// read field by field), so its hostile value has none.
	part := "gpu'$(x)`id`;#"
	// Slurm cannot write output under a path with a backslash, so the
	// work directory has none.
	dir := "/shared/fleet/it's \"$(touch /tmp/pwned)\" `id` $HOME 100%/j/1"
	h := &scriptedHost{replies: [][2]string{
		{"scontrol -o show partition", "PartitionName=" + part + " State=UP MaxTime=UNLIMITED Default=NO\n"},
		{"sbatch --parsable", "123\n"},
		{"uname", "Linux\nx86_64\n"},
	}}
	tg, err := New(h, Options{
		Name: "c", WorkDir: "/shared/it's $(x) fleet", Partition: part, Account: nasty,
		TimeLimit: "60", SbatchArgs: []string{"--comment=" + nasty},
		CommandEnv: map[string]string{"SLURM_CONF": "/etc/slurm/it's here.conf", "PATH": "/opt/slurm/bin:/usr/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	ctx := context.Background()
	jobs := []pollJob{{Ref: jobRef{ID: "123", Cluster: "c1"}, WorkDir: dir}, {Ref: jobRef{ID: "124", Cluster: "c1"}, WorkDir: "/shared/fleet/r/k/1"}}
	spec := &target.Spec{RunID: "r", JobID: "j", Attempt: 1, Command: []string{"bash", "scripts/job.sh"}}
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"platform", func() error { _, err := tg.Platform(ctx); return err }},
		{"preflight", func() error { return tg.Preflight(ctx, []int{8}) }},
		{"submit", func() error {
			_, err := tg.Start(ctx, spec, target.Handle{WorkDir: dir})
			return err
		}},
		{"find-submitted", func() error { tg.findSubmitted(ctx, jobName(spec), dir); return nil }},
		{"poll", func() error { return tg.queryChunk(ctx, "c1", jobs, map[string]outcome{}) }},
		{"exit-files", func() error { _, err := tg.exitFiles(ctx, jobs); return err }},
		{"cancel", func() error { return tg.Cancel(ctx, target.Handle{JobID: "j", Ref: "123;c1", WorkDir: dir}) }},
	} {
		h.cmds = nil
		if err := c.run(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if len(h.cmds) == 0 {
			t.Errorf("%s ran no command", c.name)
		}
		for i, cmd := range h.cmds {
			name := c.name + ".sh"
			if len(h.cmds) > 1 {
				name = fmt.Sprintf("%s-%d.sh", c.name, i+1)
			}
			shellgolden.Check(t, *update, name, shellgolden.Sh+cmd)
		}
	}
	// What a log follower runs, away from the command environment.
	stop := dir + "/.fleet/logs-stop.1-1"
	shellgolden.Check(t, *update, "follow.sh", shellgolden.Sh+followScript(dir, stop))
	shellgolden.Check(t, *update, "stop-following.sh", shellgolden.Sh+stopFollowing(stop))
	shellgolden.Check(t, *update, "remove-secrets.sh", shellgolden.Sh+removeSecretsCmd(dir))
}
