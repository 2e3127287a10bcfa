package trace

import "testing"

func TestHitBlocks(t *testing.T) {
	sent := map[int64]bool{1: true, 2: true, 3: true, 9: true}
	tests := []struct {
		name string
		ids  []int64
		want int
	}{
		{"counts the whole list when all was sent", []int64{1, 2, 3}, 3},
		{"stops at the first unsent block", []int64{1, 2, 4, 3}, 2},
		{"does not count sent blocks after a miss", []int64{5, 9}, 0},
		{"counts nothing for an empty list", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HitBlocks(sent, tt.ids); got != tt.want {
				t.Errorf("HitBlocks(%v) = %d, want %d", tt.ids, got, tt.want)
			}
		})
	}
}
