package ixresult

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/fleetbench/fleet/internal/pyjson"
)

// object is a JSON object that keeps its keys in insertion order, as a
// Python dict does: setting a key it already has keeps the key's place.
// InferenceX's files are compared by people and by diff, so fleet writes
// them in the order process_result builds them.
type object struct {
	keys []string
	vals map[string]any // string, bool, int, float64, json.RawMessage, *object, []any, nil
}

func newObject() *object { return &object{vals: map[string]any{}} }

func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// encode writes o as Python's json.dumps(o, indent=2) does.
func (o *object) encode() ([]byte, error) {
	var b bytes.Buffer
	if err := writePy(&b, o, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func newline(b *bytes.Buffer, level int) {
	b.WriteByte('\n')
	for i := 0; i < level; i++ {
		b.WriteString("  ")
	}
}

// writePy writes v with Python's indent=2 layout: ",\n" between items,
// ": " after keys, floats as repr() writes them, non-ASCII escaped.
func writePy(b *bytes.Buffer, v any, level int) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		b.Write(pyjson.AppendString(nil, x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%v is not a JSON number", x)
		}
		b.Write(pyjson.AppendFloat(nil, x))
	case json.Number:
		b.WriteString(string(x))
	case json.RawMessage:
		parsed, err := parseOrdered(x)
		if err != nil {
			return err
		}
		return writePy(b, parsed, level)
	case *object:
		if len(x.keys) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(b, level+1)
			b.Write(pyjson.AppendString(nil, k))
			b.WriteString(": ")
			if err := writePy(b, x.vals[k], level+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		newline(b, level)
		b.WriteByte('}')
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(b, level+1)
			if err := writePy(b, e, level+1); err != nil {
				return err
			}
		}
		newline(b, level)
		b.WriteByte(']')
	default:
		return fmt.Errorf("cannot write %T as JSON", v)
	}
	return nil
}

// parseOrdered decodes JSON keeping object keys in their order; numbers
// stay as written.
func parseOrdered(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	v, err := parseValue(d)
	if err != nil {
		return nil, fmt.Errorf("decode JSON value: %w", err)
	}
	return v, nil
}

func parseValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := newObject()
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := parseValue(d)
				if err != nil {
					return nil, err
				}
				o.set(kt.(string), v)
			}
			_, err := d.Token() // '}'
			return o, err
		case '[':
			l := []any{}
			for d.More() {
				v, err := parseValue(d)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := d.Token() // ']'
			return l, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil // string, bool, json.Number or nil
	}
}

// pyRound rounds as Python's round(x, n) does: to the nearest decimal
// with n places of the exact binary value, halves to even.
func pyRound(x float64, n int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', n, 64), 64)
	return r
}
