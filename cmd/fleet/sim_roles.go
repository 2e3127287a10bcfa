package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/sim"
	"github.com/spf13/cobra"
)

// runSimRole runs what --role and the multi-node flags ask for: a router,
// a multi-node follower, or a worker (with its bootstrap endpoint and, as
// a multi-node leader, its followers' listener).
func (a *App) runSimRole(cmd *cobra.Command, sf *simFlags, cfg sim.Config) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	log := a.logger()
	addr := net.JoinHostPort(sf.host, strconv.Itoa(sf.port))
	if sf.role == "router" {
		return a.runSimRouter(ctx, sf, cfg, addr)
	}
	if sf.nnodes > 1 && sf.nodeRank > 0 {
		log.Info("fleet sim follower", "rank", sf.nodeRank, "nnodes", sf.nnodes, "leader", sf.distInitAddr)
		if err := sim.RunFollower(ctx, sf.distInitAddr, sf.nodeRank, sf.startupTimeout, cfg.Logger); err != nil {
			return withCode(ExitError, err)
		}
		return nil
	}

	groupErr := make(chan error, 2)
	if sf.nnodes > 1 {
		_, port, err := net.SplitHostPort(sf.distInitAddr)
		if err != nil {
			return usageError{fmt.Errorf("--dist-init-addr %q: %w", sf.distInitAddr, err)}
		}
		leader, err := sim.ListenLeader(net.JoinHostPort(sf.host, port), sf.nnodes, cfg.Logger)
		if err != nil {
			return withCode(ExitError, err)
		}
		cfg.Joined = leader.Joined()
		go func() {
			if err := leader.Run(ctx); err != nil {
				groupErr <- err
				cancel()
			}
		}()
	}
	var bootLn net.Listener
	if sf.bootstrapPort > 0 {
		var err error
		bootLn, err = net.Listen("tcp", net.JoinHostPort(sf.host, strconv.Itoa(sf.bootstrapPort)))
		if err != nil {
			return withCode(ExitError, fmt.Errorf("sim: bootstrap listen: %w", err))
		}
		cfg.BootstrapAddr = net.JoinHostPort(advertiseHost(sf), strconv.Itoa(bootLn.Addr().(*net.TCPAddr).Port))
	}
	srvErr := make(chan error, 1)
	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	go func() { srvErr <- a.runSim(srvCtx, cfg, addr, bootLn) }()
	err := <-srvErr
	select {
	case gerr := <-groupErr:
		return withCode(ExitError, gerr)
	default:
	}
	return err
}

// advertiseHost is the host a prefill names in kv_transfer_params.
func advertiseHost(sf *simFlags) string {
	if sf.advertiseHost != "" {
		return sf.advertiseHost
	}
	if ip := net.ParseIP(sf.host); sf.host != "" && (ip == nil || !ip.IsUnspecified()) {
		return sf.host
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "127.0.0.1"
}

// splitList splits flag values that may each hold several items separated
// by spaces or commas (the launcher's endpoint lists are space-separated).
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
	}
	return out
}

// workerURLs accepts http://host:port or a bare host:port for each worker.
func workerURLs(values []string) []string {
	var out []string
	for _, s := range splitList(values) {
		if !strings.Contains(s, "://") {
			s = "http://" + s
		}
		out = append(out, s)
	}
	return out
}

func (a *App) runSimRouter(ctx context.Context, sf *simFlags, cfg sim.Config, addr string) error {
	rc := sim.RouterConfig{
		Policy: sim.Policy(sf.policy), Format: cfg.Format, Seed: cfg.Seed, Logger: cfg.Logger,
		Prefill: workerURLs(sf.prefill), Decode: workerURLs(sf.decode), Agg: workerURLs(sf.agg),
	}
	for _, p := range splitList(sf.prefillBootstrapPorts) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return usageError{fmt.Errorf("--prefill-bootstrap-port %q: want a port number", p)}
		}
		rc.PrefillBootstrapPorts = append(rc.PrefillBootstrapPorts, n)
	}
	rt, err := sim.NewRouter(rc)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return withCode(ExitError, fmt.Errorf("sim router: listen on %s: %w", addr, err))
	}
	a.logger().Info("fleet sim router listening", "addr", ln.Addr().String(), "policy", sf.policy,
		"prefill", len(rc.Prefill), "decode", len(rc.Decode), "agg", len(rc.Agg))
	fmt.Fprintln(a.Stdout, "Application startup complete.")
	return rt.Serve(ctx, ln)
}
