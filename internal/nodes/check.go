package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// Host key states in a check Result.
const (
	HostKeyOK      = "ok"
	HostKeyUnknown = "unknown"
	HostKeyChanged = "CHANGED"
	HostKeyRevoked = "REVOKED"
)

// DefaultWorkDir is the remote base directory of jobs when a node does not
// name one, the SSH target's default: under the connecting user's home on
// the node (resolved there), which nobody else may write.
const DefaultWorkDir = shelltarget.DefaultWorkDir

// LowDiskGiB is the free space in the work directory below which a check
// warns: a model server's logs and results are small, but images and
// compiled kernels are not.
const LowDiskGiB = 10

// Result is what fleet nodes check found on one node. Problems make the
// node unfit for benchmarks; warnings do not.
type Result struct {
	Node        string  `json:"node"`
	Host        string  `json:"host"`
	Reachable   bool    `json:"reachable"`
	LatencyMS   float64 `json:"latency_ms,omitempty"`
	HostKey     string  `json:"host_key,omitempty"`
	Fingerprint string  `json:"fingerprint,omitempty"`
	GPUType     string  `json:"gpu_type,omitempty"`
	GPUs        int     `json:"gpus"`
	GPUsBusy    int     `json:"gpus_busy"`
	BusyPIDs    []int   `json:"busy_pids,omitempty"`
	Runtime     string  `json:"runtime"`
	RuntimeOK   bool    `json:"runtime_ok"`
	WorkDir     string  `json:"work_dir,omitempty"`
	DiskFreeGiB float64 `json:"disk_free_gib"`
	HFCache     string  `json:"hf_cache,omitempty"`
	HFCacheOK   bool    `json:"hf_cache_present"`
	// Leases are the controllers that hold the node (or some of its
	// GPUs) now, as the lease files in its work directory say.
	Leases   []shelltarget.Lease `json:"leases,omitempty"`
	Problems []string            `json:"problems,omitempty"`
	Warnings []string            `json:"warnings,omitempty"`
}

// OK reports whether the node passed.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

func (r *Result) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Result) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// pinger is what an SSH host offers beyond shelltarget.Host.
type pinger interface {
	Ping(ctx context.Context) (time.Duration, error)
}

// Check probes node n through h: reachability and host key (SSH nodes),
// GPUs and what holds them, the container runtime, free disk in the work
// directory and the Hugging Face cache. It never returns an error: every
// failure is a Problem of the Result.
func Check(ctx context.Context, h shelltarget.Host, n *config.Node) Result {
	r := Result{Node: n.Name, Host: n.Host, Runtime: n.Runtime}
	if IsLocal(n) {
		r.Host = "(this machine)"
	}
	if p, ok := h.(pinger); ok {
		lat, err := p.Ping(ctx)
		if err != nil {
			r.connectFailed(err)
			return r
		}
		r.LatencyMS = float64(lat.Microseconds()) / 1000
		r.HostKey = HostKeyOK
	}
	r.Reachable = true

	workDir := n.WorkDir
	if workDir == "" {
		workDir = DefaultWorkDir
	}
	r.WorkDir = workDir
	r.HFCache = n.HFCache
	var stdout, stderr bytes.Buffer
	code, err := h.Exec(ctx, probeScript(n.Runtime, workDir, n.HFCache), nil, &stdout, &stderr)
	if err != nil {
		r.problem("probe: %v", err)
		return r
	}
	if code != 0 {
		r.problem("probe exited %d: %s", code, strings.TrimSpace(stderr.String()))
		return r
	}
	r.interpret(n, parseSections(stdout.String()))
	return r
}

func (r *Result) connectFailed(err error) {
	var unknown *ssh.UnknownHostError
	var changed *ssh.HostKeyChangedError
	var revoked *ssh.RevokedHostKeyError
	switch {
	case errors.As(err, &unknown):
		r.Reachable, r.HostKey, r.Fingerprint = true, HostKeyUnknown, unknown.Fingerprint()
	case errors.As(err, &changed):
		r.Reachable, r.HostKey, r.Fingerprint = true, HostKeyChanged, changed.Fingerprint()
	case errors.As(err, &revoked):
		r.Reachable, r.HostKey = true, HostKeyRevoked
	}
	r.problem("%v", err)
}

// remotePath quotes a path for the remote shell, letting a leading ~/
// mean the remote home.
func remotePath(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return `"$HOME"/` + shellquote.Quote(rest)
	}
	if p == "~" {
		return `"$HOME"`
	}
	return shellquote.Quote(p)
}

