package bench

import (
	"strconv"

	"github.com/fleetbench/fleet/internal/pyjson"
)

// pyJSON writes JSON the way Python's json.dump does by default: ", " and
// ": " separators, floats as repr() writes them (1.0, not 1), and non-ASCII
// escaped as \uXXXX. Tools only need valid JSON, but files that look like
// bench_serving's diff cleanly against them.
type pyJSON struct {
	buf   []byte
	first bool
}

func (j *pyJSON) open()  { j.buf = append(j.buf, '{'); j.first = true }
func (j *pyJSON) close() { j.buf = append(j.buf, '}') }

func (j *pyJSON) key(k string) *pyJSON {
	if !j.first {
		j.buf = append(j.buf, ',', ' ')
	}
	j.first = false
	j.buf = pyjson.AppendString(j.buf, k)
	j.buf = append(j.buf, ':', ' ')
	return j
}

func (j *pyJSON) raw(b ...byte) *pyJSON { j.buf = append(j.buf, b...); return j }
func (j *pyJSON) null()                 { j.buf = append(j.buf, "null"...) }
func (j *pyJSON) str(s string)          { j.buf = pyjson.AppendString(j.buf, s) }
func (j *pyJSON) int(v int)             { j.buf = strconv.AppendInt(j.buf, int64(v), 10) }
func (j *pyJSON) float(f float64)       { j.buf = pyjson.AppendFloat(j.buf, f) }

func (j *pyJSON) ints(v []int) {
	j.buf = append(j.buf, '[')
	for i, x := range v {
		if i > 0 {
			j.buf = append(j.buf, ',', ' ')
		}
		j.buf = strconv.AppendInt(j.buf, int64(x), 10)
	}
	j.buf = append(j.buf, ']')
}

func (j *pyJSON) floats(v []float64) {
	j.buf = append(j.buf, '[')
	for i, x := range v {
		if i > 0 {
			j.buf = append(j.buf, ',', ' ')
		}
		j.buf = pyjson.AppendFloat(j.buf, x)
	}
	j.buf = append(j.buf, ']')
}

func (j *pyJSON) strs(v []string) {
	j.buf = append(j.buf, '[')
	for i, x := range v {
		if i > 0 {
			j.buf = append(j.buf, ',', ' ')
		}
		j.buf = pyjson.AppendString(j.buf, x)
	}
	j.buf = append(j.buf, ']')
}

// stats writes mean, median, std and the percentiles of m as
// prefix+kind+suffix keys, bench_serving's order.
func (j *pyJSON) stats(m MetricStats, prefix, suffix string) {
	j.key(prefix + "mean" + suffix).float(m.Mean)
	j.key(prefix + "median" + suffix).float(m.Median)
	j.key(prefix + "std" + suffix).float(m.Std)
	for _, p := range m.Percentiles {
		j.key(prefix + "p" + percentileWord(p.P) + suffix).float(p.Value)
	}
}
