package shelltarget

import (
	"context"
	"flag"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/shellgolden"
	"github.com/fleetbench/fleet/internal/target"
)

var update = flag.Bool("update", false, "rewrite the rendered scripts in testdata/rendered")

// recordingHost keeps every command and file the target sends, and
// answers each command with reply.
type recordingHost struct {
	mu     sync.Mutex // files: Put runs for several files at once
	reply  string
	cmds   []string
	stdins map[int][]byte // what each command got on stdin, by index
	files  map[string][]byte
}

func (h *recordingHost) Name() string { return "rec" }
func (h *recordingHost) Exec(_ context.Context, cmd string, stdin io.Reader, stdout, _ io.Writer) (int, error) {
	if stdin != nil {
		data, _ := io.ReadAll(stdin)
		h.stdins[len(h.cmds)] = data
	}
	h.cmds = append(h.cmds, cmd)
	reply := h.reply
	if cmd == `printf '%s' "$HOME"` {
		reply = "/home/bench"
	}
	if stdout != nil {
		io.WriteString(stdout, reply)
	}
	return 0, nil
}
func (h *recordingHost) Put(_ context.Context, f target.File, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files[f.Path] = f.Data
	return nil
}
func (h *recordingHost) Get(context.Context, string, string, GetOptions) error {
	return fs.ErrNotExist
}
func (h *recordingHost) Close() error { return nil }

// hostile holds what breaks naive quoting: quotes, spaces, $, `, newlines.
const hostile = "it's \"$(touch /tmp/pwned)\" `id` $HOME\nline2 \\ %"

// Every command the target runs on a machine and every file it sources
// there, rendered for plain and hostile values into testdata/rendered,
// where the shellcheck test (internal/scriptstest) checks them too.
func TestRenderedShellMatchesGolden(t *testing.T) {
	shellgolden.Check(t, *update, "wrapper.sh", shellgolden.Sh+wrapper)
	for _, tc := range []struct {
		name    string
		workDir string
		spec    target.Spec
	}{
		{"plain", "~/.cache/fleet/work", target.Spec{
			RunID: "20260101-120000", JobID: "sim70b_tp8_conc4", Attempt: 1,
			Env:     map[string]string{"MODEL": "meta-llama/Llama-3.1-70B", "TP": "8"},
			Command: []string{"bash", "scripts/job.sh"},
		}},
		{"hostile", "/tmp/fleet work/" + hostile, target.Spec{
			RunID: "r", JobID: "j", Attempt: 2,
			Env:     map[string]string{"NASTY": hostile, "EMPTY": "", "FLAG": "--tp=8"},
			Secrets: map[string]string{"HF_TOKEN": "hf_'$(x)`y`"},
			Files: []target.File{
				{Path: "scripts/job.sh", Data: []byte("#!/bin/sh\n"), Shared: true, Digest: strings.Repeat("ab", 32)},
				{Path: "a dir/it's.txt", Data: []byte("x"), Shared: true},
			},
			Command: []string{"sh", "-c", `echo "$1"; exit 3`, "A=b", hostile, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &recordingHost{reply: "4242 123456 0b5e7c1d-2f3a-4b5c-8d9e-0f1a2b3c4d5e\n", files: map[string][]byte{}, stdins: map[int][]byte{}}
			tg := New(h, Options{WorkDir: tc.workDir, Grace: 2 * time.Second, Poll: 500 * time.Millisecond})
			ctx := context.Background()
			hd, err := tg.Prepare(ctx, &tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if hd, err = tg.Start(ctx, &tc.spec, hd); err != nil {
				t.Fatal(err)
			}
			if _, err := tg.Wait(ctx, hd); err != nil {
				t.Fatal(err)
			}
			if err := tg.Logs(ctx, hd, io.Discard); err != nil {
				t.Fatal(err)
			}
			if err := tg.Cancel(ctx, hd); err != nil {
				t.Fatal(err)
			}
			if err := tg.Cleanup(ctx, hd); err != nil {
				t.Fatal(err)
			}
			names := []string{}
			if strings.HasPrefix(tc.workDir, "~/") {
				names = append(names, "home")
			}
			names = append(names, "mkdir")
			if len(tc.spec.Files) > 0 {
				names = append(names, "link")
			}
			if len(tc.spec.Secrets) > 0 {
				names = append(names, "secrets")
			}
			names = append(names, "start", "wait", "logs", "cancel", "cleanup")
			if len(h.cmds) != len(names) {
				t.Fatalf("%d commands ran, want %d (%s):\n%s", len(h.cmds), len(names), strings.Join(names, ", "), strings.Join(h.cmds, "\n---\n"))
			}
			for i, cmd := range h.cmds {
				shellgolden.Check(t, *update, tc.name+"-"+names[i]+".sh", shellgolden.Sh+cmd)
				if names[i] == "secrets" {
					shellgolden.Check(t, *update, tc.name+"-secrets.env.sh", shellgolden.Sourced+string(h.stdins[i]))
				}
			}
			if data, ok := h.files[".fleet/env.sh"]; ok {
				shellgolden.Check(t, *update, tc.name+"-env.sh", shellgolden.Sourced+string(data))
			}
		})
	}
}
