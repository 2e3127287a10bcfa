package energy

import (
	"bytes"
	"encoding/csv"
	"io"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	numberRE   = regexp.MustCompile(`-?\d+(?:\.\d+)?`)
	epochRE    = regexp.MustCompile(`^-?\d+(?:\.\d+)?$`)
	slashRE    = regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$`)
	gpuIDColRE = regexp.MustCompile(`(?i)^(index|gpu|gpu_id|gpu_index|card|device)$`)
	powerExcl  = regexp.MustCompile(`(?i)limit|cap|max|min`)
	// milliRE finds a milliwatt unit in a power header or cell: "[mW]",
	// "(mW)", "123 mW", "power_mw".
	milliRE = regexp.MustCompile(`mW\b|(?i)[_ \[(]mw\b`)
)

// columns finds the timestamp, power and GPU id columns of a header.
func columns(header []string) (ts, pw, gpu int) {
	ts, pw, gpu = -1, -1, -1
	for i, h := range header {
		l := strings.ToLower(h)
		if ts < 0 && strings.Contains(l, "time") {
			ts = i
		}
		if pw < 0 && strings.Contains(l, "power") && !powerExcl.MatchString(h) {
			pw = i
		}
		if gpu < 0 && gpuIDColRE.MatchString(strings.TrimSpace(h)) {
			gpu = i
		}
	}
	return ts, pw, gpu
}

// integrate reads every node's telemetry and integrates every GPU over
// the window.
func (m *Measurement) integrate(tel []Telemetry) {
	w := m.Window
	if m.Expected <= 0 {
		m.add(ReasonInvalidExpectedGPUCount)
	}
	if len(tel) == 0 {
		m.add(ReasonTelemetryFileMissing)
		return
	}
	raw := map[string]map[float64][]float64{}
	ok := true
	missingID := false
	for _, t := range tel {
		fileOK, noID := m.read(t, raw)
		ok = ok && fileOK
		missingID = missingID || noID
	}
	if !ok {
		return
	}
	if missingID {
		m.add(ReasonGPUIdentityMissing)
	}
	if len(raw) == 0 {
		m.add(ReasonNoUsableSamples)
		return
	}
	for id := range raw {
		m.IDs = append(m.IDs, id)
	}
	sort.Slice(m.IDs, func(a, b int) bool { return gpuLess(m.IDs[a], m.IDs[b]) })
	if m.Expected > 0 && len(m.IDs) != m.Expected {
		m.add(ReasonGPUCountMismatch)
	}
	for _, id := range m.IDs {
		s := averaged(raw[id])
		m.Samples[id] = len(s)
		for _, x := range s {
			if x.t >= w.Start && x.t <= w.End {
				m.InWindow++
			}
		}
		var issue string
		switch {
		case len(s) < 2:
			issue = ReasonInsufficientSamples
		case s[0].t > w.Start || s[len(s)-1].t < w.End:
			issue = ReasonWindowNotBracketed
		default:
			gap := maxGap(s, w.Start, w.End)
			m.MaxGap[id] = gap
			if gap > MaxSampleGap {
				issue = ReasonSamplingGapExceeded
			}
			m.Energy[id], m.Peak[id] = integral(s, w.Start, w.End)
		}
		if issue != "" {
			m.Issues[id] = []string{issue}
			m.add(issue)
		}
	}
}

// read adds one node's samples near the window to raw, by GPU id; false
// when the file cannot be read as telemetry at all. noID says a row
// named no GPU.
func (m *Measurement) read(t Telemetry, raw map[string]map[float64][]float64) (ok, noID bool) {
	w := m.Window
	if t.Missing {
		m.add(ReasonTelemetryFileMissing)
		return false, false
	}
	if len(t.CSV) == 0 {
		m.add(ReasonTelemetryFileEmpty)
		return false, false
	}
	loc := t.Location
	if loc == nil {
		loc = time.Local
	}
	r := csv.NewReader(bytes.NewReader(t.CSV))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.LazyQuotes = true
	header, err := r.Read()
	if err == io.EOF {
		header = nil // blank lines only: no columns to find
	} else if err != nil {
		m.add(ReasonTelemetryFileUnreadable)
		return false, false
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	tsCol, pwCol, gpuCol := columns(header)
	if tsCol < 0 {
		m.add(ReasonTimestampColumnMissing)
	}
	if pwCol < 0 {
		m.add(ReasonPowerColumnMissing)
	}
	if gpuCol < 0 {
		m.add(ReasonGPUIdentityColumnMissing)
	}
	if tsCol < 0 || pwCol < 0 || gpuCol < 0 {
		return false, false
	}
	milli := milliRE.MatchString(header[pwCol])
	// A header naming a column twice keeps the later cell, as a dict does.
	last := map[string]int{}
	for i, h := range header {
		last[h] = i
	}
	tsCol, pwCol, gpuCol = last[header[tsCol]], last[header[pwCol]], last[header[gpuCol]]
	cell := func(rec []string, i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			m.add(ReasonTelemetryFileUnreadable)
			return false, noID
		}
		ts, ok := parseTimestamp(cell(rec, tsCol), loc)
		if !ok {
			m.add(ReasonInvalidTimestampSample)
			continue
		}
		// Rows well outside the window (warmup, evals) cannot matter.
		if ts < w.Start-MaxSampleGap || ts > w.End+MaxSampleGap {
			continue
		}
		pw, ok := parsePower(cell(rec, pwCol), milli)
		if !ok || pw < 0 {
			m.add(ReasonInvalidPowerSample)
			continue
		}
		id := cell(rec, gpuCol)
		if id == "" {
			noID = true
			continue
		}
		if t.Node != "" {
			id = t.Node + "/" + id
		}
		if raw[id] == nil {
			raw[id] = map[float64][]float64{}
		}
		raw[id][ts] = append(raw[id][ts], pw)
	}
	return true, noID
}

type sample struct{ t, w float64 }

// averaged turns one GPU's readings into time-ordered samples, readings
// that share a timestamp averaged (some tools stamp coarser than they
// sample). The mean is exact, then rounded once.
func averaged(byTime map[float64][]float64) []sample {
	s := make([]sample, 0, len(byTime))
	for t, ws := range byTime {
		var sum big.Rat
		for _, w := range ws {
			var x big.Rat
			x.SetFloat64(w)
			sum.Add(&sum, &x)
		}
		sum.Quo(&sum, new(big.Rat).SetInt64(int64(len(ws))))
		m, _ := sum.Float64()
		s = append(s, sample{t, m})
	}
	sort.Slice(s, func(a, b int) bool { return s[a].t < s[b].t })
	return s
}

// maxGap is the largest gap between consecutive samples from the last one
// at or before start to the first one at or after end.
func maxGap(s []sample, start, end float64) float64 {
	left := sort.Search(len(s), func(i int) bool { return s[i].t > start }) - 1
	right := sort.Search(len(s), func(i int) bool { return s[i].t >= end })
	gap := 0.0
	for i := max(left, 0); i < right && i+1 < len(s); i++ {
		gap = math.Max(gap, s[i+1].t-s[i].t)
	}
	return gap
}

// at is the power at t, linearly interpolated between the samples around
// it (s brackets t).
func at(s []sample, t float64) float64 {
	i := sort.Search(len(s), func(i int) bool { return s[i].t >= t })
	if i < len(s) && math.Abs(s[i].t-t) <= 1e-9 {
		return s[i].w
	}
	l, r := s[i-1], s[i]
	return l.w + (t-l.t)/(r.t-l.t)*(r.w-l.w)
}

// integral integrates one GPU's power over [start, end] by trapezoids,
// the ends interpolated, and finds the highest power in it.
func integral(s []sample, start, end float64) (joules, peak float64) {
	pts := []sample{{start, at(s, start)}}
	for _, x := range s {
		if x.t > start && x.t < end {
			pts = append(pts, x)
		}
	}
	pts = append(pts, sample{end, at(s, end)})
	peak = pts[0].w
	for i := 1; i < len(pts); i++ {
		joules += (pts[i].t - pts[i-1].t) * (pts[i-1].w + pts[i].w) / 2
		peak = math.Max(peak, pts[i].w)
	}
	return joules, peak
}

// gpuLess orders numeric GPU ids by number, before any other id; ids of
// several nodes ("node/index") by node, then index.
func gpuLess(a, b string) bool {
	if na, ia, ok := strings.Cut(a, "/"); ok {
		if nb, ib, ok := strings.Cut(b, "/"); ok && na == nb {
			return gpuLess(ia, ib)
		}
	}
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	da, db := ea == nil && isDigits(a), eb == nil && isDigits(b)
	switch {
	case da && db:
		return na < nb
	case da != db:
		return da
	}
	return a < b
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// parsePower reads the first number of a power cell ("412.34 W") in
// watts: milli (the column's header says mW) or a cell saying mW divides
// by 1000. [N/A] and cells without a number are no reading.
func parsePower(s string, milli bool) (float64, bool) {
	switch strings.ToLower(s) {
	case "", "[n/a]", "n/a", "na":
		return 0, false
	}
	m := numberRE.FindString(s)
	if m == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(m, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	if milli || milliRE.MatchString(s) {
		f /= 1000
	}
	return f, true
}

var isoLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseTimestamp reads a telemetry timestamp as Unix seconds, to the
// microsecond as Python's datetime keeps it.
func parseTimestamp(s string, loc *time.Location) (float64, bool) {
	if s == "" {
		return 0, false
	}
	if epochRE.MatchString(s) {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(n, 0) {
			return 0, false
		}
		if n > 1e12 {
			return n / 1000, true // epoch milliseconds
		}
		return n, true
	}
	// A time without a zone: whole seconds in loc plus the microseconds.
	naive := func(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond()/1000)/1e6 }
	if slashRE.MatchString(s) {
		t, err := time.ParseInLocation("2006/01/02 15:04:05", s, loc)
		if err != nil {
			return 0, false
		}
		return naive(t), true
	}
	iso := s
	if strings.Contains(iso, " ") && !strings.Contains(iso, "T") {
		iso = strings.Replace(iso, " ", "T", 1)
	}
	for _, l := range isoLayouts {
		t, err := time.ParseInLocation(l, iso, loc)
		if err != nil {
			continue
		}
		if strings.HasSuffix(l, "Z07:00") {
			// With a zone: the exact microsecond count, divided once.
			return float64(t.Unix()*1e6+int64(t.Nanosecond()/1000)) / 1e6, true
		}
		return naive(t), true
	}
	return 0, false
}
