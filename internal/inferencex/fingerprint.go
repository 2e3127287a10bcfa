package inferencex

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/fleetbench/fleet/internal/pyjson"
)

// RecipeFingerprint is the recipe-fingerprint InferenceX's CI gives a
// throughput row (process_changelog.py): the SHA-256, in hex, of the row
// without conc, exp-name and recipe-fingerprint, serialized as Python's
// json.dumps(row, sort_keys=True, separators=(",", ":"),
// ensure_ascii=True). Rows of one recipe at different concurrencies
// share it, which is what lets results of one recipe be grouped.
func RecipeFingerprint(j *Job) (string, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return "", fmt.Errorf("recipe fingerprint: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var row map[string]any
	if err := dec.Decode(&row); err != nil {
		return "", fmt.Errorf("recipe fingerprint: %w", err)
	}
	delete(row, "conc")
	delete(row, "exp-name")
	delete(row, "recipe-fingerprint")
	return CanonicalSHA256(row)
}

// CanonicalSHA256 is the SHA-256, in hex, of v serialized as
// RecipeFingerprint serializes a row: Python's sorted-key, compact,
// ASCII-only JSON. v holds what encoding/json decodes into with
// UseNumber (maps, slices, strings, bools, json.Number, nil); fleet's own
// jobs hash their canonical map through it so that both kinds of
// fingerprint are made one way.
func CanonicalSHA256(v any) (string, error) {
	var out bytes.Buffer
	if err := pythonJSON(&out, v); err != nil {
		return "", fmt.Errorf("recipe fingerprint: %w", err)
	}
	sum := sha256.Sum256(out.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// pythonJSON writes v the way Python's json.dumps does with sort_keys,
// the compact separators and ensure_ascii: keys sorted by code point,
// every character outside printable ASCII escaped as \uXXXX (surrogate
// pairs above U+FFFF), and no HTML escaping.
func pythonJSON(w *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		w.WriteString(strconv.FormatBool(x))
	case json.Number:
		w.WriteString(x.String())
	case string:
		w.Write(pyjson.AppendString(nil, x))
	case []any:
		w.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := pythonJSON(w, e); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// Go compares strings bytewise; UTF-8 byte order is code point
		// order, which is how Python sorts str keys.
		sort.Strings(keys)
		w.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				w.WriteByte(',')
			}
			w.Write(pyjson.AppendString(nil, k))
			w.WriteByte(':')
			if err := pythonJSON(w, x[k]); err != nil {
				return err
			}
		}
		w.WriteByte('}')
	default:
		return fmt.Errorf("unexpected JSON value of type %T", v)
	}
	return nil
}
