package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Canary is the short job per (GPU type, framework, image) that runs
// before a full sweep, so a broken image or driver fails the sweep in
// minutes instead of after hours of GPU time.
type Canary struct {
	Enabled bool
	Prompts int           // the canary's prompts (its warmups are none)
	Conc    int           // its concurrency, at most the job's own
	Timeout time.Duration // bounds the whole canary job
}

// DefaultCanary is the canary a sweep gets from --canary or an empty
// canary block.
func DefaultCanary() Canary {
	return Canary{Prompts: 2, Conc: 1, Timeout: 10 * time.Minute}
}

var canarySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "enabled"}, {Name: "prompts"}, {Name: "conc"}, {Name: "timeout"},
}}

// canary decodes a settings block's canary block. A canary block turns
// the canary on unless it says enabled = false.
func (d *decoder) canary(b *hcl.Block, c *Canary) {
	content, diags := b.Body.Content(canarySchema)
	d.diags = append(d.diags, diags...)
	a := content.Attributes
	c.Enabled = true
	d.boolean(a, "enabled", &c.Enabled)
	if attr := d.integer(a, "prompts", &c.Prompts); attr != nil && c.Prompts <= 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "A canary's prompts must be at least 1, not %d.", c.Prompts)
	} else {
		d.atMost(attr, c.Prompts, maxPromptsPerConc)
	}
	if attr := d.integer(a, "conc", &c.Conc); attr != nil && c.Conc <= 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "A canary's conc must be at least 1, not %d.", c.Conc)
	}
	d.duration(a, "timeout", &c.Timeout)
}