// probeScript gathers everything in one session, as "@@section" headers
// each followed by its output, so a check costs one round trip.
func probeScript(runtime, workDir, hfCache string) string {
	hf := `"${HF_HOME:-$HOME/.cache/huggingface}"`
	if hfCache != "" {
		hf = remotePath(hfCache)
	}
	var rt string
	switch runtime {
	case "docker":
		rt = `if command -v docker >/dev/null 2>&1; then docker info --format '{{.ServerVersion}}' 2>&1; rc=$?; echo "@@runtime.rc"; echo $rc; else echo "docker: command not found"; echo "@@runtime.rc"; echo 127; fi`
	case "enroot":
		rt = `if command -v enroot >/dev/null 2>&1; then enroot version 2>&1; rc=$?; echo "@@runtime.rc"; echo $rc; else echo "enroot: command not found"; echo "@@runtime.rc"; echo 127; fi`
	default:
		rt = `echo "@@runtime.rc"; echo 0`
	}
	return strings.Join([]string{
		`echo @@uname; uname -sm`,
		`if command -v nvidia-smi >/dev/null 2>&1; then ` +
			`echo @@nvidia; nvidia-smi --query-gpu=index,name,uuid --format=csv,noheader,nounits 2>&1; ` +
			`rc=$?; echo @@nvidia.rc; echo $rc; ` +
			`echo @@nvidia-apps; nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits 2>&1; fi`,
		`if command -v rocm-smi >/dev/null 2>&1; then ` +
			`echo @@rocm; rocm-smi --showproductname --showuse --json 2>&1; echo; ` +
			`echo @@rocm-pids; rocm-smi --showpids --json 2>&1; echo; fi`,
		`echo @@runtime; ` + rt,
		`echo @@df; d=` + remotePath(workDir) + `; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; echo "$d"; df -Pk "$d" | tail -n 1`,
		`echo @@hf; h=` + hf + `; echo "$h"; if [ -d "$h" ]; then echo yes; else echo no; fi`,
		// Who owns the work directory, when it exists: fleet refuses one
		// that another user owns or that others may write.
		`echo @@workdir; id -u; d=` + remotePath(workDir) + `; if [ -e "$d" ]; then ` +
			`stat -L -c '%u %a %U' -- "$d" 2>/dev/null || stat -L -f '%u %Lp %Su' -- "$d" 2>/dev/null; fi`,
		// Who holds the node: the leases of controllers running jobs
		// there, in a subshell of their own (the listing defines its
		// functions and variables, some of which it does not call).
		"echo @@leases\n# shellcheck disable=SC2317\n(" + shelltarget.LeaseListScript(remotePath(workDir)) + ")",
	}, "\n") + "\n"
}

func parseSections(out string) map[string][]string {
	sections := map[string][]string{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, "@@"); ok && name != "" && !strings.ContainsAny(name, " \t") {
			cur = name
			sections[cur] = []string{}
			continue
		}
		if cur != "" && line != "" {
			sections[cur] = append(sections[cur], line)
		}
	}
	return sections
}

func (r *Result) interpret(n *config.Node, s map[string][]string) {
	r.interpretGPUs(n, s)
	// Runtime.
	rc := firstInt(s["runtime.rc"], -1)
	r.RuntimeOK = rc == 0
	if !r.RuntimeOK {
		r.problem("runtime %s not usable: %s", n.Runtime, strings.Join(s["runtime"], " "))
	}
	// Disk.
	if df := s["df"]; len(df) >= 2 {
		if dir := df[0]; dir != r.WorkDir && !strings.HasPrefix(r.WorkDir, "~") {
			r.warn("work dir %s does not exist yet (free space is that of %s)", r.WorkDir, dir)
		}
		// The last line: df may wrap a long device name onto its own line.
		f := strings.Fields(df[len(df)-1])
		if len(f) >= 4 {
			if kib, err := strconv.ParseInt(f[3], 10, 64); err == nil {
				r.DiskFreeGiB = float64(kib) / (1 << 20)
			}
		}
		if r.DiskFreeGiB < LowDiskGiB {
			r.warn("only %.1f GiB free in %s", r.DiskFreeGiB, r.WorkDir)
		}
	} else {
		r.warn("free disk unknown")
	}
	r.interpretWorkDir(s["workdir"])
	leases, refused := shelltarget.ParseLeaseList(s["leases"])
	r.Leases = leases
	for _, why := range refused {
		r.problem("%s", why)
	}
	// Hugging Face cache.
	if hf := s["hf"]; len(hf) >= 2 {
		r.HFCache = hf[0]
		r.HFCacheOK = hf[1] == "yes"
	}
	if !r.HFCacheOK {
		r.warn("no Hugging Face cache at %s: models download on first use", r.HFCache)
	}
}

