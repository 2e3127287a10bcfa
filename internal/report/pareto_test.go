package report

import (
	"math"
	"math/rand/v2"
	"testing"
	"testing/quick"
)

// checkFrontier verifies the frontier's defining properties against a
// brute-force reading of pts.
func checkFrontier(t *testing.T, pts, front []Point) bool {
	t.Helper()
	on := map[int]bool{}
	for _, f := range front {
		if on[f.Index] {
			t.Errorf("point %d appears twice on the frontier", f.Index)
			return false
		}
		on[f.Index] = true
		for _, p := range pts {
			if dominates(p, f) {
				t.Errorf("frontier point %+v is dominated by %+v", f, p)
				return false
			}
		}
	}
	for i := 1; i < len(front); i++ {
		if front[i].X < front[i-1].X {
			t.Errorf("frontier not sorted by X: %+v", front)
			return false
		}
		if front[i].X > front[i-1].X && front[i].Y >= front[i-1].Y {
			t.Errorf("Y must fall as X rises along the frontier: %+v", front)
			return false
		}
	}
	for _, p := range pts {
		if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
			if on[p.Index] {
				t.Errorf("non-finite point %+v on the frontier", p)
				return false
			}
			continue
		}
		dominated := false
		for _, q := range pts {
			if dominates(q, p) {
				dominated = true
			}
		}
		if dominated == on[p.Index] {
			t.Errorf("point %+v: dominated=%v but on frontier=%v", p, dominated, on[p.Index])
			return false
		}
	}
	return true
}

func TestFrontierPropertiesOnRandomPoints(t *testing.T) {
	cfg := &quick.Config{MaxCount: 2000, Rand: nil}
	rng := rand.New(rand.NewPCG(1, 2))
	prop := func(n uint8, grid bool) bool {
		pts := make([]Point, int(n)%40)
		for i := range pts {
			if grid {
				// A coarse grid makes ties and duplicates common.
				pts[i] = Point{X: float64(rng.IntN(6)), Y: float64(rng.IntN(6)), Index: i}
			} else {
				pts[i] = Point{X: rng.Float64() * 100, Y: rng.ExpFloat64() * 1000, Index: i}
			}
			if rng.IntN(25) == 0 {
				pts[i].Y = math.NaN()
			}
		}
		return checkFrontier(t, pts, ParetoFrontier(pts))
	}
	if err := quick.Check(prop, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestFrontierCases(t *testing.T) {
	cases := []struct {
		name string
		pts  []Point
		want []int // indexes, in frontier order
	}{
		{"no points", nil, nil},
		{"one point", []Point{{1, 1, 0}}, []int{0}},
		{"a chain where each trades Y for X", []Point{{3, 1, 0}, {1, 3, 1}, {2, 2, 2}}, []int{1, 2, 0}},
		{"a point beaten on both axes is dropped", []Point{{1, 1, 0}, {2, 2, 1}}, []int{1}},
		{"equal X: only the higher Y stays", []Point{{2, 1, 0}, {2, 3, 1}, {1, 2, 2}}, []int{1}},
		{"equal Y: only the higher X stays", []Point{{1, 2, 0}, {3, 2, 1}}, []int{1}},
		{"identical points both stay", []Point{{1, 1, 0}, {1, 1, 1}, {0, 0, 2}}, []int{0, 1}},
		{"NaN is ignored", []Point{{math.NaN(), 9, 0}, {1, 1, 1}}, []int{1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ParetoFrontier(c.pts)
			if len(got) != len(c.want) {
				t.Fatalf("ParetoFrontier = %+v, want indexes %v", got, c.want)
			}
			for i := range got {
				if got[i].Index != c.want[i] {
					t.Fatalf("ParetoFrontier = %+v, want indexes %v", got, c.want)
				}
			}
		})
	}
}

func BenchmarkParetoFrontier(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	pts := make([]Point, 10000)
	for i := range pts {
		pts[i] = Point{X: rng.Float64(), Y: rng.Float64(), Index: i}
	}
	for b.Loop() {
		ParetoFrontier(pts)
	}
}
