package trace

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// req is a request entry: in tokens over ids.
func req(t float64, in int, ids string) string {
	return `{"type":"n","t":` + ftoa(t) + `,"in":` + itoa(in) + `,"out":10,"api_time":1,"hash_ids":[` + ids + `]}`
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func itoa(n int) string { return strconv.Itoa(n) }

func TestLoadCCTracesRefuses(t *testing.T) {
	ok := req(0, 64, "0")
	tests := []struct {
		name, file, body, want string
		lim                    *limits
	}{
		{"a zero block size", "t.jsonl", `{"id":"x","block_size":0,"requests":[` + ok + `]}`, "t.jsonl:1: trace \"x\": block_size 0", nil},
		{"a global hash-id scope", "t.jsonl", `{"id":"x","block_size":64,"hash_id_scope":"global","requests":[` + ok + `]}`, `hash_id_scope "global"`, nil},
		{"a trace without id", "t.jsonl", `{"block_size":64,"requests":[` + ok + `]}`, "no id", nil},
		{"the same id twice", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + ok + `]}` + "\n\n" + `{"id":"x","block_size":64,"requests":[` + ok + `]}`, "t.jsonl:3: trace \"x\": duplicate id", nil},
		{"requests out of time order", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + req(5, 64, "0") + `,` + req(4, 128, "0,1") + `]}`, "requests[1]: t 4 before the previous entry's 5", nil},
		{"too few hash ids for in", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + req(0, 65, "0") + `]}`, "requests[0]: 1 hash_ids for in 65: want ceil(65/64) = 2", nil},
		{"too many hash ids for in", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + req(0, 64, "0,1") + `]}`, "2 hash_ids for in 64", nil},
		{"an empty request", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + req(0, 0, "") + `]}`, "in 0: want > 0", nil},
		{"a negative out", "t.jsonl", `{"id":"x","block_size":64,"requests":[{"type":"n","t":0,"in":64,"out":-1,"hash_ids":[0]}]}`, "out -1", nil},
		{"a negative api_time", "t.jsonl", `{"id":"x","block_size":64,"requests":[{"type":"n","t":0,"in":64,"api_time":-1,"hash_ids":[0]}]}`, "api_time -1", nil},
		{"a trace without requests", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + sub(0, "a", req(0, 64, "0")) + `]}`, `trace "x": no requests`, nil},
		{"an unknown entry type", "t.jsonl", `{"id":"x","block_size":64,"requests":[{"type":"q","t":0}]}`, `requests[0]: unknown entry type "q"`, nil},
		{"a bad request inside a subagent", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + ok + `,{"type":"subagent","t":1,"agent_id":"a","requests":[` + req(1, 64, "") + `]}]}`, "requests[1].requests[0]: 0 hash_ids for in 64", nil},
		{"a hash id that is not an integer", "t.jsonl", `{"id":"x","block_size":64,"requests":[{"type":"n","t":0,"in":64,"hash_ids":[0.5]}]}`, "t.jsonl:1: hash_ids: want an array of integers", nil},
		{"broken JSON on line 2", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + ok + `]}` + "\n{", "t.jsonl:2: unexpected end of JSON input", nil},
		{"a broken file in a .json", "t.json", `{"id":`, "t.json: unexpected end", nil},
		{"an empty file", "t.jsonl", "\n\n", "no traces", nil},
		{"a line over the limit", "t.jsonl", "\n" + `{"id":"x","block_size":64,"requests":[` + ok + `]}`, "t.jsonl:2: line over the 40-byte limit",
			&limits{fileBytes: 1 << 20, lineBytes: 40, traces: 9, requests: 9, idsPerRequest: 9, depth: 2, blockSize: 64}},
		{"a file over the limit", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + ok + `]}`, "over the limit",
			&limits{fileBytes: 50, lineBytes: 1 << 10, traces: 9, requests: 9, idsPerRequest: 9, depth: 2, blockSize: 64}},
		{"too many traces", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + ok + `]}` + "\n" + `{"id":"y","block_size":64,"requests":[` + ok + `]}`, "t.jsonl:2: more than 1 traces",
			&limits{fileBytes: 1 << 20, lineBytes: 1 << 10, traces: 1, requests: 9, idsPerRequest: 9, depth: 2, blockSize: 64}},
		{"too many hash ids", "t.jsonl", `{"id":"x","block_size":1,"requests":[` + req(0, 3, "0,1,2") + `]}`, "3 hash_ids: more than 2",
			&limits{fileBytes: 1 << 20, lineBytes: 1 << 10, traces: 9, requests: 9, idsPerRequest: 2, depth: 2, blockSize: 64}},
		{"too many requests", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + ok + `,` + ok + `,` + ok + `]}`, "requests[2]: more than 2 entries",
			&limits{fileBytes: 1 << 20, lineBytes: 1 << 10, traces: 9, requests: 2, idsPerRequest: 9, depth: 2, blockSize: 64}},
		{"subagents nested too deep", "t.jsonl", `{"id":"x","block_size":64,"requests":[` + ok + `,{"type":"subagent","t":1,"requests":[` + ok + `,{"type":"subagent","t":1,"requests":[` + ok + `]}]}]}`, "nested more than 1 deep",
			&limits{fileBytes: 1 << 20, lineBytes: 1 << 10, traces: 9, requests: 9, idsPerRequest: 9, depth: 1, blockSize: 64}},
	}
	for _, tt := range tests {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			lim := defaultLimits
			if tt.lim != nil {
				lim = *tt.lim
			}
			_, _, err := loadCC(writeFile(t, tt.file, tt.body), lim)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadCCTracesReadsOnlyJSONFilesOfADirectory(t *testing.T) {
	dir := t.TempDir()
	body := `{"id":"%s","block_size":64,"requests":[` + req(0, 64, "0") + `]}`
	for name, content := range map[string]string{
		"b.json":    strings.Replace(body, "%s", "b", 1),
		"a.json":    strings.Replace(body, "%s", "a", 1),
		"notes.txt": "not a trace",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	trees, err := LoadCCTraces(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(trees) != 2 || trees[0].ID != "a" || trees[1].ID != "b" {
		t.Fatalf("got %d trees, want a then b", len(trees))
	}
}

func TestLoadMooncakeRefuses(t *testing.T) {
	tests := []struct {
		name, body, want string
		bs               int
	}{
		{"a zero block size", `{"input_length":1,"hash_ids":[1]}`, "block size 0", 0},
		{"text_input lines", `{"text_input":"hi","input_length":1,"hash_ids":[1]}`, "m.jsonl:1: text_input", 16},
		{"an empty input", `{"input_length":0,"hash_ids":[]}`, "input_length 0", 16},
		{"a negative output", `{"input_length":1,"output_length":-2,"hash_ids":[1]}`, "output_length -2", 16},
		{"a hash list that disagrees with input_length", "\n" + `{"input_length":17,"hash_ids":[1]}`, "m.jsonl:2: 1 hash_ids for input_length 17: want ceil(17/16) = 2", 16},
		{"negative hash ids", `{"input_length":1,"hash_ids":[-1]}`, "hash id -1", 16},
		{"a negative delay", `{"input_length":1,"hash_ids":[1],"delay":-1}`, "delay -1", 16},
		{"a negative timestamp", `{"input_length":1,"hash_ids":[1],"timestamp":-1}`, "timestamp -1", 16},
		{"an object session id", `{"input_length":1,"hash_ids":[1],"session_id":{}}`, "session_id {}", 16},
		{"an empty session id", `{"input_length":1,"hash_ids":[1],"session_id":""}`, "empty session_id", 16},
		{"broken JSON", `{"input_length":1,`, "m.jsonl:1: unexpected end", 16},
		{"an empty file", ``, "no requests", 16},
	}
	for _, tt := range tests {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			_, err := LoadMooncake(writeFile(t, "m.jsonl", tt.body), tt.bs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadMooncakeBoundsASessionsContext(t *testing.T) {
	lim := defaultLimits
	lim.idsPerRequest = 4
	// Each turn adds 2 input blocks and 1 answer block: the second turn's
	// context is 2+1+2 = 5 blocks, over 4.
	body := `{"session_id":"s","input_length":32,"output_length":1,"hash_ids":[1,2]}` + "\n" +
		`{"session_id":"s","input_length":32,"output_length":1,"hash_ids":[3,4]}`
	_, err := loadMooncake(writeFile(t, "m.jsonl", body), 16, lim)
	if err == nil || !strings.Contains(err.Error(), "m.jsonl:2: session \"s\": context over 4 blocks") {
		t.Fatalf("error %v", err)
	}
}
