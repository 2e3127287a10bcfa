package jobrun

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type member struct {
	name, link string
	typ        byte
	body       string
}

func tarOf(t *testing.T, gz bool, ms ...member) []byte {
	t.Helper()
	var b bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	} = nopCloser{&b}
	if gz {
		w = gzip.NewWriter(&b)
	}
	tw := tar.NewWriter(w)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Linkname: m.link, Typeflag: m.typ, Mode: 0o4755, Size: int64(len(m.body))}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if m.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func TestUnpackBundle(t *testing.T) {
	good := []member{
		{name: "benchmarks/", typ: tar.TypeDir},
		{name: "benchmarks/benchmark_lib.sh", typ: tar.TypeReg, body: "lib"},
		{name: "./utils/bench_serving/benchmark_serving.py", typ: tar.TypeReg, body: "client"},
		{name: "benchmarks/lib.sh", typ: tar.TypeSymlink, link: "benchmark_lib.sh"},
		{name: "utils/copy.py", typ: tar.TypeLink, link: "utils/bench_serving/benchmark_serving.py"},
	}
	tests := []struct {
		name    string
		gz      bool
		members []member
		wantErr string
	}{
		{name: "files, directories and inside links", members: good},
		{name: "gzip", gz: true, members: good},
		{name: "a member climbing out", members: []member{{name: "../evil", typ: tar.TypeReg, body: "x"}}, wantErr: "leaves the workspace"},
		{name: "an absolute member", members: []member{{name: "/tmp/evil", typ: tar.TypeReg}}, wantErr: "relative"},
		{name: "a link pointing out", members: []member{{name: "out", typ: tar.TypeSymlink, link: "../../etc"}}, wantErr: "outside the workspace"},
		{name: "an absolute link", members: []member{{name: "out", typ: tar.TypeSymlink, link: "/etc/passwd"}}, wantErr: "outside the workspace"},
		{name: "a member through a link", members: []member{
			{name: "d", typ: tar.TypeDir}, {name: "l", typ: tar.TypeSymlink, link: "d"}, {name: "l/x", typ: tar.TypeReg, body: "x"}},
			wantErr: "below a link"},
		{name: "a hard link pointing out", members: []member{{name: "h", typ: tar.TypeLink, link: "../secret"}}, wantErr: "leaves the workspace"},
		{name: "a device", members: []member{{name: "dev", typ: tar.TypeChar}}, wantErr: "unsupported member type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			bundle := filepath.Join(root, "b.tar")
			if err := os.WriteFile(bundle, tarOf(t, tt.gz, tt.members...), 0o644); err != nil {
				t.Fatal(err)
			}
			ws := filepath.Join(root, "work", "ix")
			if err := os.MkdirAll(ws, 0o755); err != nil {
				t.Fatal(err)
			}
			// What an earlier attempt left goes.
			if err := os.WriteFile(filepath.Join(ws, "stale.json"), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := unpackBundle(bundle, ws)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if _, err := os.Stat(filepath.Join(root, "evil")); err == nil {
					t.Errorf("a file was written outside the workspace")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(ws, "stale.json")); err == nil {
				t.Errorf("the workspace was not emptied")
			}
			for p, want := range map[string]string{"benchmarks/benchmark_lib.sh": "lib", "benchmarks/lib.sh": "lib", "utils/copy.py": "client"} {
				b, err := os.ReadFile(filepath.Join(ws, p))
				if err != nil || string(b) != want {
					t.Errorf("%s: %q %v, want %q", p, b, err, want)
				}
			}
			fi, err := os.Stat(filepath.Join(ws, "benchmarks/benchmark_lib.sh"))
			if err != nil || fi.Mode()&os.ModeSetuid != 0 || fi.Mode().Perm() != 0o755 {
				t.Errorf("mode %v (%v), want 0755 without set-id bits", fi.Mode(), err)
			}
		})
	}
}

func TestCopyOut(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "r.json")
	if err := os.WriteFile(src, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "out")
	if err := copyOut(src, dst, 100, false); err != nil {
		t.Fatal(err)
	}
	if err := copyOut(filepath.Join(dir, "link.json"), dst, 100, false); err == nil || !strings.Contains(err.Error(), "link") {
		t.Errorf("a link was copied: %v", err)
	}
	if err := copyOut(src, dst, 4, false); err == nil || !strings.Contains(err.Error(), "over the 4 allowed") {
		t.Errorf("an oversized result was copied: %v", err)
	}
	if err := copyOut(src, dst, 4, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "6789" {
		t.Errorf("log tail %q, want the last 4 bytes", b)
	}
	if err := copyOut(dir, dst, 100, false); err == nil {
		t.Errorf("a directory was copied")
	}
}
