# Conveniences; the README's two commands need none of this.
GO ?= go

.PHONY: build dist demo test test-short bench clean

build:
	CGO_ENABLED=0 $(GO) build -o bin/fleet ./cmd/fleet

# fleet pushes itself to the machines it runs jobs on. A controller whose
# OS or architecture differs from the nodes' (a macOS laptop driving Linux
# GPU nodes, or x86 nodes next to Grace arm64 ones) finds the matching
# binary beside its own executable as fleet-<os>-<arch>.
dist: build
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -o bin/fleet-linux-amd64 ./cmd/fleet
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -o bin/fleet-linux-arm64 ./cmd/fleet

demo:
	$(GO) run ./cmd/fleet sweep

test:
	sudo scripts/test.sh

test-short:
	$(GO) test -short ./...

bench:
	$(GO) test -run '^$$' -bench . ./internal/bench/ ./internal/sim/ ./internal/plan/

clean:
	rm -rf bin results
