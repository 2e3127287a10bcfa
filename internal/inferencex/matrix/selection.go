package matrix

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Generator modes (its subcommands).
const (
	FullSweep  = "full-sweep"
	TestConfig = "test-config"
)

// Selection is what the generator's command line selects. The zero value
// (with Mode FullSweep) is a full sweep of every config.
type Selection struct {
	// Mode is FullSweep or TestConfig ("" means FullSweep).
	Mode string

	// ConfigFiles and RunnerConfig are the generator's --config-files and
	// --runner-config, for Load (empty: InferenceX's defaults).
	ConfigFiles  []string
	RunnerConfig string

	// Test-config only: config keys or * / ? globs (each must match), and
	// the concurrencies to keep (empty: all).
	ConfigKeys []string
	Conc       []int

	// SeqLens keeps only these fixed-seq-len pairs: "1k1k", "8k1k".
	SeqLens []string

	// Full-sweep filters. ModelPrefix matches the start of the config KEY
	// (not its model-prefix field); the others match fields exactly.
	ModelPrefix, Precision, Framework, RunnerType []string
	// StepSize multiplies concurrency ranges (0 means 2; else > 1).
	StepSize int
	// MinConc, MaxConc, MaxTP and MaxEP are nil when not given.
	MinConc, MaxConc, MaxTP, MaxEP *int
	// SingleNode and MultiNode: neither means both.
	SingleNode, MultiNode bool

	// Eval selection: at most one of NoEvals and EvalsOnly; AllEvals not
	// with NoEvals.
	NoEvals, EvalsOnly, AllEvals bool

	// ScenarioTypes keeps only these scenario types ("fixed-seq-len",
	// "agentic-coding"; empty: both).
	ScenarioTypes []string
	// RunnerNodeFilter, when set, repeats each job per runner name (of
	// the config's label) containing it.
	RunnerNodeFilter string
}

// seqLens are the generator's only sequence-length names.
var seqLens = map[string][2]int{"1k1k": {1024, 1024}, "8k1k": {8192, 1024}}

var scenarioTypes = []string{"fixed-seq-len", "agentic-coding"}

// Check reports a selection the generator's command line refuses.
func (s Selection) Check() error {
	switch s.Mode {
	case "", FullSweep, TestConfig:
	default:
		return fmt.Errorf("mode %q: want %s or %s", s.Mode, FullSweep, TestConfig)
	}
	if s.NoEvals && s.EvalsOnly {
		return fmt.Errorf("--no-evals and --evals-only exclude each other")
	}
	if s.NoEvals && s.AllEvals {
		return fmt.Errorf("--all-evals cannot be combined with --no-evals")
	}
	for _, sl := range s.SeqLens {
		if _, ok := seqLens[sl]; !ok {
			return fmt.Errorf("--seq-lens %q: want 1k1k or 8k1k", sl)
		}
	}
	for _, st := range s.ScenarioTypes {
		if !contains(scenarioTypes, st) {
			return fmt.Errorf("--scenario-type %q: want %s", st, strings.Join(scenarioTypes, " or "))
		}
	}
	if s.Mode == TestConfig {
		if len(s.ConfigKeys) == 0 {
			return fmt.Errorf("test-config needs --config-keys")
		}
		if len(s.ModelPrefix)+len(s.Precision)+len(s.Framework)+len(s.RunnerType) > 0 || s.StepSize != 0 ||
			s.MinConc != nil || s.MaxConc != nil || s.MaxTP != nil || s.MaxEP != nil || s.SingleNode || s.MultiNode {
			return fmt.Errorf("test-config takes no full-sweep filters (model prefix, precision, framework, runner type, step size, min/max conc, max tp/ep, single/multi-node)")
		}
		return nil
	}
	if len(s.ConfigKeys) > 0 || len(s.Conc) > 0 {
		return fmt.Errorf("--config-keys and --conc belong to test-config, not full-sweep")
	}
	if s.StepSize != 0 && s.StepSize <= 1 {
		return fmt.Errorf("--step-size must be greater than 1, not %d", s.StepSize)
	}
	if s.MinConc != nil && s.MaxConc != nil && *s.MinConc > *s.MaxConc {
		return fmt.Errorf("--min-conc (%d) must be less than or equal to --max-conc (%d)", *s.MinConc, *s.MaxConc)
	}
	return nil
}

// option is one generator option: its destination and how many values
// it takes.
type option struct {
	name  string
	modes string // "both", FullSweep or TestConfig
	flag  *bool
	one   func(string) error
	many  func([]string) error
}

