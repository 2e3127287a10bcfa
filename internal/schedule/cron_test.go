package schedule

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCronSchedule(t *testing.T) {
	tests := []struct {
		on, want, err string
	}{
		{on: "daily", want: "0 0 * * *"},
		{on: "Hourly", want: "0 * * * *"},
		{on: "weekly", want: "0 0 * * 1"},
		{on: "monthly", want: "0 0 1 * *"},
		{on: "*-*-* 02:00:00", want: "0 2 * * *"},
		{on: "*-*-* 2:05", want: "5 2 * * *"},
		{on: "23:59", want: "59 23 * * *"},
		{on: "Mon..Fri 01:30", want: "30 1 * * 1-5"},
		{on: "Sat,Sun *-*-* 06:00:00", want: "0 6 * * 6,0"},
		{on: "Mon,Sat..Sun 00:15", want: "15 0 * * 1,6-7"},
		// Five fields are cron's own, passed through.
		{on: "30 1 * * 1-5", want: "30 1 * * 1-5"},
		{on: "*/15  *  * * *", want: "*/15 * * * *"},
		{on: "*-*-* 02:00:30", err: "5-field cron expression"},
		{on: "2027-01-01 00:00", err: "5-field cron expression"},
		{on: "*-*-01 02:00", err: "5-field cron expression"},
		{on: "quarterly", err: "5-field cron expression"},
		{on: "Fri..Mon 02:00", err: "backwards"},
		{on: "Mo 02:00", err: "not a weekday"},
		{on: "24:00", err: "not a time of day"},
		{on: "Mon *-*-* 02:00 UTC", err: "5-field cron expression"},
		{on: "30 1 * * 1;rm", err: "character cron does not take"},
	}
	for _, tt := range tests {
		got, err := CronSchedule(tt.on)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("CronSchedule(%q) = %q, %v; want an error saying %q", tt.on, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("CronSchedule(%q) = %q, %v; want %q", tt.on, got, err, tt.want)
		}
	}
}

func TestCronLine(t *testing.T) {
	s := plainSpec()
	s.Env = nil
	got, err := CronLine(s)
	if err != nil {
		t.Fatal(err)
	}
	want := "0 2 * * * exec >>/srv/lab/fleet-schedule-fleet-nightly.log 2>&1 && exec /usr/local/bin/fleet schedule run --dir /srv/lab fleet-nightly -- /srv/lab/sweeps/full.hcl -i inventory.hcl --only 'gpu=h200' # fleet-schedule: fleet-nightly"
	if got != want {
		t.Errorf("CronLine:\n got %s\nwant %s", got, want)
	}

	s = plainSpec()
	if _, err := CronLine(s); err == nil || !strings.Contains(err.Error(), "--env-file") {
		t.Errorf("CronLine with --env and no file: %v, want an error asking for --env-file", err)
	}
	s.Dir = "/srv/100% lab"
	s.EnvFile = "/srv/lab/fleet.env"
	if _, err := CronLine(s); err == nil || !strings.Contains(err.Error(), "%") {
		t.Errorf("CronLine with %% in a path: %v, want an error", err)
	}
}

// TestCronLineRunsTheCommandItSays runs the command part of a cron line
// with sh, as cron does, with a stand-in fleet that prints its arguments
// and the variables of the environment file: what arrives is what the
// spec says, for hostile paths too, and the output lands in CronLog.
func TestCronLineRunsTheCommandItSays(t *testing.T) {
	tmp := t.TempDir()
	lab := filepath.Join(tmp, `it's "the" lab $HOME \ ;`)
	bin := filepath.Join(tmp, "my tools $X")
	for _, d := range []string{lab, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fleet := filepath.Join(bin, "fleet")
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\nprintf 'token=%s\\n' \"$HF_TOKEN\"\n"
	if err := os.WriteFile(fleet, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(lab, "fleet env")
	if err := os.WriteFile(envFile, []byte("HF_TOKEN=\"hf_ it's\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := Spec{Name: "n", On: "daily", Fleet: fleet, Dir: lab, Sweep: filepath.Join(lab, "a b.hcl"),
		SweepArgs: []string{"--var", `x=it's "q" $HOME \`}, Env: []string{"HF_TOKEN"}, EnvFile: envFile}
	line, err := CronLine(s)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.SplitN(line, " ", 6)
	cmd := exec.Command("/bin/sh", "-c", fields[5])
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + tmp} // cron's meagre environment
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("sh -c %s: %v\n%s", fields[5], err, out)
	}
	log, err := os.ReadFile(CronLog(s))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, a := range s.Command()[1:] {
		want.WriteString("[" + a + "]\n")
	}
	want.WriteString("token=hf_ it's\n")
	if string(log) != want.String() {
		t.Errorf("the cron line ran fleet with\n%s\nwant\n%s", log, want.String())
	}
}
