package agentic

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// handRecords are two successful profiling requests, a failed one and a
// warmup one, with timings whose metrics are computed by hand below.
func handRecords() []Record {
	return []Record{
		{Seq: 1, Warmup: true, Start: ms(-500), End: ms(-100), TTFT: ms(50), Last: ms(300), ISL: 1000, OSL: 1, OSLExpected: 1, CachedTokens: -1},
		// ITL (1.1-0.1)/10 = 0.1; full (1.2-0.1)/10 = 0.11; E2EL/OSL 0.1.
		{Seq: 2, Start: 0, End: ms(1200), TTFT: ms(100), Last: ms(1100), ISL: 100, OSL: 11, OSLExpected: 11,
			ServerISL: 100, CachedTokens: 50, HitBlocks: 3, Blocks: 4},
		// ITL (2.3-0.3)/4 = 0.5; full the same; E2EL/OSL 0.46.
		{Seq: 3, Start: ms(500), End: ms(2800), TTFT: ms(300), Last: ms(2300), ISL: 300, OSL: 5, OSLExpected: 6,
			ServerISL: -1, CachedTokens: -1, HitBlocks: 1, Blocks: 4},
		{Seq: 4, Start: ms(600), End: ms(700), Err: "HTTP 500: boom", OSLExpected: 9, HitBlocks: 4, Blocks: 4, CachedTokens: -1},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMetricDefinitions(t *testing.T) {
	st := computeStats(handRecords(), 0, 3*time.Second)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"successful", float64(st.Successful), 2},
		{"errors", float64(st.Errors), 1},
		{"warmup", float64(st.Warmup), 1},
		{"ttft mean", st.TTFT.Mean, 0.2},
		{"e2el p90", st.E2EL.P90, 1.1 + 0.9*1.2},
		{"itl mean", st.ITL.Mean, 0.3},
		{"itl p90", st.ITL.P90, 0.1 + 0.9*0.4},
		{"itl std", st.ITL.Std, 0.2},
		{"full itl mean", st.FullITL.Mean, (0.11 + 0.5) / 2},
		{"per-user throughput mean", st.Intvty.Mean, (10 + 2) / 2.0},
		{"e2e norm p50", st.E2ENorm.P50, (0.1 + 0.46) / 2},
		{"duration", st.Duration, 2.8},
		{"input tokens", float64(st.InputTokens), 400},
		{"output tokens", float64(st.OutputTokens), 16},
		{"output expected", float64(st.OutputExpected), 17},
		{"total throughput", st.TotalThroughput, 416 / 2.8},
		{"request throughput", st.RequestThroughput, 2 / 2.8},
		// The failed request's blocks do not count.
		{"theoretical hit rate", st.TheoreticalHitRate(), 4.0 / 8},
		{"cached tokens", float64(st.CachedTokens), 50},
		{"coverage", st.Coverage, 2.8 / 3},
		{"qps windows", float64(st.QPSWindows), 2},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The last token came 0.2 s before the end of a 3 s phase: under 98 %.
	if st.SubmissionValid || len(st.InvalidReasons) != 1 || st.InvalidReasons[0] != "insufficient_profile_metric_coverage" {
		t.Errorf("valid %v %v: want insufficient coverage only", st.SubmissionValid, st.InvalidReasons)
	}
	if st := computeStats(handRecords(), 0, ms(2830)); !st.SubmissionValid {
		t.Errorf("coverage %v: want valid at 2.8 of 2.83 s", st.Coverage)
	}
}

func TestMetricsSkipOneTokenAndMissingTimes(t *testing.T) {
	r := Record{Start: 0, End: ms(10), TTFT: ms(5), Last: ms(5), OSL: 1}
	if _, ok := r.ITL(); ok {
		t.Error("ITL of a one-token answer")
	}
	st := computeStats([]Record{r}, 0, ms(10))
	if st.ITL.Count != 0 || st.TTFT.Count != 1 {
		t.Errorf("itl %d, ttft %d observations: want 0 and 1", st.ITL.Count, st.TTFT.Count)
	}
}

func TestServerHitRateIsCachedOverPromptTokens(t *testing.T) {
	res := &Result{Records: handRecords()}
	// Only the record that reported cached tokens: 50 of its 100.
	if rate, ok := res.ServerHitRate(); !ok || !near(rate, 0.5) {
		t.Errorf("server hit rate %v %v, want 0.5", rate, ok)
	}
}

func TestAggregatedRowMatchesTheHandWrittenRow(t *testing.T) {
	res := &Result{Model: "m", Concurrency: 8, Prompts: "text", Records: handRecords()}
	res.Stats = computeStats(res.Records, 0, 3*time.Second)
	got, err := res.AggregatedRow(RowMeta{
		HW: "h200-nv_0", Image: "vllm/vllm-openai:v0.20.0", RecipeFingerprint: "abc123",
		Model: "deepseek-ai/DeepSeek-R1", ModelPrefix: "dsr1", Framework: "vllm", Precision: "fp8",
		TP: 4, EP: 1, PP: 1, DCPSize: 1, PCPSize: 1, KVOffloading: "dram",
		KVOffloadBackend: &NameVersion{Name: "vllm-simple"}, AllocatedCPUDRAMGB: 1199, Dataset: "cc-traces",
	})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/row.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimRight(want, "\n")) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("row line %d:\n got %s\nwant %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("row has %d lines, want %d", len(gl), len(wl))
	}
}

