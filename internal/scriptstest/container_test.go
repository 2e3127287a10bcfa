package scriptstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// nodeUser is the user the tests' jobs run as, as the scripts see it.
func nodeUser(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("id", "-un").Output()
	must(t, err)
	return strings.TrimSpace(string(out))
}

// containerName runs fleet_container_name with the given user (a fake
// `id` that prints it; empty: one that fails, so $USER counts) and
// environment.
func containerName(t *testing.T, user string, env ...string) string {
	t.Helper()
	bin := t.TempDir()
	id := "#!/bin/sh\nexit 1\n"
	if user != "" {
		id = "#!/bin/sh\n[ \"$1\" = -u ] && { echo 1000; exit 0; }\nprintf '%s\\n' '" + user + "'\n"
	}
	must(t, os.WriteFile(filepath.Join(bin, "id"), []byte(id), 0o755))
	cmd := exec.Command("bash", "-c", `. scripts/lib/runtime.sh && fleet_container_name`)
	cmd.Dir = repo
	cmd.Env = append([]string{"PATH=" + bin + ":/usr/bin:/bin"}, env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fleet_container_name: %v", err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// dockerName is docker's rule for container names.
var dockerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func TestContainerNamesBelongToOneUserRunAndJob(t *testing.T) {
	const run, job = "20261129-101500-full", "dsr1-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc64"
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		user string
		env  []string
		want string // exact name, or empty to check only the rules
	}{
		{name: "user, run and job in order", user: "alice", env: []string{"FLEET_RUN_ID=" + run, "FLEET_JOB_ID=" + job},
			want: "fleet-alice-" + run + "-" + job},
		{name: "$USER when id cannot say", user: "", env: []string{"USER=bob", "FLEET_RUN_ID=" + run, "FLEET_JOB_ID=" + job},
			want: "fleet-bob-" + run + "-" + job},
		{name: "a directory user's name is made safe", user: "carol@CORP.example", env: []string{"FLEET_RUN_ID=" + run, "FLEET_JOB_ID=" + job}},
		{name: "a job id with separators and spaces is made safe", user: "alice", env: []string{"FLEET_RUN_ID=" + run, "FLEET_JOB_ID=cfg/tp 8/conc;4"}},
		{name: "long parts are cut and hashed", user: long, env: []string{"FLEET_RUN_ID=" + long, "FLEET_JOB_ID=" + long}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := containerName(t, tc.user, tc.env...)
			if tc.want != "" && got != tc.want {
				t.Errorf("name %q, want %q", got, tc.want)
			}
			if !dockerName.MatchString(got) || len(got) > 210 {
				t.Errorf("name %q (%d characters) breaks docker's rules or the length bound", got, len(got))
			}
		})
	}

	t.Run("names differ wherever user, run or job differ", func(t *testing.T) {
		base := containerName(t, "alice", "FLEET_RUN_ID="+run, "FLEET_JOB_ID="+job)
		others := map[string]string{
			"another user":                          containerName(t, "bob", "FLEET_RUN_ID="+run, "FLEET_JOB_ID="+job),
			"another run":                           containerName(t, "alice", "FLEET_RUN_ID=20261129-101501-full", "FLEET_JOB_ID="+job),
			"another job":                           containerName(t, "alice", "FLEET_RUN_ID="+run, "FLEET_JOB_ID="+job+"0"),
			"a job id that only sanitises the same": containerName(t, "alice", "FLEET_RUN_ID="+run, "FLEET_JOB_ID="+strings.Replace(job, "-", "/", 1)),
			"a long job id that differs at its end": containerName(t, "alice", "FLEET_RUN_ID="+run, "FLEET_JOB_ID="+job+long+"y"),
		}
		longBase := containerName(t, "alice", "FLEET_RUN_ID="+run, "FLEET_JOB_ID="+job+long+"z")
		for what, name := range others {
			if name == base || name == longBase {
				t.Errorf("%s gives the same name %q", what, name)
			}
		}
	})
	t.Run("every attempt of a job gets the same name", func(t *testing.T) {
		a := containerName(t, "alice", "FLEET_RUN_ID="+run, "FLEET_JOB_ID="+job)
		b := containerName(t, "alice", "FLEET_RUN_ID="+run, "FLEET_JOB_ID="+job)
		if a != b {
			t.Errorf("%q then %q", a, b)
		}
	})
}
