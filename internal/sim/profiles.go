package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// ProfileInfo names a GPU/model pair the simulator can imitate.
type ProfileInfo struct {
	Name        string
	Description string
	Config      Config // DefaultConfig with the profile's numbers applied
}

// profileSpec holds the numbers that differ between profiles.
//
// Every figure here is SYNTHETIC: chosen to be plausible for the pair
// (decode step of a dense 70B at TP8 around 8-10 ms on Hopper, faster on
// Blackwell, slower for DeepSeek-R1, prefill at tens of thousands of tokens
// per second) so that sweeps produce curves of the right shape. None of it
// was measured; never read results of the simulator as hardware numbers.
//
// kvCacheTokens, the GPU KV capacity the prefix cache gets when it is on
// and --kv-cache-tokens is not given, is as synthetic: (HBM x 0.9 -
// weights) / KV bytes per token, with rough weights and bytes per token
// (Llama-70B fp8 KV: 160 KiB; DeepSeek-R1 MLA: about 34 KiB; gpt-oss-120b
// bf16: 72 KiB), rounded.
type profileSpec struct {
	name, desc      string
	maxModelLen     int
	stepBase        time.Duration
	stepPerSeq      time.Duration
	prefillPerToken time.Duration
	decodePerKToken time.Duration
	startup         time.Duration
	kvCacheTokens   int
}

func profileSpecs() []profileSpec {
	const us = time.Microsecond
	return []profileSpec{
		{"h100-llama70b-tp8", "Llama-3.3-70B fp8 on 8x H100, TP8 (synthetic)", 131072, 9500 * us, 120 * us, 30 * us, 20 * us, 20 * time.Second, 3_000_000},
		{"h200-llama70b-tp8", "Llama-3.3-70B fp8 on 8x H200, TP8 (synthetic)", 131072, 8000 * us, 100 * us, 25 * us, 16 * us, 20 * time.Second, 5_700_000},
		{"b200-llama70b-tp8", "Llama-3.3-70B fp8 on 8x B200, TP8 (synthetic)", 131072, 5000 * us, 60 * us, 12 * us, 9 * us, 20 * time.Second, 7_400_000},
		{"mi300x-llama70b-tp8", "Llama-3.3-70B fp8 on 8x MI300X, TP8 (synthetic)", 131072, 10000 * us, 120 * us, 32 * us, 20 * us, 25 * time.Second, 8_000_000},
		{"mi325x-llama70b-tp8", "Llama-3.3-70B fp8 on 8x MI325X, TP8 (synthetic)", 131072, 9000 * us, 105 * us, 28 * us, 17 * us, 25 * time.Second, 10_800_000},
		{"mi355x-llama70b-tp8", "Llama-3.3-70B fp8 on 8x MI355X, TP8 (synthetic)", 131072, 6000 * us, 70 * us, 15 * us, 11 * us, 25 * time.Second, 12_200_000},
		{"h200-dsr1-tp8", "DeepSeek-R1-0528 fp8 on 8x H200, TP8 (synthetic)", 163840, 18000 * us, 150 * us, 60 * us, 30 * us, 30 * time.Second, 9_800_000},
		{"b200-dsr1-tp8", "DeepSeek-R1-0528 fp4 on 8x B200, TP8 (synthetic)", 163840, 11000 * us, 90 * us, 30 * us, 18 * us, 30 * time.Second, 26_000_000},
		{"h200-gptoss-tp1", "gpt-oss-120b mxfp4 on 1x H200, TP1 (synthetic)", 131072, 5000 * us, 50 * us, 15 * us, 10 * us, 15 * time.Second, 870_000},
		{"b200-gptoss-tp1", "gpt-oss-120b mxfp4 on 1x B200, TP1 (synthetic)", 131072, 3500 * us, 35 * us, 9 * us, 7 * us, 15 * time.Second, 1_340_000},
	}
}

func (p profileSpec) info() ProfileInfo {
	c := DefaultConfig()
	c.MaxModelLen = p.maxModelLen
	c.StepBase = p.stepBase
	c.StepPerSeq = p.stepPerSeq
	c.PrefillPerToken = p.prefillPerToken
	c.DecodePerKToken = p.decodePerKToken
	c.StartupDelay = p.startup
	c.KVCacheTokens = p.kvCacheTokens
	return ProfileInfo{Name: p.name, Description: p.desc, Config: c}
}

// Profiles lists the named profiles, sorted by name.
func Profiles() []ProfileInfo {
	specs := profileSpecs()
	out := make([]ProfileInfo, 0, len(specs))
	for _, p := range specs {
		out = append(out, p.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Profile returns DefaultConfig with the named profile's numbers applied.
func Profile(name string) (Config, error) {
	var names []string
	for _, p := range Profiles() {
		if p.Name == name {
			return p.Config, nil
		}
		names = append(names, p.Name)
	}
	return Config{}, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(names, ", "))
}