// ParseArgs reads the generator's own command line (what follows
// generate_sweep_configs.py; a leading "python3 .../generate_sweep_configs.py"
// is skipped), so a user can paste one: `full-sweep --config-files A B
// --runner-config R --single-node --evals-only`. Long options may be
// abbreviated to a unique prefix and given as --name=value, as argparse
// allows.
func ParseArgs(args []string) (Selection, error) {
	for len(args) > 0 && (strings.HasPrefix(path.Base(args[0]), "python") || strings.HasSuffix(args[0], ".py")) {
		args = args[1:]
	}
	var s Selection
	if len(args) == 0 {
		return s, fmt.Errorf("missing mode: %s or %s", FullSweep, TestConfig)
	}
	s.Mode = args[0]
	if s.Mode != FullSweep && s.Mode != TestConfig {
		return s, fmt.Errorf("invalid mode %q: want %s or %s", s.Mode, FullSweep, TestConfig)
	}
	step := 2
	intPtr := func(dst **int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("invalid int value %q", v)
			}
			*dst = &n
			return nil
		}
	}
	strs := func(dst *[]string) func([]string) error {
		return func(v []string) error { *dst = append([]string(nil), v...); return nil }
	}
	opts := []option{
		{name: "config-files", modes: "both", many: strs(&s.ConfigFiles)},
		{name: "runner-config", modes: "both", one: func(v string) error { s.RunnerConfig = v; return nil }},
		{name: "no-evals", modes: "both", flag: &s.NoEvals},
		{name: "evals-only", modes: "both", flag: &s.EvalsOnly},
		{name: "all-evals", modes: "both", flag: &s.AllEvals},
		{name: "runner-node-filter", modes: "both", one: func(v string) error { s.RunnerNodeFilter = v; return nil }},
		{name: "scenario-type", modes: "both", many: strs(&s.ScenarioTypes)},
		{name: "seq-lens", modes: "both", many: strs(&s.SeqLens)},
		{name: "model-prefix", modes: FullSweep, many: strs(&s.ModelPrefix)},
		{name: "precision", modes: FullSweep, many: strs(&s.Precision)},
		{name: "framework", modes: FullSweep, many: strs(&s.Framework)},
		{name: "runner-type", modes: FullSweep, many: strs(&s.RunnerType)},
		{name: "step-size", modes: FullSweep, one: func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("invalid int value %q", v)
			}
			step = n
			return nil
		}},
		{name: "min-conc", modes: FullSweep, one: intPtr(&s.MinConc)},
		{name: "max-conc", modes: FullSweep, one: intPtr(&s.MaxConc)},
		{name: "max-tp", modes: FullSweep, one: intPtr(&s.MaxTP)},
		{name: "max-ep", modes: FullSweep, one: intPtr(&s.MaxEP)},
		{name: "single-node", modes: FullSweep, flag: &s.SingleNode},
		{name: "multi-node", modes: FullSweep, flag: &s.MultiNode},
		{name: "config-keys", modes: TestConfig, many: strs(&s.ConfigKeys)},
		{name: "conc", modes: TestConfig, many: func(v []string) error {
			s.Conc = nil
			for _, x := range v {
				n, err := strconv.Atoi(x)
				if err != nil {
					return fmt.Errorf("invalid int value %q", x)
				}
				s.Conc = append(s.Conc, n)
			}
			return nil
		}},
	}
	var valid []option
	for _, o := range opts {
		if o.modes == "both" || o.modes == s.Mode {
			valid = append(valid, o)
		}
	}
	rest := args[1:]
	for len(rest) > 0 {
		arg := rest[0]
		rest = rest[1:]
		if !strings.HasPrefix(arg, "--") || arg == "--" {
			return s, fmt.Errorf("%s: unrecognized argument %q", s.Mode, arg)
		}
		name, inline, hasInline := strings.Cut(arg[2:], "=")
		o, err := findOption(valid, name, s.Mode)
		if err != nil {
			return s, err
		}
		var values []string
		if hasInline {
			values = []string{inline}
		} else if o.flag == nil {
			for len(rest) > 0 && !isOption(rest[0]) && (o.many != nil || len(values) == 0) {
				values = append(values, rest[0])
				rest = rest[1:]
			}
		}
		switch {
		case o.flag != nil:
			if hasInline {
				return s, fmt.Errorf("--%s takes no value", o.name)
			}
			*o.flag = true
		case len(values) == 0:
			return s, fmt.Errorf("--%s needs a value", o.name)
		case o.one != nil:
			if err := o.one(values[0]); err != nil {
				return s, fmt.Errorf("--%s: %w", o.name, err)
			}
		default:
			if err := o.many(values); err != nil {
				return s, fmt.Errorf("--%s: %w", o.name, err)
			}
		}
	}
	if s.Mode == FullSweep {
		if step <= 1 {
			return s, fmt.Errorf("--step-size must be greater than 1, not %d", step)
		}
		s.StepSize = step
	}
	if err := s.Check(); err != nil {
		return s, err
	}
	return s, nil
}

// isOption tells an option from a value the way argparse does: a
// leading '-' makes an option unless it is a negative number.
func isOption(a string) bool {
	if !strings.HasPrefix(a, "-") || a == "-" {
		return false
	}
	_, err := strconv.ParseFloat(a, 64)
	return err != nil
}

func findOption(valid []option, name, mode string) (option, error) {
	var matches []option
	for _, o := range valid {
		if o.name == name {
			return o, nil
		}
		if strings.HasPrefix(o.name, name) && name != "" {
			matches = append(matches, o)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return option{}, fmt.Errorf("%s: unrecognized option --%s", mode, name)
	}
	names := make([]string, len(matches))
	for i, o := range matches {
		names[i] = "--" + o.name
	}
	return option{}, fmt.Errorf("%s: ambiguous option --%s could match %s", mode, name, strings.Join(names, ", "))
}
