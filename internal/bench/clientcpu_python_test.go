package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkClientCPUPython runs a Python streaming client
// (testdata/pyclient.py: asyncio and aiohttp, doing per chunk what the
// Python bench_serving client does) against the same simulator and load
// as BenchmarkClientCPU, so that fleet's figure stands beside one
// measured on the same machine rather than only the stated one. It needs
// python3 with aiohttp (Debian: apt-get install python3-aiohttp) and
// says so when they are missing:
//
//	go test -run '^$' -bench 'ClientCPU' -benchtime 1x ./internal/bench/
func BenchmarkClientCPUPython(b *testing.B) {
	const ttft, itl, outLen = 50 * time.Millisecond, 10 * time.Millisecond, 256
	py := pythonWithAiohttp()
	if py == "" {
		b.Skip("needs python3 with aiohttp (Debian: apt-get install python3-aiohttp)")
	}
	for _, streams := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			url := startSimChild(b, ttft, itl)
			var cpu, ttftMs, itlMs float64
			var chunks, failed int
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				out, err := exec.CommandContext(ctx, py, "testdata/pyclient.py", url, "sim-model",
					fmt.Sprint(streams), fmt.Sprint(2*streams), fmt.Sprint(outLen)).Output()
				cancel()
				if err != nil {
					b.Fatalf("pyclient.py: %v\n%s", err, out)
				}
				var r struct {
					Chunks int     `json:"chunks"`
					Failed int     `json:"failed"`
					CPU    float64 `json:"cpu_s"`
					TTFTMs float64 `json:"median_ttft_ms"`
					ITLMs  float64 `json:"median_itl_ms"`
				}
				if err := json.Unmarshal(out, &r); err != nil {
					b.Fatalf("pyclient.py printed %q: %v", out, err)
				}
				cpu += r.CPU
				chunks += r.Chunks
				failed += r.Failed
				ttftMs += r.TTFTMs
				itlMs += r.ITLMs
			}
			n := float64(b.N)
			b.ReportMetric(float64(chunks)/n, "chunks/run")
			b.ReportMetric(cpu/float64(chunks)*1e6, "python-measured-cpu-s/Mchunk")
			b.ReportMetric(pythonCPUPerMChunk[streams], "python-stated-cpu-s/Mchunk")
			b.ReportMetric(ttftMs/n-float64(ttft)/1e6, "ttft-err-ms")
			b.ReportMetric((itlMs/n-float64(itl)/1e6)*1000, "itl-err-µs")
			b.ReportMetric(float64(failed)/n, "failed/run")
		})
	}
}

// pythonWithAiohttp is the first python3 that imports aiohttp: the one on
// PATH, else the system's (a pyenv or venv python on PATH may lack the
// Debian package's module).
func pythonWithAiohttp() string {
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		py, err := exec.LookPath(name)
		if err == nil && exec.Command(py, "-c", "import aiohttp").Run() == nil {
			return py
		}
	}
	return ""
}
