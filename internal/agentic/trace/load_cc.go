package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// limits bounds what a loader accepts, so a corrupt or hostile file ends
// in an error instead of exhausting memory. The defaults fit the largest
// public corpus (cc-traces-weka-062126: 393 traces, ~99k requests, inputs
// up to ~990k tokens = ~15.5k blocks of 64) with room to spare; tests and
// the fuzzers pass small ones.
type limits struct {
	fileBytes     int64 // one file, and all files of a directory together
	lineBytes     int   // one JSONL line (one whole trace in cc form)
	traces        int   // trees per load
	requests      int   // request entries per trace, subagents' included
	idsPerRequest int   // hash ids of one request
	depth         int   // subagents nested in subagents
	blockSize     int   // largest block_size accepted
}

// maxSeconds bounds every time in a trace (about 30 years), so sums of
// times stay finite.
const maxSeconds = 1e9

var defaultLimits = limits{
	fileBytes:     4 << 30,
	lineBytes:     1 << 30,
	traces:        1 << 20,
	requests:      1 << 20,
	idsPerRequest: 1 << 20,
	depth:         16,
	blockSize:     1 << 20,
}

// LoadCCTraces reads SemiAnalysis cc-traces ("weka_trace"): either a
// directory of one-trace-per-file .json files (read in name order; other
// files are ignored), a single .json trace, or a JSONL file of one trace
// object per line (the Hugging Face traces.jsonl). Unknown fields are
// ignored: traces carry opaque extras.
//
// It is strict where a wrong value would silently change the replay, and
// refuses the whole load on: a block_size outside 1..2^20; a
// hash_id_scope other than "local" (or absent); a missing or repeated
// trace id; a trace without a request of its own; an unknown entry type;
// entries of a request list out of t order (equal t is fine); in <= 0,
// out < 0, a negative t or api_time; and len(hash_ids) !=
// ceil(in/block_size), with no slack: the last block may be partial, as
// the format says, but a list that disagrees with its own token count
// cannot be synthesized faithfully. Errors name the file and line (JSONL)
// or the file, and the entry ("requests[3].requests[0]").
//
// Each conversation's requests become turns as agentic.md section 2.5
// says: turn 0 is a system message (tool_tokens+system_tokens in whole
// blocks, if declared) and a user message; a later turn whose hash list
// extends the previous one appends the recorded answer (as many new
// blocks as the previous out covers) as an assistant message and the rest
// as a user message; one that does not is a Reset re-sending the history
// cut at the longest common prefix, then the same split. A context's
// partial last block is a Unique block keyed by (trace, conversation,
// turn).
//
// A subagent entry (section 2.6) becomes a child conversation
// "<trace>::sa:<agent_id>" ("#2"... on a repeated id) spawned after the
// parent turn before it and joined by the parent turn after it
// (JoinBefore -1 when there is none: a background child); adjacent
// entries share those anchors, a multi-child spawn. Inner times are
// absolute; a list whose first request starts before its spawn entry is
// taken as relative to it. Offset is the child's first start minus the
// spawning turn's end (T+APITime), at least 0. An entry with no parent
// request before it, or with no requests, is dropped, as AIPerf drops
// it. Hidden agents flattened into a request list (AIPerf's ::fa, ::wg
// and ::aux splitting) are not split out: they stay turns of the
// conversation they were recorded in, where their unrelated contexts read
// as resets.
//
// The trees share memory between turns and must not be modified.
func LoadCCTraces(path string) ([]*Tree, error) {
	trees, _, err := loadCC(path, defaultLimits)
	return trees, err
}

// loadCC is LoadCCTraces with explicit limits; it also returns how many
// subagent entries were dropped.
func loadCC(path string, lim limits) ([]*Tree, int, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("cc-traces: %w", err)
	}
	l := &ccLoader{lim: lim, seen: map[string]bool{}}
	switch {
	case st.IsDir():
		err = l.dir(path)
	case strings.HasSuffix(path, ".json"):
		err = l.file(path)
	default:
		err = l.jsonl(path)
	}
	if err != nil {
		return nil, 0, err
	}
	if len(l.trees) == 0 {
		return nil, 0, fmt.Errorf("cc-traces %s: no traces", path)
	}
	return l.trees, l.dropped, nil
}

