package results

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// csvFixed are the CSV columns every row has, before its metrics.
var csvFixed = []string{"run_id", "job_id", "node", "hw", "tp", "ep", "dp_attention", "conc", "model", "framework", "precision",
	"isl", "osl", "image", "tput_per_gpu", "output_tput_per_gpu", "input_tput_per_gpu", "completed", "failed"}

// WriteCSV writes rows as CSV: fixed columns, a shape column when a row
// is multi-node (Row.Shape, empty for a single-node row), eval columns
// when a row has evals (evalCSVHeader), then the union of all metrics in
// sorted order (empty where a row lacks one).
func WriteCSV(w io.Writer, rows []*Row) error {
	names := metricNames(rows)
	withShape := false
	for _, r := range rows {
		withShape = withShape || r.MultiNode()
	}
	cw := csv.NewWriter(w)
	header := append([]string{}, csvFixed...)
	if withShape {
		header = append(header, "shape")
	}
	tasks := evalTasks(rows)
	header = append(header, evalCSVHeader(tasks)...)
	for _, n := range names {
		header = append(header, CSVText(n)) // an imported row names its own metrics
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	// Numbers are written here, by strconv, and stay as they are (a
	// negative number is a number); text may come from anyone.
	f := func(v float64) string {
		if !finite(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	t := CSVText
	for _, r := range rows {
		rec := []string{t(r.RunID), t(r.JobID), t(r.Node), t(r.HW), strconv.Itoa(r.TP), strconv.Itoa(r.EP), strconv.FormatBool(r.DPAttention),
			strconv.Itoa(r.Conc), t(r.Model), t(r.Framework), t(r.Precision), strconv.Itoa(r.ISL), strconv.Itoa(r.OSL), t(r.Image),
			f(r.TputPerGPU), f(r.OutputTputPerGPU), f(r.InputTputPerGPU), strconv.Itoa(r.Completed), strconv.Itoa(r.Failed)}
		if withShape {
			rec = append(rec, r.Shape())
		}
		rec = append(rec, evalCSVCells(r, tasks)...)
		for _, n := range names {
			if v, ok := r.Metrics[n]; ok {
				rec = append(rec, f(v))
			} else {
				rec = append(rec, "")
			}
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv row %s: %w", r.JobID, err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVText neutralises a text cell that a spreadsheet would run as a
// formula (one starting with = + - @, a tab or a carriage return) by
// prefixing a single quote, which spreadsheets show as text.
func CSVText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteJSON writes rows as an indented JSON array, fleet's columns included.
func WriteJSON(w io.Writer, rows []*Row) error {
	if rows == nil {
		rows = []*Row{}
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return fmt.Errorf("encode rows: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteInferenceMAX writes rows as InferenceMAX's aggregated JSON: an array
// of objects with only its keys (hw ... input_tput_per_gpu, then the
// metrics), so its downstream tools read them unchanged.
func WriteInferenceMAX(w io.Writer, rows []*Row) error {
	var b bytes.Buffer
	b.WriteString("[")
	for i, r := range rows {
		full, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode row %s: %w", r.JobID, err)
		}
		var all map[string]json.RawMessage
		if err := json.Unmarshal(full, &all); err != nil {
			return err
		}
		for _, k := range fleetKeys {
			delete(all, k)
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		keys := make([]string, 0, len(r.Metrics))
		for k := range r.Metrics {
			if _, ok := all[k]; ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		first := true
		for _, k := range append(append([]string{}, imaxKeys...), keys...) {
			if !first {
				b.WriteString(", ")
			}
			first = false
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteString(": ")
			b.Write(all[k])
		}
		b.WriteString("}")
	}
	if len(rows) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := w.Write(b.Bytes())
	return err
}

func metricNames(rows []*Row) []string {
	set := map[string]bool{}
	for _, r := range rows {
		for k := range r.Metrics {
			set[k] = true
		}
	}
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