// interpretWorkDir reads "UID" (the connecting user's) and, when the
// work directory exists, "OWNER_UID MODE OWNER".
func (r *Result) interpretWorkDir(lines []string) {
	if len(lines) < 2 {
		return
	}
	me := strings.TrimSpace(lines[0])
	f := strings.Fields(lines[1])
	if len(f) < 3 {
		return
	}
	if f[0] != me {
		r.problem("work dir %s is owned by %s (uid %s), not by the connecting user (uid %s): fleet will refuse it; remove it or set workdir to a directory only you can write", r.WorkDir, f[2], f[0], me)
	}
	if mode, err := strconv.ParseUint(f[1], 8, 32); err == nil && mode&0o022 != 0 {
		r.problem("work dir %s is writable by its group or others (mode %s): fleet will refuse it; chmod go-w it if you trust what it holds, or remove it", r.WorkDir, f[1])
	}
}

// wantGPUs says whether the node should have real GPUs to check: the
// local node's default "sim" GPUs and relay-only nodes have none.
func wantGPUs(n *config.Node) bool {
	return n.GPUs > 0 && n.GPU != config.LocalGPU
}

func (r *Result) interpretGPUs(n *config.Node, s map[string][]string) {
	var names []string
	busy := map[int]bool{}
	if lines, ok := s["nvidia"]; ok && firstInt(s["nvidia.rc"], -1) == 0 {
		uuidIndex := map[string]int{}
		for _, l := range lines {
			f := splitCSV(l)
			if len(f) < 3 {
				continue
			}
			idx, err := strconv.Atoi(f[0])
			if err != nil {
				continue
			}
			names = append(names, f[1])
			uuidIndex[f[2]] = idx
		}
		for _, l := range s["nvidia-apps"] {
			f := splitCSV(l)
			if len(f) < 2 {
				continue
			}
			pid, err := strconv.Atoi(f[0])
			if err != nil {
				continue
			}
			r.BusyPIDs = append(r.BusyPIDs, pid)
			if idx, ok := uuidIndex[f[1]]; ok {
				busy[idx] = true
			}
		}
	} else if _, ok := s["rocm"]; ok {
		cards := map[string]map[string]string{}
		if err := json.Unmarshal(jsonPart(s["rocm"]), &cards); err == nil {
			keys := make([]string, 0, len(cards))
			for k := range cards {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return cardIndex(keys[i]) < cardIndex(keys[j]) })
			for _, k := range keys {
				if !strings.HasPrefix(k, "card") {
					continue
				}
				names = append(names, cards[k]["Card Series"])
				if use, err := strconv.Atoi(strings.TrimSpace(cards[k]["GPU use (%)"])); err == nil && use > 0 {
					busy[cardIndex(k)] = true
				}
			}
		}
		var pids map[string]map[string]string
		if err := json.Unmarshal(jsonPart(s["rocm-pids"]), &pids); err == nil {
			for k := range pids["system"] {
				if pid, err := strconv.Atoi(strings.TrimPrefix(k, "PID")); err == nil {
					r.BusyPIDs = append(r.BusyPIDs, pid)
				}
			}
			sort.Ints(r.BusyPIDs)
		}
	}
	r.GPUs = len(names)
	r.GPUsBusy = len(busy)
	if len(names) > 0 {
		r.GPUType = names[0]
		for _, nm := range names[1:] {
			if nm != r.GPUType {
				r.warn("mixed GPU types: %s and %s", r.GPUType, nm)
				break
			}
		}
	}
	if !wantGPUs(n) {
		return
	}
	switch {
	case len(names) == 0:
		r.problem("no GPUs found (neither nvidia-smi nor rocm-smi answered)")
	case len(names) < n.GPUs:
		r.problem("found %d GPUs, the inventory says %d", len(names), n.GPUs)
	}
	if len(names) > 0 && n.GPU != "" && !sameGPU(n.GPU, r.GPUType) {
		r.problem("GPU is %q, the inventory says %s", r.GPUType, n.GPU)
	}
	if r.GPUsBusy > 0 {
		var idx []int
		for i := range busy {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		r.warn("GPUs in use: %s (pids %s)", joinInts(idx), joinInts(r.BusyPIDs))
	}
}

// sameGPU compares an inventory label (h200, mi300x) with a device name
// (NVIDIA H200, AMD Instinct MI300X OAM).
func sameGPU(label, name string) bool {
	norm := func(s string) string {
		return strings.NewReplacer(" ", "", "-", "", "_", "").Replace(strings.ToLower(s))
	}
	return strings.Contains(norm(name), norm(label))
}

func splitCSV(line string) []string {
	f := strings.Split(line, ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f
}

func jsonPart(lines []string) []byte {
	all := strings.Join(lines, "\n")
	if i := strings.Index(all, "{"); i >= 0 {
		all = all[i:]
	}
	return []byte(all)
}

func cardIndex(k string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(k, "card"))
	if err != nil {
		return 1 << 30
	}
	return i
}

func firstInt(lines []string, def int) int {
	if len(lines) == 0 {
		return def
	}
	i, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil {
		return def
	}
	return i
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
