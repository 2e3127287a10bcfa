package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// pythonRun is what testdata/pyclient.py measured in one run.
type pythonRun struct {
	Chunks int     `json:"chunks"`
	Failed int     `json:"failed"`
	CPU    float64 `json:"cpu_s"`
	TTFTMs float64 `json:"median_ttft_ms"`
	ITLMs  float64 `json:"median_itl_ms"`
}

// runPythonClient runs a Python streaming client (testdata/pyclient.py:
// asyncio and aiohttp, doing per chunk what the Python bench_serving
// client does) with py against url: requests requests of outLen tokens,
// streams at a time.
func runPythonClient(b *testing.B, py, url string, streams, requests, outLen int) pythonRun {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/pyclient.py", url, "sim-model",
		fmt.Sprint(streams), fmt.Sprint(requests), fmt.Sprint(outLen)).Output()
	if err != nil {
		b.Fatalf("pyclient.py: %v\n%s", err, out)
	}
	var r pythonRun
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("pyclient.py printed %q: %v", out, err)
	}
	if r.Chunks == 0 {
		b.Fatalf("pyclient.py read no chunks: %s", out)
	}
	return r
}

// pythonWithAiohttp is the first python3 that imports aiohttp: the one on
// PATH, else the system's (a pyenv or venv python on PATH may lack the
// Debian package's module); "" when there is none.
func pythonWithAiohttp() string {
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		py, err := exec.LookPath(name)
		if err == nil && exec.Command(py, "-c", "import aiohttp").Run() == nil {
			return py
		}
	}
	return ""
}
