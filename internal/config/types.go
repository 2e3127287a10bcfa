// Package config reads the two files a user writes: the inventory of
// machines (nodes and Slurm clusters) and sweep files of benchmark configs,
// in HCL or JSON, and validates them with diagnostics that point at
// file:line:col.
package config

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/topology"
	"github.com/hashicorp/hcl/v2"
)

// LocalNode is the name of the built-in node for this machine (no SSH).
const LocalNode = "local"

// Inventory is every machine fleet may use.
type Inventory struct {
	Path     string // the file it was read from; empty for the built-in default
	Nodes    []*Node
	Clusters []*Cluster
}

// Node is one machine reached over SSH (or this machine, for "local").
type Node struct {
	Name         string
	Host         string
	Port         int // default 22
	User         string
	IdentityFile string
	Jump         []string // ProxyJump chain, outermost first: "user@host:port" or node names
	GPU          string   // GPU type label: h100, h200, b200, mi300x, ...
	GPUs         int      // GPU count, default 8
	Labels       []string
	WorkDir      string // remote base directory for job work dirs
	Runtime      string // docker | enroot | none
	HFCache      string
	Env          map[string]string // non-secret variables for every job on the node
	EnvFrom      []string          // names of controller variables passed as secrets
	Packing      bool              // run several jobs at once on disjoint GPUs
	Range        hcl.Range         // where it was declared, for diagnostics

	jumpRange hcl.Range
}

// Cluster is a Slurm cluster driven through its login node.
type Cluster struct {
	Name        string
	Login       string // a node name from the inventory, or "local" on the login node itself
	Partition   string
	Account     string
	GPU         string
	GPUsPerNode int
	MaxNodes    int // how many jobs may run at once
	TimeLimit   string
	Container   string // pyxis | none
	SquashDir   string
	WorkDir     string // on a filesystem shared by login and compute nodes
	HFCache     string
	SbatchArgs  []string
	Env         map[string]string
	EnvFrom     []string
	Range       hcl.Range

	loginRange hcl.Range
}

// Sweep is one sweep file: configs expanded into jobs by package plan.
type Sweep struct {
	Path     string // the file it was read from
	Client   Client
	Timeouts Timeouts
	Retries  int
	// Canary, when enabled, runs a short job per (GPU type, framework,
	// image) before the sweep; FailFast stops the sweep at the first job
	// that fails for good.
	Canary   Canary
	FailFast bool
	// OnFinish is a local command (argv, no shell) run when the sweep
	// ends, with the run's summary as JSON on its stdin.
	OnFinish []string
	Configs  []*BenchConfig
	// InferenceX is the sweep's inferencex block, when it has one: jobs
	// expanded from an InferenceX checkout's own master configs.
	InferenceX *InferenceXSource
	// Eval is the sweep's eval block, for configs without their own.
	Eval *Eval
}

// ExpandHome turns a leading ~ (alone or before /) into the user's home
// directory, as a shell would; other paths come back as they are.
func ExpandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// InferenceXSource is an InferenceX checkout as a source of jobs.
type InferenceXSource struct {
	Dir          string   // the checkout, as written (~ and relative paths allowed)
	ConfigFiles  []string // master configs, relative to Dir; empty: InferenceX's two
	RunnerConfig string   // runners.yaml, relative to Dir; empty: configs/runners.yaml
	Client       string   // inferencex (the checkout's client) or fleet (fleet bench)
	ConfigKeys   []string // keep only these config keys (globs); empty: all
	Nodes        string   // both, single or multi
	Evals        string   // default, none, only or all (the generator's eval flags)
	Range        hcl.Range
}

// Client holds the benchmark client's settings, InferenceMAX's by default.
type Client struct {
	RangeRatio     float64   // 0.8
	PromptsPerConc int       // 10
	WarmupsPerConc int       // 2
	Percentiles    []float64 // [90, 99, 99.9]
	ExtraArgs      []string  // passed to fleet bench as they are
}

// Timeouts bound each phase of a job.
type Timeouts struct {
	ServerStart time.Duration // health wait
	Benchmark   time.Duration
	Job         time.Duration
}

// BenchConfig is one InferenceMAX master-config entry.
type BenchConfig struct {
	Key         string // "dsr1-fp8-h200-sglang"
	Image       string
	Model       string
	ModelPrefix string
	Precision   string
	Framework   string   // vllm | sglang | trt | sim
	Runner      []string // gpu labels, node or cluster names
	Scenarios   []*Scenario
	ServerArgs  []string
	Env         map[string]string
	Client      Client // defaults merged with per-config overrides
	Range       hcl.Range

	// Eval is the config's eval block, or the sweep's; nil: no evals.
	Eval *Eval

	runnerRange hcl.Range
}

// Scenario is one (ISL, OSL) pair with its search space, or an agentic
// block: a trace replay (Agentic set, ISL, OSL and MaxModelLen zero, and
// every band's Offload set).
type Scenario struct {
	Name        string // "1k1k"
	ISL, OSL    int
	MaxModelLen int // 0: isl + osl + 256
	Search      []*Search
	Agentic     *Agentic
	Range       hcl.Range
}

// Search is one band of the search space.
type Search struct {
	TP, EP, PP int
	DPAttn     bool
	Conc       []int // explicit list, or expanded from conc_start..conc_end doubling
	// Multi is set for a multi-node band (prefill, decode and router
	// blocks): TP, EP, PP and DPAttn are then unset, and the band is one
	// job that deploys the shape once and runs every concurrency of Conc
	// against it.
	Multi *topology.Shape
	// Offload is set for a band of an agentic block: its KV offload.
	// Such a band is one job per concurrency, multi-node or not (a
	// trace-replay client runs one concurrency at a time).
	Offload *Offload
	// Spec lists the band's speculative decoding settings (spec.go): one
	// job per setting and concurrency. nil when neither the band nor its
	// config names spec (SpecsOf gives such a band one unnamed setting).
	Spec  []Spec
	Range hcl.Range

	tpRange hcl.Range
}
