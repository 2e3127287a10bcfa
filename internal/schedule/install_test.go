package schedule

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestUserUnitDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CONFIG_HOME": "/x/config", "HOME": "/home/u"}, "/x/config/systemd/user"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.config/systemd/user"},
		// The XDG spec: a relative XDG_CONFIG_HOME is ignored.
		{map[string]string{"XDG_CONFIG_HOME": "config", "HOME": "/home/u"}, "/home/u/.config/systemd/user"},
	}
	for _, tt := range tests {
		got, err := UserUnitDir(func(k string) string { return tt.env[k] })
		if err != nil || got != tt.want {
			t.Errorf("UserUnitDir(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
	if _, err := UserUnitDir(func(string) string { return "" }); err == nil {
		t.Error("UserUnitDir without HOME: no error")
	}
}

func TestInstallIsIdempotentAndRemoveTakesOnlyItsOwn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "systemd", "user")
	s := plainSpec()
	files, err := Units(s)
	if err != nil {
		t.Fatal(err)
	}
	written, err := Install(dir, s.Name, files)
	if err != nil || len(written) != 2 {
		t.Fatalf("first Install wrote %v, %v; want both units", written, err)
	}
	for _, f := range files {
		if got, _ := os.ReadFile(filepath.Join(dir, f.Name)); string(got) != f.Text {
			t.Errorf("%s holds %q", f.Name, got)
		}
	}
	if written, err := Install(dir, s.Name, files); err != nil || len(written) != 0 {
		t.Errorf("second Install wrote %v, %v; want nothing", written, err)
	}
	// A changed schedule rewrites only what changed.
	s.On = "daily"
	files2, _ := Units(s)
	if written, err := Install(dir, s.Name, files2); err != nil || !slices.Equal(written, []string{filepath.Join(dir, s.Name+".timer")}) {
		t.Errorf("Install of a new calendar wrote %v, %v; want the timer alone", written, err)
	}
	removed, err := Remove(dir, s.Name)
	if err != nil || len(removed) != 2 {
		t.Fatalf("Remove: %v, %v", removed, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left in %s: %v", dir, left)
	}
	if removed, err := Remove(dir, s.Name); err != nil || len(removed) != 0 {
		t.Errorf("second Remove: %v, %v; want nothing to do", removed, err)
	}
}

func TestInstallRefusesUnitsItDidNotWrite(t *testing.T) {
	for name, text := range map[string]string{
		"a unit of one's own":          "[Unit]\nDescription=mine\n",
		"another schedule's unit":      Marker("fleet-other") + "\n[Unit]\n",
		"the marker further down only": "[Unit]\n" + Marker("fleet-nightly") + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := plainSpec()
			foreign := filepath.Join(dir, s.Name+".timer")
			if err := os.WriteFile(foreign, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			files, _ := Units(s)
			if _, err := Install(dir, s.Name, files); !errors.Is(err, ErrNotOurs) {
				t.Errorf("Install over %q: %v, want ErrNotOurs", text, err)
			}
			if _, err := os.Stat(filepath.Join(dir, s.Name+".service")); err == nil {
				t.Error("Install wrote the service although the timer is in the way")
			}
			if _, err := Remove(dir, s.Name); !errors.Is(err, ErrNotOurs) {
				t.Errorf("Remove of %q: %v, want ErrNotOurs", text, err)
			}
			if got, _ := os.ReadFile(foreign); string(got) != text {
				t.Errorf("the foreign unit changed to %q", got)
			}
		})
	}
}

func TestLockLetsOneRunAtATime(t *testing.T) {
	path := LockPath(t.TempDir(), "fleet-nightly")
	first, err := Acquire(path, "fleet-nightly")
	if err != nil {
		t.Fatal(err)
	}
	// flock conflicts between two opens of the file, in one process too.
	_, err = Acquire(path, "fleet-nightly")
	var running *RunningError
	if !errors.As(err, &running) || running.PID != os.Getpid() {
		t.Fatalf("second Acquire: %v, want a RunningError naming pid %d", err, os.Getpid())
	}
	want := "previous run of fleet-nightly still running (pid " + strconv.Itoa(os.Getpid()) + "), not starting"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	first.Release()
	again, err := Acquire(path, "fleet-nightly")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	again.Release()
}
