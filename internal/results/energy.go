package results

import (
	"encoding/json"
	"math"

	"github.com/fleetbench/fleet/internal/energy"
)

// Energy keys of a row. The figures live among Metrics under the names
// InferenceX's aggregated rows give them, so that fleet's rows and
// imported ones read alike; power_reasons, a list, lives among Extra.
const (
	KeyPowerValid        = "power_valid" // 1 valid, 0 not
	KeyEnergyJ           = "total_gpu_energy_j"
	KeyAvgPowerW         = "avg_power_w" // per GPU
	KeyAvgTotalPowerW    = "avg_total_gpu_power_w"
	KeyPeakPowerW        = "peak_power_w" // the most one GPU drew
	KeyJoulesPerQuery    = "joules_per_successful_query"
	KeyJoulesPerInTok    = "joules_per_input_token"
	KeyJoulesPerOutTok   = "joules_per_output_token"
	KeyJoulesPerTotalTok = "joules_per_total_token"
	// KeyPowerSamples counts the samples of all GPUs inside the window.
	KeyPowerSamples = "power_samples"
	// The window integrated over: the client's benchmark start and end,
	// Unix seconds.
	KeyPowerWindowStart = "power_window_start_unix"
	KeyPowerWindowEnd   = "power_window_end_unix"
	// KeyPowerReasons are the codes of why the power is invalid
	// (energy.Reason*), an empty list when it is valid.
	KeyPowerReasons = "power_reasons"
)

// SetEnergy writes a power measurement into the row: its validity and
// reasons always, the window and sample count when the client's window
// was usable, and the figures only when it is valid.
func (r *Row) SetEnergy(m *energy.Measurement) {
	if r.Metrics == nil {
		r.Metrics = map[string]float64{}
	}
	if r.Extra == nil {
		r.Extra = map[string]json.RawMessage{}
	}
	for _, k := range []string{KeyEnergyJ, KeyAvgPowerW, KeyAvgTotalPowerW, KeyPeakPowerW, KeyJoulesPerQuery, KeyJoulesPerInTok,
		KeyJoulesPerOutTok, KeyJoulesPerTotalTok, KeyPowerSamples, KeyPowerWindowStart, KeyPowerWindowEnd} {
		delete(r.Metrics, k)
	}
	reasons := append([]string{}, m.Reasons...)
	if w := m.Window; w != nil {
		r.Metrics[KeyPowerWindowStart] = w.Start
		r.Metrics[KeyPowerWindowEnd] = w.End
		r.Metrics[KeyPowerSamples] = float64(m.InWindow)
	}
	mt, ok := m.Metrics()
	figures := map[string]float64{
		KeyEnergyJ: mt.EnergyJ, KeyAvgPowerW: mt.AvgPowerW, KeyAvgTotalPowerW: mt.AvgTotalPowerW, KeyPeakPowerW: mt.PeakPowerW,
		KeyJoulesPerQuery: mt.JoulesPerQuery, KeyJoulesPerInTok: mt.JoulesPerInputToken,
		KeyJoulesPerOutTok: mt.JoulesPerOutputToken, KeyJoulesPerTotalTok: mt.JoulesPerTotalToken,
	}
	for _, v := range figures {
		if math.IsNaN(v) || math.IsInf(v, 0) || v > MaxMetric {
			ok = false
		}
	}
	if ok {
		for k, v := range figures {
			r.Metrics[k] = v
		}
	} else if len(reasons) == 0 {
		reasons = append(reasons, "aggregate_result_unwritable")
	}
	r.Metrics[KeyPowerValid] = 0
	if ok {
		r.Metrics[KeyPowerValid] = 1
	}
	b, _ := json.Marshal(reasons)
	r.Extra[KeyPowerReasons] = b
}

// SetEnergyDetail writes what an InferenceX row lacks of a power
// measurement: the reasons, the window, the sample count and, when
// valid, the peak power. The row's own figures stay as InferenceX's
// processing rounded them.
func (r *Row) SetEnergyDetail(m *energy.Measurement) {
	if r.Metrics == nil {
		r.Metrics = map[string]float64{}
	}
	if r.Extra == nil {
		r.Extra = map[string]json.RawMessage{}
	}
	delete(r.Metrics, KeyPeakPowerW)
	if w := m.Window; w != nil {
		r.Metrics[KeyPowerWindowStart] = w.Start
		r.Metrics[KeyPowerWindowEnd] = w.End
		r.Metrics[KeyPowerSamples] = float64(m.InWindow)
	}
	if mt, ok := m.Metrics(); ok {
		r.Metrics[KeyPeakPowerW] = mt.PeakPowerW
	}
	b, _ := json.Marshal(append([]string{}, m.Reasons...))
	r.Extra[KeyPowerReasons] = b
}

// PowerValid says whether the row carries a valid energy measurement.
func (r *Row) PowerValid() bool { return r.Metrics[KeyPowerValid] == 1 }

// PowerReasons are why the row's power is invalid, as it recorded them.
func (r *Row) PowerReasons() []string {
	var out []string
	_ = json.Unmarshal(r.Extra[KeyPowerReasons], &out)
	return out
}

// anyPowerValid says whether a row of rows has a valid energy measurement:
// the tables then show the energy columns.
func anyPowerValid(rows []*Row) bool {
	for _, r := range rows {
		if r.PowerValid() {
			return true
		}
	}
	return false
}

// energyHead is the energy columns' header, when shown.
func energyHead(show bool) string {
	if !show {
		return ""
	}
	return "J/OUT-TOK\tW/GPU\t"
}

// energyCells are a row's energy cells, when shown: joules per output
// token and average power per GPU, "-" when its power is invalid.
func energyCells(r *Row, show bool) string {
	if !show {
		return ""
	}
	if !r.PowerValid() {
		return "-\t-\t"
	}
	return metric(r, KeyJoulesPerOutTok, 1, 4) + "\t" + metric(r, KeyAvgPowerW, 1, 1) + "\t"
}
