package results

import (
	"regexp"
	"strconv"
	"strings"
)

// NameInfo is what an InferenceMAX result file name says about its job.
type NameInfo struct {
	ModelPrefix string
	Seq         string // scenario: 1k1k, 1k8k, 8k1k, ...
	Precision   string
	Framework   string
	TP, EP, PP  int
	DPAttn      bool
	Conc        int
	Node        string // empty when the name stops after the concurrency
}

// resultName matches `<model_prefix>_<seq>_<precision>_<framework>_tp<TP>-ep<EP>[-pp<PP>]-dpa<bool>[_spec-<method>]_conc<C>[_<node>]`.
// The model prefix is greedy so that the fixed-shape fields that follow
// anchor the match; node names may hold '_' themselves (h200-cw_0).
var resultName = regexp.MustCompile(`^(.+)_([A-Za-z0-9-]+)_([^_]+)_([^_]+)_tp(\d+)-ep(\d+)(?:-pp(\d+))?-dpa(true|false)(?:_spec-[a-z0-9_]+?)?_conc(\d+)(?:_(.+))?$`)

// ParseResultName reads an InferenceMAX result file name (with or without
// its .json extension).
func ParseResultName(name string) (NameInfo, bool) {
	name = strings.TrimSuffix(name, ".json")
	m := resultName.FindStringSubmatch(name)
	if m == nil {
		return NameInfo{}, false
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	info := NameInfo{
		ModelPrefix: m[1], Seq: m[2], Precision: m[3], Framework: m[4],
		TP: atoi(m[5]), EP: atoi(m[6]), PP: max(atoi(m[7]), 1),
		DPAttn: m[8] == "true", Conc: atoi(m[9]), Node: m[10],
	}
	return info, info.TP > 0 && info.Conc > 0
}

var seqPart = regexp.MustCompile(`^(\d+k?)(\d+k?)$`)

// SeqLens turns a scenario name such as 1k1k, 8k1k or 1k256 into input
// and output lengths (k = 1024, as InferenceMAX's names mean).
func SeqLens(seq string) (isl, osl int, ok bool) {
	m := seqPart.FindStringSubmatch(strings.ToLower(seq))
	if m == nil {
		return 0, 0, false
	}
	conv := func(s string) int {
		mult := 1
		if strings.HasSuffix(s, "k") {
			mult, s = 1024, strings.TrimSuffix(s, "k")
		}
		n, _ := strconv.Atoi(s)
		return n * mult
	}
	isl, osl = conv(m[1]), conv(m[2])
	return isl, osl, isl > 0 && osl > 0
}

var gpuPrefix = regexp.MustCompile(`^[a-z]+[0-9]+[a-z]*`)

// HWFromNode guesses the GPU type from an InferenceMAX runner name, which
// starts with its SKU label: h200-cw_0 is an h200, mi355x-amd_1 an mi355x.
func HWFromNode(node string) string {
	return gpuPrefix.FindString(strings.ToLower(node))
}