func TestRowRounding(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{1.0, "1"}, {2.000001, "2"}, {0.999999, "1"}, {0.5, "0.5"}, {0.000001, "0.0"}, {1.234567, "1.23457"},
		{0.000012, "1e-05"}, {1e15, "1000000000000000"}, {-3.0, "-3.0"}, {math.NaN(), "null"},
	} {
		if got := string(appendValue(nil, tc.in, 0)); got != tc.want {
			t.Errorf("%v -> %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestMultiNodeRowDerivesTPAndGPUs(t *testing.T) {
	res := &Result{Concurrency: 4, Prompts: "text", Records: handRecords()}
	res.Stats = computeStats(res.Records, 0, 3*time.Second)
	row, err := res.AggregatedRow(RowMeta{Disagg: true,
		Prefill: &Role{NumWorkers: 2, TP: 4, EP: 4, PP: 1}, Decode: &Role{NumWorkers: 1, TP: 8, EP: 8, PP: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(row)
	for _, want := range []string{`"is_multinode": true`, `"tp": 12`, `"ep": 8`, `"num_prefill_gpu": 8`, `"num_decode_gpu": 8`,
		`"total_tput_tps": 9.28571`} { // 148.57143 / 16 GPUs
		if !strings.Contains(s, want) {
			t.Errorf("row lacks %s", want)
		}
	}
	if _, err := res.AggregatedRow(RowMeta{Prefill: &Role{TP: 1}}); err == nil {
		t.Error("a row with a prefill role and no decode role")
	}
}

func TestSummaryShowsTheRunAtAGlance(t *testing.T) {
	res := &Result{Concurrency: 8, Prompts: "text", Records: handRecords()}
	res.Stats = computeStats(res.Records, 0, 3*time.Second)
	var b strings.Builder
	if err := res.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Prompts:                                 text",
		"Successful requests:                     2",
		"Failed requests:                         1",
		"Warmup requests (not measured):          1",
		"Mean TTFT (ms):                          200.00",
		"P90 ITL (ms):                            460.00",
		"Theoretical hit rate (%):                50.00",
		"Server-reported hit rate (%):            50.00",
		"     1  http_500",
		"Submission valid:                        false (insufficient_profile_metric_coverage)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPerSessionAndPerTurnAggregates(t *testing.T) {
	recs := handRecords()
	recs[1].CorrelationID, recs[1].Turn = "a@1", 0
	recs[2].CorrelationID, recs[2].Turn = "a@1", 1
	recs[3].CorrelationID, recs[3].Turn, recs[3].Overflow = "b@1", 1, true
	res := &Result{Records: recs}
	s := res.Sessions()
	if len(s) != 2 || s[0].CorrelationID != "a@1" || s[0].Requests != 2 || s[0].InputTokens != 400 ||
		!near(s[0].MeanTTFT, 0.2) || !near(s[0].TheoreticalHitRate, 0.5) || s[0].LastEnd != ms(2800) {
		t.Errorf("session a: %+v", s)
	}
	if s[1].Errors != 1 || !s[1].Overflowed {
		t.Errorf("session b: %+v", s[1])
	}
	turns := res.Turns()
	if len(turns) != 2 || turns[0].Requests != 1 || !near(turns[0].MeanITL, 0.1) || !near(turns[0].TheoreticalHitRate, 0.75) ||
		turns[1].Requests != 2 || turns[1].Errors != 1 || !near(turns[1].MeanISL, 300) {
		t.Errorf("turns: %+v", turns)
	}
}
