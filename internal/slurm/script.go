package slurm

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/shellquote"
	"github.com/fleetbench/fleet/internal/target"
)

// batchTemplate is the sbatch script of one job attempt. Directives come
// first (sbatch stops reading them at the first command). Every value is
// quoted by the template's functions: `sh` for the shell, and the
// directives were quoted for sbatch's own parser when they were built.
//
// The script runs job.sh in the background and waits for it, so that it
// can forward signals and record job.sh's exit status in .fleet/exit, as
// the shell target's wrapper does. Slurm sends USR1 (--signal) ahead of
// the time limit: the job is stopped gracefully (job.sh stops its server
// and frees the GPUs), then the script waits for Slurm to end the job, so
// that the job still ends as TIMEOUT rather than as an ordinary failure.
var batchTemplate = template.Must(template.New("sbatch").Funcs(template.FuncMap{"sh": shellquote.Quote}).Parse(`#!/bin/bash
{{- range .Directives}}
#SBATCH {{.}}
{{- end}}
# Written by fleet for one attempt of one job; the inventory's cluster
# settings and the sweep decide what is above. Runs scripts/job.sh in the
# job's work directory, on a filesystem the login and compute nodes share.
cd {{sh .WorkDir}} || exit 97
# A requeued job (node failure, preemption) runs this script again: nothing
# the lost run left may pass for a result of this run.
rm -rf .fleet/exit .fleet/rendezvous.json results
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
  echo "[fleet] requeued by Slurm: run $((SLURM_RESTART_COUNT + 1)) of job $SLURM_JOB_ID on $(hostname)"
fi
[ -f .fleet/env.sh ] && . ./.fleet/env.sh
# Secrets (mode 0600) are sourced, never passed in argv, and the file goes
# at once: it is on a filesystem many nodes share. A run that Slurm
# requeued finds none; if its model needs them its download fails, and
# fleet retries the job with a fresh attempt and a fresh secrets file.
if [ -f .fleet/secrets.env ]; then . ./.fleet/secrets.env; rm -f .fleet/secrets.env; fi
trap 'rm -f .fleet/secrets.env' EXIT
finish() {
  echo "$1" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit
  exit "$1"
}
{{- if .Image}}
# The container image is imported once per image into a squash file that
# every job of the cluster shares, under a lock: concurrent imports of one
# image on a shared filesystem fail (stale handles, full temp space).
sqsh={{sh .Squash}}
mkdir -p "${sqsh%/*}" || finish {{.ImportFailed}}
(
  flock -w 7200 9 || { echo "[fleet] no lock on $sqsh.lock after 2 hours" >&2; exit 1; }
  if [ -s "$sqsh" ] && { ! command -v unsquashfs >/dev/null 2>&1 || unsquashfs -s "$sqsh" >/dev/null 2>&1; }; then
    echo "[fleet] image already imported: $sqsh"
    exit 0
  fi
  rm -f "$sqsh" "$sqsh.part"
  echo "[fleet] importing" {{sh .ImageURI}} "into $sqsh"
  enroot import -o "$sqsh.part" {{sh .ImageURI}} && mv -f "$sqsh.part" "$sqsh"
) 9>"$sqsh.lock" || { echo "[fleet] container image import failed" >&2; finish {{.ImportFailed}}; }
{{- end}}
{{- if .Workspace}}
# An InferenceX job's workspace is the container's /workspace: the mount
# needs the directory before the container starts (fleet job fills it).
mkdir -p {{sh .Workspace}} || finish 97
{{- end}}
child=""
stopping=""
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' USR1
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT HUP
{{.Command}} < /dev/null &
child=$!
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
if [ -n "$stopping" ]; then
  echo "$rc" > .fleet/exit.tmp && mv .fleet/exit.tmp .fleet/exit
  rm -f .fleet/secrets.env
  echo "[fleet] stopped ahead of the time limit; Slurm ends the job at the limit (TIMEOUT)"
  exec sleep 2147483647
fi
finish "$rc"
`))

// scriptInput is one job attempt as the script renderer needs it.
type scriptInput struct {
	Name    string // --job-name
	WorkDir string
	Spec    *target.Spec
}

// scriptData is what the template sees.
type scriptData struct {
	Directives []string
	WorkDir    string
	Command    string // already quoted
	Image      string // set when the job runs in a pyxis container
	ImageURI   string // enroot's docker://REGISTRY#IMAGE form
	Squash     string
	// Workspace is an InferenceX job's workspace (absolute), mounted at
	// /workspace in the pyxis container.
	Workspace string
	// ImportFailed is the exit code of a failed image import.
	ImportFailed int
}

