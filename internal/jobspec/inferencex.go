package jobspec

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
)

// Clients of an InferenceX job.
const (
	ClientInferenceX = "inferencex" // the checkout's own utils/bench_serving client
	ClientFleet      = "fleet"      // fleet bench, given the same arguments
)

// Variables of the environment contract that carry an InferenceX job to
// scripts/server/inferencex.sh (scripts/README.md).
const (
	// EnvWorkspace is the workspace, relative to the work directory: the
	// container's /workspace.
	EnvWorkspace = "FLEET_WORKSPACE"
	// EnvInferenceXScript is the benchmark script, relative to the
	// workspace.
	EnvInferenceXScript = "FLEET_INFERENCEX_SCRIPT"
	// EnvInferenceXNames lists, space separated, the variables the script
	// gets inside its container (by name, never by value in argv).
	EnvInferenceXNames = "FLEET_INFERENCEX_ENV"
)

// fleetDirs are the work directory's own entries: a workspace there
// would be emptied over them.
var fleetDirs = []string{"scripts", "bin", ".fleet", "logs", "results", "job.log"}

// reservedIX are names an InferenceX section may not set: fleet sets them
// (the port it chose, the GPUs it assigned, the machine's cache and
// runtime), they would break the container, or they are secrets, which
// travel by env_from and never in a job file.
var reservedIX = []string{"PORT", "PATH", "HOME", "RUNTIME", "HF_HOME", "HF_TOKEN", "GPUS",
	"CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"}

func reservedIXEnv(k string) bool {
	return slices.Contains(reservedIX, k) || strings.HasPrefix(k, "FLEET_")
}

// relPath checks a slash-separated path relative to the work directory
// that must stay inside it.
func relPath(p string) error {
	switch {
	case strings.TrimSpace(p) == "":
		return fmt.Errorf("missing")
	case strings.ContainsAny(p, "\\\x00\n\r"):
		return fmt.Errorf("%q: want a slash-separated path", p)
	case path.IsAbs(p):
		return fmt.Errorf("%q: want a path relative to the work directory", p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Errorf("%q: '..' is not allowed", p)
	case path.Clean(p) == ".":
		return fmt.Errorf("%q: want a path below the work directory", p)
	}
	return nil
}

// validate checks the InferenceX section; bad reports each problem under
// the section's JSON names.
func (x *InferenceX) validate(bad func(field, format string, args ...any)) {
	if err := relPath(x.Bundle); err != nil {
		bad("inferencex.bundle", "%v", err)
	}
	ws := path.Clean(x.Workspace)
	if err := relPath(x.Workspace); err != nil {
		bad("inferencex.workspace", "%v", err)
	} else {
		if slices.Contains(fleetDirs, strings.Split(ws, "/")[0]) {
			bad("inferencex.workspace", "%q: the work directory's own %s cannot hold it", x.Workspace, strings.Split(ws, "/")[0])
		}
		// pyxis reads its mount list split at ',' and ':'.
		if strings.ContainsAny(x.Workspace, ",:") {
			bad("inferencex.workspace", "%q: ',' and ':' cannot be in a container mount", x.Workspace)
		}
		if b := path.Clean(x.Bundle); b == ws || strings.HasPrefix(b, ws+"/") {
			bad("inferencex.bundle", "%q is inside the workspace, which is emptied before it is unpacked", x.Bundle)
		}
	}
	if err := relPath(x.Script); err != nil {
		bad("inferencex.script", "%v", err)
	} else if s := path.Clean(x.Script); !strings.HasPrefix(s, "benchmarks/") || !strings.HasSuffix(s, ".sh") {
		bad("inferencex.script", "%q: want a benchmarks/.../<name>.sh script of the checkout", x.Script)
	}
	rf := x.ResultFilename
	if strings.TrimSpace(rf) == "" {
		bad("inferencex.result_filename", "missing")
	} else if strings.ContainsAny(rf, "/\\\x00\n\r") || rf == "." || rf == ".." {
		bad("inferencex.result_filename", "%q must be a file name, not a path", rf)
	}
	if x.Client != ClientInferenceX && x.Client != ClientFleet {
		bad("inferencex.client", "%q: want %q or %q", x.Client, ClientInferenceX, ClientFleet)
	}
	for k, v := range x.Env {
		switch {
		case !validName(k):
			bad("inferencex.env", "variable name %q: want letters, digits and _ only, not starting with a digit", k)
		case reservedIXEnv(k):
			bad("inferencex.env", "%s is set by fleet (or, for secrets, by env_from), not by the job", k)
		case strings.ContainsRune(v, 0):
			bad("inferencex.env", "%s holds a NUL byte", k)
		}
	}
	if v, ok := x.Env["RESULT_FILENAME"]; ok && v != rf {
		bad("inferencex.env", "RESULT_FILENAME %q differs from result_filename %q: the script would write a file fleet never reads", v, rf)
	}
}

// env adds the InferenceX path's variables to a job's environment:
// every variable of the section's Env over the contract (the script sees
// the launcher's values), RESULT_FILENAME as the script's result name,
// HF_HUB_CACHE inside the machine's cache when the section leaves it
// unset (job.sh's download lands where the script's `hf download` looks),
// and the launcher's own FLEET_WORKSPACE, FLEET_INFERENCEX_SCRIPT and
// FLEET_INFERENCEX_ENV.
func (x *InferenceX) env(env map[string]string, hfHome string) {
	for k, v := range x.Env {
		env[k] = v
	}
	env["RESULT_FILENAME"] = x.ResultFilename
	names := []string{"RESULT_FILENAME"}
	if _, ok := x.Env["HF_HUB_CACHE"]; !ok && hfHome != "" {
		env["HF_HUB_CACHE"] = strings.TrimSuffix(hfHome, "/") + "/hub"
		names = append(names, "HF_HUB_CACHE")
	}
	for k := range x.Env {
		if !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	env[EnvWorkspace] = path.Clean(x.Workspace)
	env[EnvInferenceXScript] = path.Clean(x.Script)
	env[EnvInferenceXNames] = strings.Join(names, " ")
}
