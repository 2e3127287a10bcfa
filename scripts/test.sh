#!/usr/bin/env bash
# test.sh: the one command that runs every test of fleet. On a fresh Debian
# machine with Go it installs what the tests need (Debian packages for the
# rig, staticcheck and shellcheck), starts the test rig (real sshd hosts in
# network namespaces, a real Slurm cluster with and without accounting),
# runs the static checks and `go test ./...`, and stops the rig again.
# Needs root (network namespaces, daemons). A missing part fails the run;
# nothing is skipped.
#
#   FLEET_KEEP_RIG=1   leave the rig running afterwards (faster reruns)
#   GO_TEST_FLAGS=...  extra flags for go test (e.g. -run TestX -v)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: run as root (the test rig creates network namespaces and starts daemons)" >&2
	exit 1
fi
command -v go >/dev/null || { echo "test.sh: Go is not installed" >&2; exit 1; }

step() { printf '\n==> %s\n' "$*"; }

step "tools"
gopath=$(go env GOPATH)
export PATH="$PATH:$gopath/bin"
if ! command -v staticcheck >/dev/null; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
need_apt=()
command -v shellcheck >/dev/null || need_apt+=(shellcheck)
# Chromium renders the HTML report in its browser test; DejaVu is its font.
command -v chromium >/dev/null || need_apt+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# systemd-analyze verifies the units `fleet schedule` writes.
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
	# No package script may start a daemon here (policy-rc.d says no).
	guard=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		guard=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod 755 "$guard"
	fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
	[ -n "$guard" ] && rm -f "$guard"
fi

step "test rig"
scripts/testrig/up.sh
if [ -z "${FLEET_KEEP_RIG:-}" ]; then
	trap 'step "stopping the test rig"; scripts/testrig/down.sh' EXIT
fi

step "gofmt, go vet, staticcheck (shellcheck runs as a Go test)"
unformatted=$(gofmt -l cmd internal scripts sweeps)
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
staticcheck ./...

step "go test"
# One package at a time: the accuracy checks of the benchmark client and
# the rig's network-fault tests measure time, and two cores shared by
# concurrent packages would measure each other.
# shellcheck disable=SC2086
go test -count=1 -p 1 -timeout 40m ${GO_TEST_FLAGS:-} ./...