// renderScript renders the sbatch script of one job attempt.
func renderScript(o *Options, in scriptInput) ([]byte, error) {
	spec := in.Spec
	if len(spec.Command) == 0 {
		return nil, errors.New("render sbatch script: empty command")
	}
	if !path.IsAbs(in.WorkDir) {
		return nil, fmt.Errorf("render sbatch script: work dir %q is not absolute", in.WorkDir)
	}
	if strings.Contains(in.WorkDir, `\`) {
		// Slurm strips backslashes from --output paths (they switch off
		// its %-patterns), so the log would land elsewhere.
		return nil, fmt.Errorf("render sbatch script: work dir %q: Slurm cannot write output under a path with a backslash", in.WorkDir)
	}
	// fleet job, on the node, moves the server off a taken port: the
	// script passes PORT on as the engine chose it.
	d := scriptData{WorkDir: in.WorkDir, ImportFailed: jobspec.ExitImageImport}
	var args []string
	add := func(opt, val string) { args = append(args, opt+"="+val) }
	add("--job-name", in.Name)
	if o.Partition != "" {
		add("--partition", o.Partition)
	}
	if o.Account != "" {
		add("--account", o.Account)
	}
	nodes := max(spec.Nodes, 1)
	args = append(args, "--nodes="+strconv.Itoa(nodes))
	if nodes > 1 {
		// One task per node: each runs that node's part of the job.
		args = append(args, "--ntasks-per-node=1")
	}
	if spec.GPUs > 0 {
		if o.GPUsPerNodeFlag {
			add("--gpus-per-node", strconv.Itoa(spec.GPUs))
		} else {
			add("--gres", "gpu:"+strconv.Itoa(spec.GPUs))
		}
	}
	if !o.Shared {
		// A benchmark shares its node with nothing: a neighbour's job skews
		// the numbers (InferenceMAX's regression without it).
		args = append(args, "--exclusive")
	}
	limit, err := timeLimit(o.TimeLimit, spec.Timeout)
	if err != nil {
		return nil, err
	}
	if limit != "" {
		add("--time", limit)
		add("--signal", "B:USR1@"+strconv.Itoa(signalLead(limit)))
	}
	log := slurmFilename(path.Join(in.WorkDir, "job.log"))
	add("--chdir", in.WorkDir)
	add("--output", log)
	add("--error", log)
	// A requeued run appends to the same log, so the first run's output
	// (why it was lost) stays readable.
	args = append(args, "--open-mode=append")
	args = append(args, o.SbatchArgs...)
	for _, a := range args {
		q, err := sbatchQuote(a)
		if err != nil {
			return nil, fmt.Errorf("render sbatch script: %w", err)
		}
		d.Directives = append(d.Directives, q)
	}

	d.Command = shellquote.Join(spec.Command...)
	// A multi-node job runs on every node of the allocation, one task
	// each, and each task learns its rank in the layout from Slurm.
	// Tasks are not killed when one exits badly: the head node ends the
	// job on every node through its rendezvous, and a node whose head is
	// gone stops on its own.
	rankCmd := shellquote.Join("bash", "-c", `export `+jobspec.NodeRankEnv+`="$SLURM_PROCID"; exec "$@"`, "fleet-node")
	tasks := []string{"--ntasks=1"}
	if nodes > 1 {
		tasks = []string{"--nodes=" + strconv.Itoa(nodes), "--ntasks=" + strconv.Itoa(nodes), "--ntasks-per-node=1"}
		d.Command = shellquote.Join(append([]string{"srun"}, append(tasks, "--export=ALL")...)...) +
			` --cpus-per-task="${SLURM_CPUS_ON_NODE:-1}" ` + rankCmd + " " + d.Command
	}
	if o.Container == ContainerPyxis && spec.Env["IMAGE"] != "" {
		img := spec.Env["IMAGE"]
		d.Image = img
		d.ImageURI = enrootURI(img)
		d.Squash = path.Join(o.squashDir(), squashName(img))
		mounts := []string{in.WorkDir}
		if o.HFCache != "" {
			mounts = append(mounts, o.HFCache)
		}
		var m []string
		for _, p := range mounts {
			// srun splits the list at commas and each entry at colons.
			if strings.ContainsAny(p, ",:") {
				return nil, fmt.Errorf("render sbatch script: path %q cannot be a container mount (it holds ',' or ':')", p)
			}
			m = append(m, p+":"+p)
		}
		if ws := spec.Env[jobspec.EnvWorkspace]; ws != "" {
			// InferenceX's scripts expect their checkout at /workspace, as
			// its launchers mount it.
			c := path.Clean(ws)
			if path.IsAbs(c) || c == "." || c == ".." || strings.HasPrefix(c, "../") || strings.ContainsAny(c, ",:") {
				return nil, fmt.Errorf("render sbatch script: workspace %q: want a path below the work directory, without ',' or ':'", ws)
			}
			d.Workspace = path.Join(in.WorkDir, c)
			m = append(m, d.Workspace+":/workspace")
		}
		// The squash file path must start with / for pyxis to take it as
		// a file rather than an image name.
		srun := append(append([]string{"srun"}, tasks...), "--container-image="+d.Squash,
			"--container-mounts="+strings.Join(m, ","), "--container-workdir="+in.WorkDir,
			"--no-container-entrypoint", "--export=ALL")
		cmd := shellquote.Join(spec.Command...)
		if nodes > 1 {
			cmd = rankCmd + " " + cmd
		}
		// The step gets every CPU of the allocation: srun's default of one
		// CPU per task would starve the inference server.
		d.Command = shellquote.Join(srun...) + ` --cpus-per-task="${SLURM_CPUS_ON_NODE:-1}" ` + cmd
	}
	var b bytes.Buffer
	if err := batchTemplate.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("render sbatch script: %w", err)
	}
	return b.Bytes(), nil
}

// sbatchQuote quotes one argument for an #SBATCH line. sbatch reads those
// lines with its own parser, not a shell's: double and single quotes group,
// a backslash escapes the next character even inside quotes, and an
// unquoted # starts a comment. Double quotes with \ and " escaped survive
// that parser exactly. A line break cannot be carried at all.
func sbatchQuote(s string) (string, error) {
	if strings.ContainsAny(s, "\n\r\x00") {
		return "", fmt.Errorf("sbatch argument %q holds a line break or NUL", s)
	}
	if s != "" && safeDirective.MatchString(s) {
		return s, nil
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	// Keep the option name outside the quotes for readability.
	if i := strings.IndexByte(s, '='); i > 0 && strings.HasPrefix(s, "--") && safeDirective.MatchString(s[:i]) {
		return s[:i+1] + `"` + r.Replace(s[i+1:]) + `"`, nil
	}
	return `"` + r.Replace(s) + `"`, nil
}

var safeDirective = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_-]+$`)

// slurmFilename escapes a path for --output/--error, where Slurm replaces
// %j, %N, ... and %% stands for a percent sign.
func slurmFilename(p string) string { return strings.ReplaceAll(p, "%", "%%") }

// timeLimit is the job's --time: the cluster's time_limit when the
// inventory sets one (the site's rule), else the job timeout rounded up to
// whole minutes.
func timeLimit(cluster string, timeout time.Duration) (string, error) {
	if cluster != "" {
		if _, ok := limitMinutes(cluster); !ok && !strings.EqualFold(cluster, "unlimited") && !strings.EqualFold(cluster, "infinite") {
			return "", fmt.Errorf("time limit %q: want minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS", cluster)
		}
		return cluster, nil
	}
	if timeout <= 0 {
		return "", nil
	}
	return strconv.Itoa(int(math.Ceil(timeout.Minutes()))), nil
}

// limitMinutes reads the --time formats sbatch accepts: M, M:S, H:M:S, D-H,
// D-H:M, D-H:M:S.
func limitMinutes(s string) (float64, bool) {
	days := 0
	rest := s
	if d, r, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, false
		}
		days, rest = n, r
	}
	parts := strings.Split(rest, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, false
		}
		nums[i] = n
	}
	var min float64
	if s != rest { // D-H, D-H:M, D-H:M:S
		switch len(nums) {
		case 1:
			min = float64(nums[0] * 60)
		case 2:
			min = float64(nums[0]*60 + nums[1])
		case 3:
			min = float64(nums[0]*60+nums[1]) + float64(nums[2])/60
		default:
			return 0, false
		}
	} else {
		switch len(nums) {
		case 1:
			min = float64(nums[0])
		case 2:
			min = float64(nums[0]) + float64(nums[1])/60
		case 3:
			min = float64(nums[0]*60+nums[1]) + float64(nums[2])/60
		default:
			return 0, false
		}
	}
	return float64(days*24*60) + min, true
}

// signalLead is how many seconds before the time limit Slurm warns the
// script (--signal): long enough for job.sh to stop a server, short against
// the limit. Slurm may send it up to a minute early.
func signalLead(limit string) int {
	m, ok := limitMinutes(limit)
	switch {
	case !ok:
		return 120
	case m <= 2:
		return 10
	case m <= 20:
		return 30
	default:
		return 120
	}
}

// enrootURI turns an image reference into enroot's docker:// URI, where a
// registry is separated from the image by '#': nvcr.io/nvidia/pytorch:25.01
// becomes docker://nvcr.io#nvidia/pytorch:25.01.
func enrootURI(image string) string {
	image = strings.TrimPrefix(image, "docker://")
	if strings.Contains(image, "#") {
		return "docker://" + image
	}
	if first, rest, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return "docker://" + first + "#" + rest
	}
	return "docker://" + image
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// squashName names an image's squash file the way enroot does (separators
// become '+'), so one image is imported once whatever job asks for it.
func squashName(image string) string {
	image = strings.TrimPrefix(image, "docker://")
	return strings.Trim(unsafeName.ReplaceAllString(image, "+"), "+.") + ".sqsh"
}
