package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Files a report directory holds besides the charts.
const (
	FileHTML = "report.html"
	FileJSON = "report.json"
	FileText = "report.txt"
)

// WriteFiles writes the whole report into dir: the HTML page, the JSON,
// the text tables and every chart as PNG and SVG. It returns the paths
// written, the HTML page first.
func (rep *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	var paths []string
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{FileHTML, func(b *bytes.Buffer) error { return rep.WriteHTML(b) }},
		{FileJSON, func(b *bytes.Buffer) error { return rep.WriteJSON(b) }},
		{FileText, func(b *bytes.Buffer) error { return rep.WriteText(b) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			return paths, err
		}
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return paths, fmt.Errorf("write report: %w", err)
		}
		paths = append(paths, path)
	}
	charts, err := rep.WriteCharts(dir)
	return append(paths, charts...), err
}
