package jobspec

//go:generate go run ./gen -root ../..
