package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The end-to-end check of agentic replay: fleet bench replaying
// the demo corpus against fleet sim with a KV cache writes InferenceX's
// agentic row, and the server-reported prefix-cache hit rate matches the
// trace's theoretical one (within 5 points) when the cache holds every
// live session, and falls far below it when it does not.
func TestAgenticReplayHitRateFollowsTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("two replays of 10 s")
	}
	for _, tc := range []struct {
		name  string
		cache string
		large bool
	}{
		{"a cache that holds every session", "2000000", true},
		{"a cache of a few sessions' blocks", "20000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			startSimProc(t, "--port", port, "--model", "m", "--kv-cache-tokens", tc.cache, "--time-scale", "0.05")
			waitHealth(t, "http://127.0.0.1:"+port, 200)
			dir := t.TempDir()
			code, stdout, stderr := runFleet(t, nil, "bench", "--base-url", "http://127.0.0.1:"+port, "--model", "m",
				"--dataset-name", "cc-traces", "--dataset-path", filepath.Join("..", "..", "sweeps", "traces", "demo.jsonl"),
				"--max-concurrency", "8", "--benchmark-duration", "10", "--warmup-requests-per-lane", "1",
				"--server-metrics", "http://127.0.0.1:"+port+"/metrics", "--save-result", "--result-dir", dir, "--result-filename", "row.json")
			if code != ExitOK {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			b, err := os.ReadFile(filepath.Join(dir, "row.json"))
			if err != nil {
				t.Fatal(err)
			}
			var row struct {
				ScenarioType   string `json:"scenario_type"`
				RequestMetrics struct {
					Cache struct {
						Theoretical float64 `json:"theoretical_cache_hit_rate"`
					} `json:"cache"`
					Throughput struct {
						PerGPU struct {
							Total float64 `json:"total_tput_tps"`
						} `json:"per_gpu"`
					} `json:"throughput"`
				} `json:"request_metrics"`
				ServerMetrics struct {
					Cache struct {
						Overall *float64 `json:"overall_cache_hit_rate"`
					} `json:"cache"`
				} `json:"server_metrics"`
			}
			if err := json.Unmarshal(b, &row); err != nil {
				t.Fatal(err)
			}
			theo, server := row.RequestMetrics.Cache.Theoretical, row.ServerMetrics.Cache.Overall
			if row.ScenarioType != "agentic-coding" || server == nil || theo < 0.8 || row.RequestMetrics.Throughput.PerGPU.Total <= 0 {
				t.Fatalf("row: %s", b)
			}
			if tc.large && math.Abs(*server-theo) > 0.05 {
				t.Errorf("server hit rate %.3f, theoretical %.3f: want within 5 points with a cache that holds everything", *server, theo)
			}
			if !tc.large && *server > theo/2 {
				t.Errorf("server hit rate %.3f with a small cache, theoretical %.3f: want well below it", *server, theo)
			}
		})
	}
}
