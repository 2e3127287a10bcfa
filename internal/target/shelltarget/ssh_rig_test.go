package shelltarget_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
	"github.com/fleetbench/fleet/internal/testrig"
)

// Jobs on a real SSH node of the rig: started detached, followed, and
// cancelled with their whole tree, checked on the node itself.
func TestJobTreeOnAnSSHNodeIsKilledByCancel(t *testing.T) {
	r := testrig.Load(t)
	h := r.Host(t, "node2")
	r.Share(t, h.Name)
	client, err := ssh.New(ssh.Config{
		Name: h.Name, Host: h.Addr, Port: h.Port, User: r.User,
		IdentityFiles: []string{r.Keys.Private}, KnownHosts: []string{r.KnownHosts}, SSHConfigPath: ssh.NoSSHConfig,
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := shelltarget.New(client, shelltarget.Options{WorkDir: h.WorkDir + "/shelltarget-test", Grace: time.Second, Poll: 200 * time.Millisecond})
	defer tg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	spec := &target.Spec{RunID: "t", JobID: "tree", Attempt: 1,
		Env:     map[string]string{"GREETING": "it's $(not) `run`"},
		Secrets: map[string]string{"HF_TOKEN": "hf_never_in_argv"},
		Command: []string{"bash", "-c", `echo "$GREETING"; (trap '' TERM; sleep 300) & timeout 300 sleep 301 & sleep 300`}}
	hd, err := tg.Prepare(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if hd, err = tg.Start(ctx, spec, hd); err != nil {
		t.Fatal(err)
	}
	members := func() string {
		out, _ := r.Exec(t, h.Name, "ps -e -o sid=,stat=,args= | awk '$1=="+hd.Ref+" && $2 !~ /^Z/'")
		return strings.TrimSpace(out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(members(), "sleep 30") < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if m := members(); strings.Count(m, "sleep 30") < 3 {
		t.Fatalf("job's processes not all running on %s:\n%s", h.Name, m)
	} else if strings.Contains(m, "hf_never_in_argv") {
		t.Fatalf("secret in a command line on the node:\n%s", m)
	}
	if err := tg.Cancel(ctx, hd); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if m := members(); m != "" {
		t.Fatalf("processes of the job left on %s after cancel:\n%s", h.Name, m)
	}
	ex, err := tg.Wait(ctx, hd)
	if err != nil || ex.OK() {
		t.Fatalf("wait after cancel: %+v, %v", ex, err)
	}
	var logs bytes.Buffer
	if err := tg.Logs(ctx, hd, &logs); err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); !strings.HasPrefix(got, "it's $(not) `run`\n") {
		t.Fatalf("value did not arrive literally: %q", got)
	}
	if err := tg.Cleanup(ctx, hd); err != nil {
		t.Fatal(err)
	}
}
