// Package sweeps embeds the demo sweep, which `fleet sweep` runs when no
// sweep file is named: a fresh machine with nothing but fleet can run it.
package sweeps

import _ "embed"

// Demo is sweeps/demo.hcl.
//
//go:embed demo.hcl
var Demo []byte
