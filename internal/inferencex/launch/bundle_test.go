package launch

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCheckout builds a small checkout in InferenceX's layout: path ->
// mode (contents are the path itself).
func writeCheckout(t *testing.T, files map[string]os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	for rel, mode := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("contents of "+rel+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	return dir
}

var layout = map[string]os.FileMode{
	"benchmarks/benchmark_lib.sh":                                 0o644,
	"benchmarks/single_node/fixed_seq_len/dsr1_fp4_b200.sh":       0o755,
	"benchmarks/single_node/fixed_seq_len/deprecated/old.sh":      0o755,
	"benchmarks/single_node/agentic/dsv4_fp4_b300_sglang_mtp.sh":  0o700,
	"benchmarks/single_node/__pycache__/x.cpython-312.pyc":        0o644,
	"benchmarks/multi_node/amd_utils/submit.sh":                   0o755,
	"benchmarks/multi_node/srt-slurm-recipes/a/b/c/recipe.yaml":   0o600,
	"utils/process_result.py":                                     0o644,
	"utils/aggregate_power.py":                                    0o644,
	"utils/test_process_result.py":                                0o644,
	"utils/pytest.ini":                                            0o644,
	"utils/merge_with_reuse.sh":                                   0o755,
	"utils/bench_serving/benchmark_serving.py":                    0o755,
	"utils/bench_serving/__pycache__/benchmark_serving.pyc":       0o644,
	"utils/evals/gsm8k.yaml":                                      0o644,
	"utils/evals/test_batched_eval.py":                            0o644,
	"utils/agentic/validation/validate_agentic_result.py":         0o644,
	"utils/agentic/validation/test_validate_agentic_result.py":    0o644,
	"utils/agentic-benchmark/requirements.txt":                    0o644,
	"utils/aiperf/.git":                                           0o644,
	"utils/aiperf/pyproject.toml":                                 0o644,
	"utils/aiperf/tests/test_x.py":                                0o644,
	"utils/aiperf/tests/conftest.py":                              0o644,
	"utils/matrix_logic/generate_sweep_configs.py":                0o644,
	"utils/runner_setup/setup.sh":                                 0o755,
	"configs/nvidia-master.yaml":                                  0o644,
	"runners/launch_b200-cw.sh":                                   0o755,
	"README.md":                                                   0o644,
	".github/workflows/benchmark-tmpl.yml":                        0o644,
	"benchmarks/single_node/fixed_seq_len/deprecated/deeper/x.sh": 0o644,
}

// packed is what the bundle of layout holds, with the modes it gives.
var packed = []struct {
	rel  string
	mode int64
}{
	{"benchmarks/benchmark_lib.sh", 0o644},
	{"benchmarks/multi_node/amd_utils/submit.sh", 0o755},
	{"benchmarks/multi_node/srt-slurm-recipes/a/b/c/recipe.yaml", 0o644},
	{"benchmarks/single_node/agentic/dsv4_fp4_b300_sglang_mtp.sh", 0o755},
	{"benchmarks/single_node/fixed_seq_len/dsr1_fp4_b200.sh", 0o755},
	{"utils/agentic-benchmark/requirements.txt", 0o644},
	{"utils/agentic/validation/validate_agentic_result.py", 0o644},
	{"utils/aggregate_power.py", 0o644},
	{"utils/aiperf/pyproject.toml", 0o644},
	{"utils/bench_serving/benchmark_serving.py", 0o755},
	{"utils/evals/gsm8k.yaml", 0o644},
	{"utils/process_result.py", 0o644},
}

func TestBundlePacksTheNeededTreesDeterministically(t *testing.T) {
	dir := writeCheckout(t, layout)
	cache := t.TempDir()
	b, err := BundleTo(dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	if b.Path != filepath.Join(cache, b.Digest+".tar") {
		t.Errorf("bundle at %s, want it named by its digest in %s", b.Path, cache)
	}
	raw, err := os.ReadFile(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != b.Digest || int64(len(raw)) != b.Size {
		t.Errorf("digest %s size %d do not match the file's (%d bytes)", b.Digest, b.Size, len(raw))
	}
	tr := tar.NewReader(strings.NewReader(string(raw)))
	var i int
	for ; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(packed) {
			t.Errorf("extra entry %s", h.Name)
			continue
		}
		w := packed[i]
		if h.Name != w.rel || h.Mode != w.mode || h.Typeflag != tar.TypeReg {
			t.Errorf("entry %d: %s mode %o type %c, want %s mode %o regular", i, h.Name, h.Mode, h.Typeflag, w.rel, w.mode)
		}
		if !h.ModTime.Equal(bundleTime) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: time %s owner %d:%d %q:%q, want fixed ones", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		body, _ := io.ReadAll(tr)
		if string(body) != "contents of "+h.Name+"\n" {
			t.Errorf("%s holds %q", h.Name, body)
		}
		if !b.Has(h.Name) {
			t.Errorf("Has(%s) = false for a packed file", h.Name)
		}
	}
	if i != len(packed) || len(b.Files) != len(packed) {
		t.Errorf("%d entries, %d files listed, want %d", i, len(b.Files), len(packed))
	}
	if b.Has("utils/test_process_result.py") || b.Has("benchmarks/single_node/fixed_seq_len/deprecated/old.sh") {
		t.Error("Has reports a file left out")
	}

	// Another build, after every file's time changed, into another cache:
	// the same bytes.
	later := time.Now().Add(time.Hour)
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error { return os.Chtimes(p, later, later) })
	again, err := BundleTo(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != b.Digest {
		t.Errorf("rebuilt bundle has digest %s, want %s", again.Digest, b.Digest)
	}

	// Contents name the bundle: a changed script is a new one.
	os.WriteFile(filepath.Join(dir, "benchmarks/benchmark_lib.sh"), []byte("changed\n"), 0o644)
	changed, err := BundleTo(dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Digest == b.Digest {
		t.Error("a changed file left the digest as it was")
	}
	if _, err := os.Stat(b.Path); err != nil {
		t.Errorf("the earlier version went from the cache: %v", err)
	}
}

func TestBundleRefusesLinksInPackedTrees(t *testing.T) {
	dir := writeCheckout(t, layout)
	for _, l := range []struct{ at, to string }{
		{"benchmarks/single_node/fixed_seq_len/dsr1_fp8_h200.sh", "dsr1_fp4_b200.sh"},
		{"utils/evals/secrets", "/etc"},
		// Links where nothing is packed are no concern.
		{"configs/link.yaml", "nvidia-master.yaml"},
		{"benchmarks/single_node/fixed_seq_len/deprecated/link.sh", "old.sh"},
	} {
		if err := os.Symlink(l.to, filepath.Join(dir, filepath.FromSlash(l.at))); err != nil {
			t.Fatal(err)
		}
	}
	cache := t.TempDir()
	_, err := BundleTo(dir, cache)
	if err == nil {
		t.Fatal("bundle built over symbolic links")
	}
	for _, want := range []string{"dsr1_fp8_h200.sh (symbolic link)", "utils/evals/secrets (symbolic link)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	for _, bad := range []string{"configs/link.yaml", "deprecated/link.sh"} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("error %q names %s, which is not packed", err, bad)
		}
	}
	if left, _ := os.ReadDir(cache); len(left) != 0 {
		t.Errorf("a refused bundle left %d files in the cache", len(left))
	}
}

func TestBundleRefusesWhatIsNotACheckoutOrTooBig(t *testing.T) {
	t.Run("no utils directory", func(t *testing.T) {
		dir := writeCheckout(t, map[string]os.FileMode{"benchmarks/benchmark_lib.sh": 0o644})
		if _, err := BundleTo(dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), "utils/") {
			t.Errorf("err %v, want one naming the missing utils/", err)
		}
	})
	t.Run("files past the bound", func(t *testing.T) {
		dir := writeCheckout(t, layout)
		// Sparse: costs no disk, and the size alone must stop the bundle.
		big := filepath.Join(dir, "utils", "evals", "data.jsonl")
		if err := os.WriteFile(big, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(big, MaxBundle+1); err != nil {
			t.Fatal(err)
		}
		cache := t.TempDir()
		_, err := BundleTo(dir, cache)
		if err == nil || !strings.Contains(err.Error(), "256 MiB") || !strings.Contains(err.Error(), "utils/evals/data.jsonl") {
			t.Errorf("err %v, want one naming the bound and the file that passed it", err)
		}
		if left, _ := os.ReadDir(cache); len(left) != 0 {
			t.Errorf("a refused bundle left %d files in the cache", len(left))
		}
	})
}
