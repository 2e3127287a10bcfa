package sim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// models proxies GET /v1/models to the first worker that answers.
func (rt *Router) models(w http.ResponseWriter, r *http.Request) {
	var last error
	for _, worker := range append(append(append([]string(nil), rt.cfg.Decode...), rt.cfg.Agg...), rt.cfg.Prefill...) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, worker+"/v1/models", nil)
		if err != nil {
			return
		}
		resp, err := rt.hc.Do(req)
		if err != nil {
			last = fmt.Errorf("%s: %w", worker, err)
			continue
		}
		rt.relay(w, r, worker, resp)
		return
	}
	rt.routerError(w, http.StatusBadGateway, "BadGatewayError", fmt.Sprintf("no worker answered: %v", last))
}

// instance is one worker in the router's /health answer, as Dynamo's
// frontend lists them.
type instance struct {
	Component  string `json:"component"`
	Endpoint   string `json:"endpoint"`
	Namespace  string `json:"namespace"`
	InstanceID int    `json:"instance_id"`
	URL        string `json:"url"`
}

// health answers 200 when every worker's /health does, 503 otherwise,
// listing the healthy workers as instances.
func (rt *Router) health(w http.ResponseWriter, r *http.Request) {
	type probe struct {
		inst instance
		ok   bool
	}
	var probes []*probe
	id := 0
	for _, p := range []struct {
		component string
		list      []string
	}{{"prefill", rt.cfg.Prefill}, {"decode", rt.cfg.Decode}, {"backend", rt.cfg.Agg}} {
		for _, u := range p.list {
			probes = append(probes, &probe{inst: instance{Component: p.component, Endpoint: "generate", Namespace: "fleet", InstanceID: id, URL: u}})
			id++
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.inst.URL+"/health", nil)
			if err != nil {
				return
			}
			resp, err := rt.hc.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPhase1Body))
			resp.Body.Close()
			p.ok = resp.StatusCode == http.StatusOK
		}()
	}
	wg.Wait()
	status, word := http.StatusOK, "healthy"
	healthy := []instance{}
	for _, p := range probes {
		if p.ok {
			healthy = append(healthy, p.inst)
		} else {
			status, word = http.StatusServiceUnavailable, "unhealthy"
		}
	}
	writeJSON(w, status, marshal(struct {
		Status    string     `json:"status"`
		Instances []instance `json:"instances"`
	}{word, healthy}))
}

func (rt *Router) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	for _, m := range []struct {
		name, help string
		v          int64
	}{
		{"fleet_sim_router_requests_total", "Generation requests received.", rt.requests.Load()},
		{"fleet_sim_router_errors_total", "Requests answered with an error or cut short.", rt.errors.Load()},
	} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %s\n", m.name, m.help, m.name, m.name, strconv.FormatInt(m.v, 10))
	}
	_, _ = w.Write([]byte(b.String()))
}
