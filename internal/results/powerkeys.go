package results

// Power keys InferenceX's processing writes beside the energy figures:
// the power schema's version, and the per-role figures of a multi-node
// (disaggregated) run's power.
const (
	KeyPowerSchemaVersion    = "power_metric_schema_version"
	KeyPrefillEnergyJ        = "prefill_gpu_energy_j"
	KeyDecodeEnergyJ         = "decode_gpu_energy_j"
	KeyPrefillAvgPowerW      = "prefill_avg_power_w"
	KeyDecodeAvgPowerW       = "decode_avg_power_w"
	KeyPrefillJoulesPerInTok = "prefill_joules_per_input_token"
	KeyDecodeJoulesPerOutTok = "decode_joules_per_output_token"
)

// PowerKeys lists a row's power keys in the order InferenceX's
// aggregated rows carry them: the schema version and validity first,
// then aggregate_power's figures, then the per-role ones of multi-node
// power. Each call returns a new slice, so callers may keep or change it.
func PowerKeys() []string {
	return []string{KeyPowerSchemaVersion, KeyPowerValid, KeyAvgPowerW, KeyAvgTotalPowerW, KeyEnergyJ,
		KeyJoulesPerQuery, KeyJoulesPerInTok, KeyJoulesPerOutTok, KeyJoulesPerTotalTok,
		KeyPrefillEnergyJ, KeyDecodeEnergyJ, KeyPrefillAvgPowerW, KeyDecodeAvgPowerW,
		KeyPrefillJoulesPerInTok, KeyDecodeJoulesPerOutTok}
}
