package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
)

// maxFailedRatio is the share of failed requests above which a client
// result does not count as a successful job (InferenceMAX's rule).
const maxFailedRatio = 0.05

// ImportOptions fill in what imported files do not say.
type ImportOptions struct {
	// RunID puts every imported file into this run. Without it a fleet
	// row keeps its run_id, a client result goes into import-<date> after
	// the date it records, and anything else into import-<path name>.
	RunID string
	// HW is the GPU type of every file; without it, the file's hw key or
	// the runner name in an InferenceMAX file name (h200-cw_0) says.
	HW string
}

// Import outcomes of one file or row.
const (
	FileImported   = "imported"
	FileReplaced   = "replaced"   // the store had another result for the same run and job
	FileDuplicate  = "duplicate"  // this very file was imported before
	FileSuperseded = "superseded" // a later result for the same job came in the same import
	FileSkipped    = "skipped"    // not a result file (found while walking a directory)
	FileRun        = "run"        // a fleet run directory, imported whole
)

// FileResult is what happened to one imported file (or one row of a file
// holding several).
type FileResult struct {
	Path   string
	RunID  string
	JobID  string
	Status string
	Note   string
}

// ImportReport lists the outcome of every file an import looked at.
type ImportReport struct {
	Files []FileResult
}

// Count returns how many files ended with status.
func (r *ImportReport) Count(status string) int {
	n := 0
	for _, f := range r.Files {
		if f.Status == status {
			n++
		}
	}
	return n
}

// candidate is one job parsed from a file, before it is written.
type candidate struct {
	idx  int   // into report.Files
	more []int // into report.Files: the job's further rows, which share its outcome
	run  Run
	job  Job
	date time.Time
}

// ImportFiles imports bench_serving result files (the client's raw JSON,
// as InferenceMAX and vLLM write them), InferenceMAX's aggregated JSON
// (one row or an array of rows, fleet's own row.json and exports
// included) and fleet run directories. Directories are walked. A file
// named on the command line that is none of these is an error; one found
// while walking is skipped. Importing the same files again changes
// nothing.
func (s *Store) ImportFiles(ctx context.Context, paths []string, opts ImportOptions) (*ImportReport, error) {
	rep := &ImportReport{}
	if opts.RunID != "" {
		if err := run.CheckID(opts.RunID); err != nil {
			return rep, fmt.Errorf("import: %w", err)
		}
	}
	var cands []*candidate
	for _, arg := range paths {
		cs, err := s.collect(ctx, arg, opts, rep)
		if err != nil {
			return rep, err
		}
		cands = append(cands, cs...)
	}
	keep := latestPerJob(cands, rep)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.upsertCandidateRuns(ctx, tx, keep); err != nil {
			return err
		}
		for _, c := range keep {
			if err := recordCandidate(ctx, tx, c, &rep.Files[c.idx]); err != nil {
				return err
			}
			for _, i := range c.more {
				rep.Files[i].Status, rep.Files[i].Note = rep.Files[c.idx].Status, rep.Files[c.idx].Note
			}
		}
		return nil
	})
	return rep, err
}

// collect reads one import argument: a file, or a directory walked for
// result files, whose fleet run directories are imported whole on the way.
func (s *Store) collect(ctx context.Context, arg string, opts ImportOptions, rep *ImportReport) ([]*candidate, error) {
	st, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", arg, err)
	}
	if !st.IsDir() {
		return s.parseFile(arg, arg, opts, rep)
	}
	var cands []*candidate
	err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if IsRunDir(path) && (opts.RunID == "" || path == arg) {
				stats, err := s.ImportRun(ctx, path)
				if err != nil {
					return err
				}
				rep.Files = append(rep.Files, FileResult{Path: path, RunID: stats.RunID, Status: FileRun,
					Note: fmt.Sprintf("%d jobs, %d rows", stats.Jobs, stats.Rows)})
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".json") {
			return nil
		}
		cs, err := s.parseFile(path, arg, opts, rep)
		if err != nil {
			rep.Files = append(rep.Files, FileResult{Path: path, Status: FileSkipped, Note: err.Error()})
			return nil
		}
		cands = append(cands, cs...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", arg, err)
	}
	return cands, nil
}

// latestPerJob keeps, when several results land on one job, the latest (by
// the date the client recorded, then by order): a rerun replaces its flaky
// predecessor instead of adding a second row.
func latestPerJob(cands []*candidate, rep *ImportReport) []*candidate {
	winner := map[[2]string]*candidate{}
	for _, c := range cands {
		k := [2]string{c.job.RunID, c.job.ID}
		if prev, ok := winner[k]; ok {
			if prev.date.After(c.date) {
				c.supersede(rep)
				continue
			}
			prev.supersede(rep)
		}
		winner[k] = c
	}
	var keep []*candidate
	for _, c := range cands {
		if rep.Files[c.idx].Status != FileSuperseded {
			keep = append(keep, c)
		}
	}
	return keep
}