type ccLoader struct {
	lim     limits
	read    int64 // bytes read so far (all files)
	trees   []*Tree
	seen    map[string]bool // trace ids
	dropped int
}

func (l *ccLoader) dir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cc-traces: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := l.file(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

func (l *ccLoader) file(name string) error {
	f, err := openBounded(name, l.lim.fileBytes-l.read)
	if err != nil {
		return fmt.Errorf("cc-traces: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, l.lim.fileBytes-l.read))
	if err != nil {
		return fmt.Errorf("cc-traces %s: %w", name, err)
	}
	l.read += int64(len(data))
	return l.add(data, name)
}

func (l *ccLoader) jsonl(name string) error {
	f, err := openBounded(name, l.lim.fileBytes)
	if err != nil {
		return fmt.Errorf("cc-traces: %w", err)
	}
	defer f.Close()
	return l.lines(f, name)
}

// lines adds the traces of a JSONL stream.
func (l *ccLoader) lines(r io.Reader, name string) error {
	return eachLine(r, name, l.lim, func(line []byte, where string, _ int) error {
		return l.add(line, where)
	})
}

// openBounded opens a file that must not be larger than max bytes.
func openBounded(name string, max int64) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() > max {
		f.Close()
		return nil, fmt.Errorf("%s: %d bytes, over the limit (%d left)", name, st.Size(), max)
	}
	return f, nil
}

// eachLine calls fn for every non-blank line of r, with "name:line" for
// errors. r is cut at the file limit in case the file grows while read.
func eachLine(r io.Reader, name string, lim limits, fn func(line []byte, where string, n int) error) error {
	sc := bufio.NewScanner(io.LimitReader(r, lim.fileBytes))
	sc.Buffer(make([]byte, 0, min(64<<10, lim.lineBytes)), lim.lineBytes)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(line, fmt.Sprintf("%s:%d", name, n), n); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s:%d: line over the %d-byte limit", name, n+1, lim.lineBytes)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ccTrace is one trace object; only the fields the replay uses.
type ccTrace struct {
	ID           string    `json:"id"`
	BlockSize    int       `json:"block_size"`
	HashIDScope  string    `json:"hash_id_scope"`
	ToolTokens   int       `json:"tool_tokens"`
	SystemTokens int       `json:"system_tokens"`
	Requests     []ccEntry `json:"requests"`
}

// ccEntry is a request ("n", "s") or a subagent entry of a request list.
type ccEntry struct {
	Type    string  `json:"type"`
	T       float64 `json:"t"`
	In      int     `json:"in"`
	Out     int     `json:"out"`
	HashIDs idList  `json:"hash_ids"`
	APITime float64 `json:"api_time"`

	AgentID      string    `json:"agent_id"`
	ToolTokens   int       `json:"tool_tokens"`
	SystemTokens int       `json:"system_tokens"`
	Requests     []ccEntry `json:"requests"`
}

func (e *ccEntry) isRequest() bool { return e.Type == "n" || e.Type == "s" }

func (l *ccLoader) add(data []byte, where string) error {
	if len(l.trees) >= l.lim.traces {
		return fmt.Errorf("%s: more than %d traces", where, l.lim.traces)
	}
	var tr ccTrace
	if err := json.Unmarshal(data, &tr); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := l.check(&tr); err != nil {
		return fmt.Errorf("%s: trace %q: %w", where, tr.ID, err)
	}
	tree, dropped := buildCCTree(&tr)
	l.trees = append(l.trees, tree)
	l.seen[tr.ID] = true
	l.dropped += dropped
	return nil
}

func (l *ccLoader) check(tr *ccTrace) error {
	switch {
	case tr.ID == "":
		return errors.New("no id")
	case l.seen[tr.ID]:
		return errors.New("duplicate id")
	case tr.BlockSize <= 0 || tr.BlockSize > l.lim.blockSize:
		return fmt.Errorf("block_size %d: want 1..%d", tr.BlockSize, l.lim.blockSize)
	case tr.HashIDScope != "" && tr.HashIDScope != "local":
		return fmt.Errorf("hash_id_scope %q: only \"local\" is supported", tr.HashIDScope)
	case tr.ToolTokens < 0 || tr.SystemTokens < 0:
		return errors.New("negative tool_tokens or system_tokens")
	}
	count := 0
	if err := l.checkList(tr.Requests, tr.BlockSize, "requests", 0, &count); err != nil {
		return err
	}
	if firstRequest(tr.Requests) == nil {
		return errors.New("no requests")
	}
	return nil
}

func (l *ccLoader) checkList(list []ccEntry, bs int, path string, depth int, count *int) error {
	if depth > l.lim.depth {
		return fmt.Errorf("%s: subagents nested more than %d deep", path, l.lim.depth)
	}
	for i := range list {
		e := &list[i]
		where := fmt.Sprintf("%s[%d]", path, i)
		if *count++; *count > l.lim.requests {
			return fmt.Errorf("%s: more than %d entries", where, l.lim.requests)
		}
		if i > 0 && e.T < list[i-1].T {
			return fmt.Errorf("%s: t %g before the previous entry's %g (entries must be time-ordered)", where, e.T, list[i-1].T)
		}
		if e.T < 0 || e.T > maxSeconds {
			return fmt.Errorf("%s: t %g: want 0..%g s", where, e.T, maxSeconds)
		}
		switch {
		case e.isRequest():
			if err := checkRequest(e, bs, l.lim); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		case e.Type == "subagent":
			if e.ToolTokens < 0 || e.SystemTokens < 0 {
				return fmt.Errorf("%s: negative tool_tokens or system_tokens", where)
			}
			if err := l.checkList(e.Requests, bs, where+".requests", depth+1, count); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unknown entry type %q", where, e.Type)
		}
	}
	return nil
}

func checkRequest(e *ccEntry, bs int, lim limits) error {
	switch {
	case e.In <= 0:
		return fmt.Errorf("in %d: want > 0", e.In)
	case e.Out < 0:
		return fmt.Errorf("out %d: want >= 0", e.Out)
	case e.APITime < 0 || e.APITime > maxSeconds:
		return fmt.Errorf("api_time %g: want 0..%g s", e.APITime, maxSeconds)
	case len(e.HashIDs) > lim.idsPerRequest:
		return fmt.Errorf("%d hash_ids: more than %d", len(e.HashIDs), lim.idsPerRequest)
	case len(e.HashIDs) != ceilDiv(e.In, bs):
		return fmt.Errorf("%d hash_ids for in %d: want ceil(%d/%d) = %d", len(e.HashIDs), e.In, e.In, bs, ceilDiv(e.In, bs))
	}
	return nil
}

// ceilDiv is ceil(a/b) for a >= 0, b > 0, without overflow.
func ceilDiv(a, b int) int {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// idList is a JSON array of integer hash ids. Its decoder is hand-written
// because hash lists are nearly all of a corpus's bytes, and
// encoding/json's reflective decoding of them is several times slower.
type idList []int64

func (l *idList) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*l = nil
		return nil
	}
	if len(data) < 2 || data[0] != '[' || data[len(data)-1] != ']' {
		return fmt.Errorf("hash_ids: want an array of integers")
	}
	// encoding/json has checked that data is valid JSON, so between the
	// brackets there are only values, commas and white space.
	out := make([]int64, 0, bytes.Count(data, []byte{','})+1)
	p := data[1 : len(data)-1]
	for i := 0; i < len(p); {
		switch c := p[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
			continue
		case c == '-' || c >= '0' && c <= '9':
		default:
			return fmt.Errorf("hash_ids: want an array of integers")
		}
		j := i
		if p[j] == '-' {
			j++
		}
		var v uint64
		start := j
		for ; j < len(p) && p[j] >= '0' && p[j] <= '9'; j++ {
			if v > (1<<63-1)/10 {
				return fmt.Errorf("hash_ids: %s overflows int64", p[i:j+1])
			}
			v = v*10 + uint64(p[j]-'0')
		}
		if j < len(p) && (p[j] == '.' || p[j] == 'e' || p[j] == 'E') || j == start {
			return fmt.Errorf("hash_ids: want an array of integers")
		}
		if v > 1<<63-1 {
			return fmt.Errorf("hash_ids: %s overflows int64", p[i:j])
		}
		n := int64(v)
		if p[i] == '-' {
			n = -n
		}
		out = append(out, n)
		i = j
	}
	*l = out
	return nil
}
