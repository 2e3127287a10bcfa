package bench_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/bench"
	"github.com/fleetbench/fleet/internal/sim"
)

// simChildEnv, when set in a test binary's environment, makes the binary
// serve a fixed-timing simulator instead of running tests: the CPU
// benchmark runs its server in a child process so that getrusage of the
// test process counts the client's CPU only.
const simChildEnv = "FLEET_BENCH_SIM_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(simChildEnv); spec != "" {
		os.Exit(serveSimChild(spec))
	}
	os.Exit(m.Run())
}

// serveSimChild serves a fixed-timing simulator (spec is "TTFT,ITL"),
// prints its address on stdout and serves until stdin closes.
func serveSimChild(spec string) int {
	ttftS, itlS, _ := strings.Cut(spec, ",")
	ttft, err1 := time.ParseDuration(ttftS)
	itl, err2 := time.ParseDuration(itlS)
	if err1 != nil || err2 != nil {
		fmt.Fprintf(os.Stderr, "sim child: bad %s=%q\n", simChildEnv, spec)
		return 2
	}
	s, err := sim.New(fixedSim(ttft, itl))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim child:", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim child:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // EOF when the parent goes
		cancel()
	}()
	fmt.Println("http://" + ln.Addr().String())
	if err := s.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "sim child:", err)
		return 1
	}
	return 0
}

// startSimChild starts this test binary again as a simulator server and
// returns its URL; the cleanup stops it.
func startSimChild(tb testing.TB, ttft, itl time.Duration) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s", simChildEnv, ttft, itl))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("simulator child printed no address: %v", err)
	}
	return strings.TrimSpace(line)
}

// processCPU is the CPU time (user and system) this process used so far:
// with the server in a child process, the client's alone.
func processCPU() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// pythonCPUPerMChunk is bench_serving's CPU-seconds per million streamed
// chunks at 64, 256 and 1024 streams, as stated from a side-by-side run
// against the same fixed-timing server (Python is not run here): there
// fleet's client, at about 8.0 µs a chunk, spent 0.55, 1.47 and 4.87 CPU-s
// where the Python client spent 1.36, 4.1 and 9.97 on the same chunks, so
// Python's cost per chunk is 8.0 µs times each ratio. The run that gave
// them was on a quieter machine than a shared one, so the ratio is a
// guide; figures of this benchmark taken on one machine compare directly.
var pythonCPUPerMChunk = map[int]float64{
	64:   8.0 * 1.36 / 0.55,
	256:  8.0 * 4.1 / 1.47,
	1024: 8.0 * 9.97 / 4.87,
}

// BenchmarkClientCPU measures the client's CPU per streamed chunk against
// a fixed-timing simulator (TTFT 50 ms, ITL 10 ms) in a child process:
// each iteration is one run of 2 x `streams` requests of 256 output
// tokens, `streams` in flight at a time. It reports tokens/s, the chunks read, the
// client's CPU-seconds per million chunks (getrusage of this process; the
// server's CPU is in the child and not counted), the Python client's
// stated figure and the ratio of the two, and the median TTFT and ITL
// errors so that a speed-up that costs accuracy shows. Where python3 has
// aiohttp (Debian: apt-get install python3-aiohttp) it also runs a Python
// client (testdata/pyclient.py) once against the same server and load and
// reports its CPU per million chunks, measured on this machine, and the
// ratio to it:
//
//	go test -run '^$' -bench ClientCPU -benchtime 1x ./internal/bench/
//
// Add -cpuprofile cpu.out to see where the client's time goes.
func BenchmarkClientCPU(b *testing.B) {
	const ttft, itl, outLen = 50 * time.Millisecond, 10 * time.Millisecond, 256
	for _, streams := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			url := startSimChild(b, ttft, itl)
			cfg := simBench(url, streams, 2*streams, outLen)
			cfg.NumWarmups = 0
			// One untimed short run warms the child and the client's code.
			warm := cfg
			warm.Random.OutputLen = 4
			if _, err := bench.Run(context.Background(), warm, nil); err != nil {
				b.Fatal(err)
			}
			var tokens, seconds, ttftErr, itlErr float64
			var cpu, sys time.Duration
			var chunks, failed int
			for b.Loop() {
				u0, s0 := processCPU()
				res, err := bench.Run(context.Background(), cfg, nil)
				u1, s1 := processCPU()
				cpu += u1 - u0 + s1 - s0
				sys += s1 - s0
				if err != nil {
					b.Fatal(err)
				}
				tokens += float64(res.TotalOutputTokens)
				// The simulator sends one token per chunk.
				chunks += res.TotalOutputTokens
				seconds += res.Duration
				m, _ := res.Metric("ttft")
				ttftErr += m.Median - float64(ttft)/1e6
				m, _ = res.Metric("itl")
				itlErr += m.Median - float64(itl)/1e6
				failed += res.Failed
			}
			n := float64(b.N)
			perM := cpu.Seconds() / float64(chunks) * 1e6
			b.ReportMetric(tokens/seconds, "tokens/s")
			b.ReportMetric(float64(chunks)/n, "chunks/run")
			b.ReportMetric(perM, "cpu-s/Mchunk")
			b.ReportMetric(100*sys.Seconds()/cpu.Seconds(), "%sys")
			b.ReportMetric(pythonCPUPerMChunk[streams], "python-cpu-s/Mchunk")
			b.ReportMetric(pythonCPUPerMChunk[streams]/perM, "x-less-than-python")
			b.ReportMetric(ttftErr/n, "ttft-err-ms")
			b.ReportMetric(itlErr/n*1000, "itl-err-µs")
			b.ReportMetric(float64(failed)/n, "failed/run")
			if py := pythonWithAiohttp(); py != "" {
				r := runPythonClient(b, py, url, streams, 2*streams, outLen)
				pyPerM := r.CPU / float64(r.Chunks) * 1e6
				b.ReportMetric(pyPerM, "python-measured-cpu-s/Mchunk")
				b.ReportMetric(pyPerM/perM, "x-less-than-python-measured")
				b.ReportMetric(r.TTFTMs-float64(ttft)/1e6, "python-ttft-err-ms")
			}
		})
	}
}
