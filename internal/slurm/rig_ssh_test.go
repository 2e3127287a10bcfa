package slurm_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/slurm"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target"
)

// The usual set-up: fleet elsewhere, the cluster's login node over SSH.
// The rig's login host for "rig" exports SLURM_CONF in its sshd, as a real
// login node's environment would, so the target needs no command env.
func TestAClusterDrivenOverSSH(t *testing.T) {
	t.Parallel()
	rc := newCluster(t, "rig", true, nil) // for the rig handle and its locks
	login := rc.rig.Host(t, rc.c.LoginHost)
	rc.rig.Share(t, login.Name)
	cl, err := ssh.New(ssh.Config{
		Name: "rig-login", Host: login.Addr, Port: login.Port, User: rc.rig.User,
		IdentityFiles: []string{rc.rig.Keys.Private}, KnownHosts: []string{rc.rig.KnownHosts},
		SSHConfigPath: ssh.NoSSHConfig,
	})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := slurm.New(cl, slurm.Options{Name: "rig", WorkDir: workBase(t), GPUsPerNode: 8, Poll: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := tg.Preflight(ctx, []int{8}); err != nil {
		t.Fatalf("preflight over SSH: %v", err)
	}
	spec := shSpec(t, 2, `echo "on $(hostname) with $CUDA_VISIBLE_DEVICES"; exit 4`)
	h, err := tg.Prepare(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = tg.Start(ctx, spec, h); err != nil {
		t.Fatal(err)
	}
	defer tg.Cancel(context.Background(), h)
	var logs bytes.Buffer
	logsDone := make(chan error, 1)
	go func() { logsDone <- tg.Logs(ctx, h, &logs) }()
	ex, err := tg.Wait(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if ex != (target.Exit{Code: 4}) {
		t.Fatalf("exit = %+v, want code 4", ex)
	}
	if err := <-logsDone; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "on node") {
		t.Errorf("log over SSH = %q", logs.String())
	}
	got, err := tg.Fetch(ctx, h, []string{"job.log"}, t.TempDir())
	if err != nil || len(got) != 1 {
		t.Fatalf("fetch over SSH: %v %v", got, err)
	}
}