// supersede marks the candidate's rows superseded in rep.
func (c *candidate) supersede(rep *ImportReport) {
	for _, i := range append([]int{c.idx}, c.more...) {
		rep.Files[i].Status = FileSuperseded
	}
}

// upsertCandidateRuns records the runs the candidates belong to, each
// starting at its earliest result.
func (s *Store) upsertCandidateRuns(ctx context.Context, tx *sql.Tx, keep []*candidate) error {
	runs := map[string]Run{}
	var runOrder []string
	for _, c := range keep {
		r, ok := runs[c.run.ID]
		if !ok {
			runOrder = append(runOrder, c.run.ID)
			r = c.run
		}
		if !c.run.Started.IsZero() && (r.Started.IsZero() || c.run.Started.Before(r.Started)) {
			r.Started = c.run.Started
		}
		runs[c.run.ID] = r
	}
	for _, id := range runOrder {
		if err := s.upsertRun(ctx, tx, runs[id]); err != nil {
			return err
		}
	}
	return nil
}

// recordCandidate records one result unless this very file was imported
// before, and says in fr what happened.
func recordCandidate(ctx context.Context, tx *sql.Tx, c *candidate, fr *FileResult) error {
	var prevRun, prevJob string
	err := tx.QueryRowContext(ctx, `SELECT run_id, job_id FROM jobs WHERE source_sha256 = ? LIMIT 1`, c.job.SourceSHA256).Scan(&prevRun, &prevJob)
	if err == nil {
		fr.Status, fr.Note = FileDuplicate, "already imported as run "+prevRun+" job "+prevJob
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("look up %s: %w", fr.Path, err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE run_id = ? AND job_id = ?`, c.job.RunID, c.job.ID).Scan(&n); err != nil {
		return fmt.Errorf("look up %s: %w", fr.Path, err)
	}
	fr.Status = FileImported
	if n > 0 {
		fr.Status = FileReplaced
	}
	if err := upsertJob(ctx, tx, c.job); err != nil {
		return fmt.Errorf("import %s: %w", fr.Path, err)
	}
	return nil
}

// parseFile reads one file into candidates and notes it in rep.
func (s *Store) parseFile(path, arg string, opts ImportOptions, rep *ImportReport) ([]*candidate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	abs, _ := filepath.Abs(arg)
	out, err := parseResults(raw, path, abs, opts)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	for _, c := range out {
		c.idx = len(rep.Files)
		rep.Files = append(rep.Files, FileResult{Path: path, RunID: c.job.RunID, JobID: c.job.ID})
		for range c.job.Rows[1:] {
			c.more = append(c.more, len(rep.Files))
			rep.Files = append(rep.Files, FileResult{Path: path, RunID: c.job.RunID, JobID: c.job.ID})
		}
	}
	return out, nil
}

// parseResults reads the contents of one file (path, found under the
// import argument abs) into candidates. Every row is checked: a number
// that is not finite or out of range, or a run id that cannot name a run
// directory, refuses the file.
func parseResults(raw []byte, path, abs string, opts ImportOptions) ([]*candidate, error) {
	sum := sha256.Sum256(raw)
	sha := hex.EncodeToString(sum[:])
	stem := strings.TrimSuffix(filepath.Base(path), ".json")
	trimmed := bytes.TrimSpace(raw)
	var objs []map[string]json.RawMessage
	switch {
	case bytes.HasPrefix(trimmed, []byte("[")):
		if err := json.Unmarshal(trimmed, &objs); err != nil {
			return nil, fmt.Errorf("not a list of result rows: %w", err)
		}
	default:
		var o map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &o); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		objs = []map[string]json.RawMessage{o}
	}
	var out []*candidate
	for i, o := range objs {
		var c *candidate
		var err error
		ixName, isIX := ixresult.ParseName(stem)
		switch {
		case o["total_token_throughput"] != nil && isIX:
			c, err = ixClientCandidate(raw, o, stem, ixName, opts)
		case o["total_token_throughput"] != nil:
			c, err = clientCandidate(raw, o, stem, opts)
		case o["request_metrics"] != nil && string(o["scenario_type"]) == `"`+results.ScenarioAgentic+`"`:
			// InferenceX's (or fleet's) aggregated agentic row: its
			// throughputs live under request_metrics.
			var row *results.Row
			var b []byte
			if b, err = json.Marshal(o); err == nil {
				if row, err = results.ParseAgenticRow(b); err == nil {
					if b, err = json.Marshal(row); err == nil {
						c, err = rowCandidate(b, stem, len(objs) > 1, opts)
					}
				}
			}
		case o["tput_per_gpu"] != nil:
			var b []byte
			b, err = json.Marshal(o)
			if err == nil {
				c, err = rowCandidate(b, stem, len(objs) > 1, opts)
			}
		default:
			err = errors.New("neither a bench_serving result (no total_token_throughput) nor an aggregated row (no tput_per_gpu)")
		}
		if err == nil {
			if c.job.RunID == "" {
				c.job.RunID = importRunID(filepath.Base(abs))
			}
			err = c.check()
		}
		if err != nil {
			if len(objs) > 1 {
				return nil, fmt.Errorf("row %d: %w", i+1, err)
			}
			return nil, err
		}
		c.job.SourceSHA256 = sha
		if len(objs) > 1 {
			c.job.SourceSHA256 = sha + ":" + strconv.Itoa(i)
		}
		c.job.Rows[0].RunID, c.job.Rows[0].JobID = c.job.RunID, c.job.ID
		c.run = Run{ID: c.job.RunID, Source: SourceImport, Location: abs, Started: c.date}
		out = append(out, c)
	}
	return jobsOfRows(out), nil
}

// jobsOfRows makes one candidate of the rows of one file that name the
// same job at different concurrencies: the rows of a multi-node job, as
// its row file and fleet's exports hold them. Two rows of one job at one
// concurrency stay apart (the later supersedes the earlier).
func jobsOfRows(cands []*candidate) []*candidate {
	out := cands[:0]
	byJob := map[[2]string]*candidate{}
	for _, c := range cands {
		k := [2]string{c.job.RunID, c.job.ID}
		if prev := byJob[k]; prev != nil && !slices.ContainsFunc(prev.job.Rows, func(r *results.Row) bool { return r.Conc == c.job.Rows[0].Conc }) {
			prev.job.Rows = append(prev.job.Rows, c.job.Rows...)
			continue
		}
		byJob[k] = c
		out = append(out, c)
	}
	return out
}

// check refuses a candidate whose row holds numbers a row cannot, or
// whose run id could not name a run directory (fleet report writes into
// results/<run id>/).
func (c *candidate) check() error {
	for _, r := range c.job.Rows {
		if err := r.Check(); err != nil {
			return err
		}
	}
	if err := run.CheckID(c.job.RunID); err != nil {
		return fmt.Errorf("run_id: %w (pass --run NAME)", err)
	}
	return nil
}

// clientCandidate builds a job from a bench_serving result file: metadata
// from its InferenceMAX name, the metadata keys the client was given
// (--metadata tp=8 framework=vllm ...) and the options.
func clientCandidate(raw []byte, o map[string]json.RawMessage, stem string, opts ImportOptions) (*candidate, error) {
	str := func(k string) string {
		var s string
		if json.Unmarshal(o[k], &s) == nil {
			return s
		}
		var f float64
		if json.Unmarshal(o[k], &f) == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return ""
	}
	num := func(k string) int { n, _ := strconv.Atoi(str(k)); return n }
	info, named := results.ParseResultName(stem)
	m := results.Meta{
		Model: str("model_id"), Framework: first(info.Framework, str("framework")), Precision: first(info.Precision, str("precision")),
		TP: first(info.TP, num("tp")), EP: first(info.EP, num("ep")), PP: first(info.PP, num("pp")),
		DPAttn: info.DPAttn || str("dp_attention") == "true", Conc: info.Conc,
		ISL: num("isl"), OSL: num("osl"), Node: info.Node, Image: str("image"),
	}
	if isl, osl, ok := results.SeqLens(info.Seq); ok && m.ISL == 0 {
		m.ISL, m.OSL = isl, osl
	}
	m.HW = first(opts.HW, str("hw"), results.HWFromNode(info.Node))
	if m.HW == "" {
		return nil, errors.New("cannot tell its GPU type: the name carries no runner (h200-cw_0) and the file no hw key; pass --hw")
	}
	if m.TP <= 0 {
		return nil, errors.New("cannot tell its tensor parallelism (GPUs per job): the name does not follow InferenceMAX's pattern and the file has no tp key")
	}
	row, err := results.Aggregate(m, raw)
	if err != nil {
		return nil, err
	}
	c := &candidate{date: clientDate(str("date"))}
	id := stem
	if named {
		// The InferenceMAX config key (model-precision-gpu-framework), as
		// fleet's job ids start with, so imports compare with fleet runs.
		id = fmt.Sprintf("%s-%s-%s-%s_%s_%s_conc%d", info.ModelPrefix, info.Precision, m.HW, info.Framework, info.Seq, point(m), info.Conc)
	}
	run := opts.RunID
	if run == "" && !c.date.IsZero() {
		run = "import-" + c.date.Format("20060102")
	}
	c.job = Job{RunID: run, ID: id, State: StateDone, Node: m.Node, HW: m.HW, Rows: []*results.Row{row}}
	// As InferenceMAX fails a job when more than 5% of its requests
	// failed, such a result is kept but not reported as done.
	if total := row.Completed + row.Failed; row.Failed > 0 && float64(row.Failed) > maxFailedRatio*float64(total) {
		c.job.State = StateFailed
		c.job.Reason = fmt.Sprintf("too many failed requests: %d of %d", row.Failed, total)
	}
	if named {
		c.job.Config = fmt.Sprintf("%s-%s-%s-%s", info.ModelPrefix, info.Precision, m.HW, info.Framework)
	}
	return c, nil
}

// rowCandidate builds a job from one aggregated row.
func rowCandidate(b []byte, stem string, many bool, opts ImportOptions) (*candidate, error) {
	rp, err := ixresult.ReadRow(b)
	if err != nil {
		return nil, err
	}
	r := *rp
	if opts.HW != "" {
		r.HW = opts.HW
	}
	if r.HW == "" {
		return nil, errors.New("the row has no hw; pass --hw")
	}
	id := r.JobID
	if id == "" && isInferenceX(&r) {
		id = ixRowID(&r)
		if n, ok := ixresult.ParseName(strings.TrimPrefix(stem, "agg_")); ok && !many && r.Node == "" {
			r.Node = n.Runner
		}
	}
	if info, ok := results.ParseResultName(strings.TrimPrefix(stem, "agg_")); id == "" && ok && !many {
		id = fmt.Sprintf("%s-%s-%s-%s_%s_%s_conc%d", info.ModelPrefix, info.Precision, r.HW, info.Framework, info.Seq,
			point(results.Meta{TP: info.TP, EP: info.EP, PP: info.PP, DPAttn: info.DPAttn}), info.Conc)
		if r.Node == "" {
			r.Node = info.Node
		}
	}
	if id == "" {
		model := r.Model[strings.LastIndex(r.Model, "/")+1:]
		id = fmt.Sprintf("%s-%s-%s-%s_%s%s_%s_conc%d", safeName(model), r.Precision, r.HW, r.Framework, seqName(r.ISL), seqName(r.OSL),
			point(results.Meta{TP: r.TP, EP: r.EP, DPAttn: r.DPAttention}), r.Conc)
	}
	run := first(opts.RunID, r.RunID)
	if r.EP == 0 {
		r.EP = 1
	}
	if r.Metrics == nil {
		r.Metrics = map[string]float64{}
	}
	return &candidate{job: Job{RunID: run, ID: id, State: StateDone, Node: r.Node, HW: r.HW, Rows: []*results.Row{&r}}}, nil
}

// ixClientCandidate builds a job from a client result file named by one
// of InferenceX's current formulas: the row is what InferenceX's
// process_result makes of it (without power telemetry: power_valid 0).
func ixClientCandidate(raw []byte, o map[string]json.RawMessage, stem string, n ixresult.Name, opts ImportOptions) (*candidate, error) {
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(o[k], &s)
		return s
	}
	hw := first(opts.HW, str("hw"), results.HWFromNode(n.Runner))
	if hw == "" {
		return nil, errors.New("cannot tell its GPU type: the name carries no runner (b200-cw_0) and the file no hw key; pass --hw")
	}
	p := n.Params(hw)
	p.ResultFilename = stem
	p.ISL, p.OSL, _ = results.SeqLens(n.Seq)
	agg, _, err := ixresult.Process(p, raw, nil)
	if err != nil {
		return nil, err
	}
	row, err := ixresult.ReadRow(agg)
	if err != nil {
		return nil, err
	}
	for k, to := range map[string]*int{"completed": &row.Completed, "failed": &row.Failed} {
		var f float64
		if v, ok := o[k]; ok && json.Unmarshal(v, &f) == nil {
			if f < 0 || f > results.MaxCount || f != float64(int(f)) {
				return nil, fmt.Errorf("client result: %s is %v: want a whole number", k, f)
			}
			*to = int(f)
		}
	}
	c := &candidate{date: clientDate(str("date"))}
	run := opts.RunID
	if run == "" && !c.date.IsZero() {
		run = "import-" + c.date.Format("20060102")
	}
	c.job = Job{RunID: run, ID: ixRowID(row), State: StateDone, Node: n.Runner, HW: hw, Rows: []*results.Row{row},
		Config: fmt.Sprintf("%s-%s-%s-%s", n.ModelPrefix, n.Precision, hw, n.Framework)}
	if total := row.Completed + row.Failed; row.Failed > 0 && float64(row.Failed) > maxFailedRatio*float64(total) {
		c.job.State = StateFailed
		c.job.Reason = fmt.Sprintf("too many failed requests: %d of %d", row.Failed, total)
	}
	return c, nil
}

// isInferenceX says whether a row carries the keys InferenceX's rows have
// had since 2026 (older rows are InferenceMAX's and keep their ids).
func isInferenceX(r *results.Row) bool {
	for _, k := range []string{"infmax_model_prefix", "spec_decoding", "is_multinode"} {
		if _, ok := r.Extra[k]; ok {
			return true
		}
	}
	return false
}

// extraString is an extra key's string value, "" when absent or not text.
func extraString(r *results.Row, k string) string {
	var s string
	_ = json.Unmarshal(r.Extra[k], &s)
	return s
}

// ixRowID names an InferenceX job as fleet's ids do (config key, scenario,
// parallelism, concurrency), with what tells InferenceX's jobs apart
// beyond that: pp, dcp and pcp above 1, both roles of a multi-node job,
// speculative decoding, the recipe.
func ixRowID(r *results.Row) string {
	prefix := extraString(r, "infmax_model_prefix")
	if prefix == "" {
		prefix = safeName(r.Model[strings.LastIndex(r.Model, "/")+1:])
	}
	var pt string
	if ixresult.MultiNode(r) {
		role := func(name string) string {
			dp := extraString(r, name+"_dp_attention")
			if dp == "" {
				dp = string(r.Extra[name+"_dp_attention"])
			}
			m := func(k string) int { return int(r.Metrics[name+"_"+k]) }
			return fmt.Sprintf("%s-tp%d-pp%d-dcp%d-pcp%d-ep%d-dp%s-nw%d", name, m("tp"), m("pp"), m("dcp_size"), m("pcp_size"), m("ep"), dp, m("num_workers"))
		}
		pt = role("prefill") + "_" + role("decode")
	} else {
		pt = point(results.Meta{TP: r.TP, EP: r.EP, PP: int(r.Metrics["pp"]), DPAttn: r.DPAttention})
		for _, k := range []string{"dcp", "pcp"} {
			if n := int(r.Metrics[k+"_size"]); n > 1 {
				pt += fmt.Sprintf("-%s%d", k, n)
			}
		}
	}
	id := fmt.Sprintf("%s-%s-%s-%s_%s%s_%s_conc%d", prefix, r.Precision, r.HW, r.Framework, seqName(r.ISL), seqName(r.OSL), pt, r.Conc)
	if spec := extraString(r, "spec_decoding"); spec != "" && spec != "none" {
		id += "_spec-" + spec
	}
	if fp := extraString(r, "recipe_fingerprint"); fp != "" {
		id += "_recipe-" + fp[:min(16, len(fp))]
	}
	return id
}

func point(m results.Meta) string {
	pp := ""
	if m.PP > 1 {
		pp = fmt.Sprintf("-pp%d", m.PP)
	}
	return fmt.Sprintf("tp%d-ep%d%s-dpa%t", m.TP, max(m.EP, 1), pp, m.DPAttn)
}

// seqName writes a length as InferenceMAX's scenario names do (1024 = 1k).
func seqName(n int) string {
	if n > 0 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + "k"
	}
	return strconv.Itoa(n)
}

func clientDate(s string) time.Time {
	t, _ := time.Parse("20060102-150405", s)
	return t
}

// importRunID names the run of files imported from the path called base:
// import-<base>, a name too long for a run id (InferenceX's result file
// names run past 200 characters) cut short with a hash of the whole.
func importRunID(base string) string {
	const maxLen = 128 // run.CheckID's
	name := safeName(base)
	if id := "import-" + name; len(id) <= maxLen {
		return id
	}
	sum := sha256.Sum256([]byte(name))
	return "import-" + strings.TrimRight(name[:maxLen-len("import-")-9], "._-") + "-" + hex.EncodeToString(sum[:4])
}

var unsafeRun = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string {
	s = strings.Trim(unsafeRun.ReplaceAllString(s, "_"), "_.")
	if s == "" {
		return "files"
	}
	return s
}

func first[T comparable](vs ...T) T {
	var zero T
	for _, v := range vs {
		if v != zero {
			return v
		}
	}
	return zero
}
