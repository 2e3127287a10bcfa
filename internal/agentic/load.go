package agentic

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/fleetbench/fleet/internal/agentic/trace"
)

// Dataset names, as fleet bench's --dataset-name takes them.
const (
	DatasetCCTraces = "cc-traces"      // a directory of trace .json files, or traces.jsonl
	DatasetMooncake = "mooncake-trace" // mooncake_trace JSONL
)

// DefaultMooncakeBlockSize is the mooncake_trace block size (tokens per
// hash id) when none is given.
const DefaultMooncakeBlockSize = 512

// LoadTrees reads a dataset's session trees.
func LoadTrees(dataset, path string, blockSize int) ([]*trace.Tree, error) {
	var trees []*trace.Tree
	var err error
	switch dataset {
	case DatasetCCTraces:
		trees, err = trace.LoadCCTraces(path)
	case DatasetMooncake:
		if blockSize <= 0 {
			blockSize = DefaultMooncakeBlockSize
		}
		trees, err = trace.LoadMooncake(path, blockSize)
	default:
		return nil, fmt.Errorf("dataset %q: want %s or %s", dataset, DatasetCCTraces, DatasetMooncake)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", dataset, path, err)
	}
	if len(trees) == 0 {
		return nil, fmt.Errorf("load %s %s: no sessions", dataset, path)
	}
	return trees, nil
}

// WriteRecords writes every request's record as one JSON object a line.
func (r *Result) WriteRecords(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range r.Records {
		if err := enc.Encode(&r.Records[i]); err != nil {
			return fmt.Errorf("write records: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	return nil
}
