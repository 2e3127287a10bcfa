package topology

import (
	"strconv"
	"strings"
	"testing"
)

func TestPlace(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		gpn   int
		want  []string // per node: its processes with devices
		err   string
	}{
		{
			name:  "1 prefill, 1 decode, tp8 on 8-GPU nodes",
			shape: Shape{Prefill: Pool{Workers: 1, TP: 8}, Decode: Pool{Workers: 1, TP: 8}, KVTransfer: "nixl"},
			gpn:   8,
			want:  []string{"router-0 prefill-0[0-7]", "decode-0[0-7]"},
		},
		{
			name:  "2 prefill tp4 pack one node, 1 decode tp16 spans two",
			shape: Shape{Prefill: Pool{Workers: 2, TP: 4}, Decode: Pool{Workers: 1, TP: 16}},
			gpn:   8,
			want:  []string{"router-0 prefill-0[0-3] prefill-1[4-7]", "decode-0[0-7]", "decode-0-node1[0-7]"},
		},
		{
			name:  "3 prefill tp4 on 8-GPU nodes: the third starts a node",
			shape: Shape{Prefill: Pool{Workers: 3, TP: 4, Nodes: 2}, Decode: Pool{Workers: 1, TP: 4}},
			gpn:   8,
			want:  []string{"router-0 prefill-0[0-3] prefill-1[4-7]", "prefill-2[0-3]", "decode-0[0-3]"},
		},
		{
			name:  "aggregated two-node worker with infra",
			shape: Shape{Prefill: Pool{Workers: 1, TP: 8, PP: 2}, Infra: true},
			gpn:   8,
			want:  []string{"infra-0 router-0 agg-0[0-7]", "agg-0-node1[0-7]"},
		},
		{
			name:  "GB200 44 GPUs: 3 prefill dep4, 1 decode dep32 on 4-GPU trays",
			shape: Shape{Prefill: Pool{Workers: 3, TP: 4, EP: 4, DPAttn: true}, Decode: Pool{Workers: 1, TP: 32, EP: 32, DPAttn: true}},
			gpn:   4,
			want: []string{"router-0 prefill-0[0-3]", "prefill-1[0-3]", "prefill-2[0-3]",
				"decode-0[0-3]", "decode-0-node1[0-3]", "decode-0-node2[0-3]", "decode-0-node3[0-3]",
				"decode-0-node4[0-3]", "decode-0-node5[0-3]", "decode-0-node6[0-3]", "decode-0-node7[0-3]"},
		},
		{name: "worker not a whole number of nodes", shape: Shape{Prefill: Pool{Workers: 1, TP: 12}, Decode: Pool{Workers: 1, TP: 8}}, gpn: 8, err: "does not fill whole nodes"},
		{name: "nodes check", shape: Shape{Prefill: Pool{Workers: 2, TP: 8, Nodes: 3}, Decode: Pool{Workers: 1, TP: 8}}, gpn: 8, err: "prefill.nodes: 3, but"},
		{name: "no prefill", shape: Shape{Decode: Pool{Workers: 1, TP: 8}}, gpn: 8, err: "prefill.workers: 0"},
		{name: "kv transfer without decode", shape: Shape{Prefill: Pool{Workers: 1, TP: 8}, KVTransfer: "nixl"}, gpn: 8, err: "aggregated"},
		{name: "bad policy", shape: Shape{Prefill: Pool{Workers: 1, TP: 8}, Router: Router{Policy: "fastest"}}, gpn: 8, err: "router.policy"},
		{name: "no GPUs per node", shape: Shape{Prefill: Pool{Workers: 1, TP: 8}}, gpn: 0, err: "at least 1 GPU per node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Place(tt.shape, tt.gpn)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Validate(); err != nil {
				t.Fatalf("placed layout does not validate: %v", err)
			}
			var got []string
			gpus := 0
			for _, n := range l.Nodes {
				var ps []string
				for _, p := range n.Processes {
					s := p.Name()
					if len(p.Devices) > 0 {
						s += "[" + itoa(p.Devices[0]) + "-" + itoa(p.Devices[len(p.Devices)-1]) + "]"
					}
					gpus += len(p.Devices)
					ps = append(ps, s)
				}
				got = append(got, strings.Join(ps, " "))
			}
			if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
				t.Errorf("layout\n got %q\nwant %q", got, tt.want)
			}
			if gpus != tt.shape.GPUs() {
				t.Errorf("layout uses %d GPUs, shape has %d", gpus, tt.shape.GPUs())
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
