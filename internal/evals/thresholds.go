package evals

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"go.yaml.in/yaml/v3"
)

// DefaultMinScore is the threshold of a task the thresholds file does not
// name (InferenceX's score gate uses the same).
const DefaultMinScore = 0.85

// Thresholds is a thresholds file in InferenceX's format (YAML, or JSON,
// which YAML reads too): a default score per task, and per model prefix
// scores that take precedence:
//
//	default: {gsm8k: 0.90, gpqa_diamond: 0.30}
//	models:
//	  dsr1: {gsm8k: 0.91}
type Thresholds struct {
	Default map[string]float64            `yaml:"default" json:"default"`
	Models  map[string]map[string]float64 `yaml:"models" json:"models"`
}

// ParseThresholds reads a thresholds file's contents. Unknown top-level
// keys and scores outside [0, 1] are errors.
func ParseThresholds(b []byte) (*Thresholds, error) {
	var t Thresholds
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	check := func(where string, m map[string]float64) error {
		for _, task := range slices.Sorted(maps.Keys(m)) {
			if v := m[task]; !(v >= 0 && v <= 1) {
				return fmt.Errorf("thresholds: %s%s is %v: want a score from 0 to 1", where, task, v)
			}
		}
		return nil
	}
	if err := check("default.", t.Default); err != nil {
		return nil, err
	}
	for _, p := range slices.Sorted(maps.Keys(t.Models)) {
		if err := check("models."+p+".", t.Models[p]); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// For is the threshold of task for a model prefix: the model's own, else
// the default's, else DefaultMinScore.
func (t *Thresholds) For(modelPrefix, task string) float64 {
	if v, ok := t.Models[modelPrefix][task]; ok {
		return v
	}
	if v, ok := t.Default[task]; ok {
		return v
	}
	return DefaultMinScore
}
