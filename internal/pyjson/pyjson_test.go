package pyjson

import (
	"math"
	"testing"
)

// The expected texts are what Python 3's json.dumps prints for the same
// values (repr for floats, ensure_ascii for strings).
func TestAppendFloat(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {-2, "-2.0"}, {0.1, "0.1"}, {1.0 / 3, "0.3333333333333333"},
		{123456.789, "123456.789"}, {1e-4, "0.0001"}, {9.99e-5, "9.99e-05"}, {1e-5, "1e-05"}, {1e16, "1e+16"},
		{1.5e16, "1.5e+16"}, {9999999999999998, "9999999999999998.0"}, {2.5e-300, "2.5e-300"},
		{math.NaN(), "null"}, {math.Inf(1), "null"}, {math.Inf(-1), "null"},
	}
	for _, tt := range tests {
		if got := string(AppendFloat(nil, tt.f)); got != tt.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ s, want string }{
		{"", `""`},
		{"plain ASCII ~", `"plain ASCII ~"`},
		{`quote " backslash \`, `"quote \" backslash \\"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x1f\x7f", `"\u0000\u001f\u007f"`},
		{"é€", `"\u00e9\u20ac"`},
		{"😀", `"\ud83d\ude00"`},
		{"bad \xff byte", `"bad \ufffd byte"`},
		{"<html>&", `"<html>&"`},
	}
	for _, tt := range tests {
		if got := string(AppendString(nil, tt.s)); got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.s, got, tt.want)
		}
	}
}
