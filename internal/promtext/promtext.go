// Package promtext reads the Prometheus text exposition that inference
// servers (vLLM, SGLang, fleet's simulator) give on GET /metrics, with
// prometheus/common's parser, into the plain sums fleet's clients use.
package promtext

import (
	"fmt"
	"io"
	"math"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one sample line: its labels and value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Metrics are a scrape's counter, gauge and untyped samples by the name
// they were written under (a Python client's counter keeps its _total);
// histograms and summaries are left out.
type Metrics map[string][]Sample

// Parse reads an exposition. The caller bounds r: a server's /metrics is
// untrusted. A malformed line ends the parse with an error, and what was
// read before it is returned with the error.
func Parse(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(r)
	out := Metrics{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			v, ok := value(f.GetType(), m)
			if !ok || math.IsNaN(v) {
				continue
			}
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[name] = append(out[name], Sample{Labels: labels, Value: v})
		}
	}
	if err != nil {
		return out, fmt.Errorf("read /metrics exposition: %w", err)
	}
	return out, nil
}

func value(t dto.MetricType, m *dto.Metric) (float64, bool) {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), true
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue(), true
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// Family is every sample of the family name: written as name or, for a
// counter, as name_total (a _created sample is not the counter's value).
func (m Metrics) Family(name string) []Sample {
	return append(append([]Sample(nil), m[name]...), m[name+"_total"]...)
}

// Sum is the family's samples summed over their label sets (one per
// engine, rank or model); ok is false when the family is absent.
func (m Metrics) Sum(name string) (float64, bool) {
	s := m.Family(name)
	var sum float64
	for _, x := range s {
		sum += x.Value
	}
	return sum, len(s) > 0
}
