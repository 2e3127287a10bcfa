package trace

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// fuzzLimits keep a fuzzed load small: whatever the input, a load holds
// at most traces x requests x idsPerRequest ids.
var fuzzLimits = limits{
	fileBytes:     1 << 16,
	lineBytes:     1 << 14,
	traces:        16,
	requests:      64,
	idsPerRequest: 1 << 10,
	depth:         4,
	blockSize:     1 << 10,
}

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzLoadCCTraces feeds arbitrary bytes to the cc loader, as a JSONL
// file and as one .json trace: it must not panic, and what it accepts
// must be a consistent tree (checkTree) whose stats and text can be made.
func FuzzLoadCCTraces(f *testing.F) {
	addSeeds(f, "testdata/cc.jsonl", "testdata/cc/alpha.json", "testdata/cc/beta.json")
	f.Add([]byte(`{"id":"x","block_size":1,"requests":[{"type":"n","t":0,"in":2,"out":9,"hash_ids":[0,0]},{"type":"subagent","t":0,"requests":[{"type":"s","t":0,"in":1,"hash_ids":[0]}]},{"type":"n","t":1,"in":1,"hash_ids":[0]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The loaders' file handling is the table tests'; here the
		// bytes go straight to the parsers, as a JSONL stream and as a
		// .json file's content.
		for _, jsonl := range []bool{true, false} {
			l := &ccLoader{lim: fuzzLimits, seen: map[string]bool{}}
			var err error
			if jsonl {
				err = l.lines(bytes.NewReader(data), "f.jsonl")
			} else {
				err = l.add(data, "f.json")
			}
			if err != nil || len(l.trees) == 0 {
				continue
			}
			exercise(t, l.trees)
		}
	})
}

// FuzzLoadMooncake is FuzzLoadCCTraces for the mooncake loader.
func FuzzLoadMooncake(f *testing.F) {
	addSeeds(f, "testdata/mooncake.jsonl")
	f.Add([]byte(`{"session_id":1,"input_length":3,"output_length":1000,"hash_ids":[1,2,3],"delay":1e12}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, bs := range []int{1, 16, 512} {
			trees, err := readMooncake(bytes.NewReader(data), "m.jsonl", bs, fuzzLimits)
			if err != nil {
				if trees != nil {
					t.Fatalf("trees with error %v", err)
				}
				continue
			}
			exercise(t, trees)
		}
	})
}

func exercise(t *testing.T, trees []*Tree) {
	t.Helper()
	if len(trees) == 0 || len(trees) > fuzzLimits.traces {
		t.Fatalf("%d trees", len(trees))
	}
	for _, tr := range trees {
		checkTree(t, tr)
		st := tr.Stats()
		if st.HitBlocks < 0 || st.HitBlocks > st.Blocks || st.Requests < st.RootTurns {
			t.Fatalf("stats %+v", st)
		}
		var buf []byte
		for _, c := range tr.Convs {
			for _, m := range c.Turns[len(c.Turns)-1].Add {
				for _, b := range m.Blocks {
					buf = AppendBlockText(buf[:0], tr.ID, b)
					if len(buf) != 4*b.Tokens {
						t.Fatalf("block %+v: %d bytes", b, len(buf))
					}
				}
			}
		}
	}
}

// FuzzIDList checks the hand-written hash-list decoder against
// encoding/json's: what idList accepts, encoding/json accepts with the
// same ids; what it refuses, encoding/json refuses too, except where
// idList is stricter: a null element (encoding/json leaves a 0) and
// -2^63 (which idList cannot negate).
func FuzzIDList(f *testing.F) {
	for _, s := range []string{`[]`, `[0,1,2]`, `[ -5 , 9223372036854775807 ]`, `[1.5]`, `[1e3]`, `["1"]`, `null`, `[[1]]`, `[-]`, `{"a":1}`, `[1,null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want []int64
		werr := json.Unmarshal(data, &want)
		var got idList
		gerr := json.Unmarshal(data, &got)
		switch {
		case gerr == nil && (werr != nil || !slices.Equal(want, []int64(got))):
			t.Fatalf("%q: idList %v, encoding/json %v %v", data, []int64(got), want, werr)
		case gerr != nil && werr == nil &&
			!bytes.Contains(data, []byte("null")) && !bytes.Contains(data, []byte("9223372036854775808")):
			t.Fatalf("%q: idList refuses (%v), encoding/json gives %v", data, gerr, want)
		}
	})
}
