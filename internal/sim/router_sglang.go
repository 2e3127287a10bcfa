package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// pairSend is SGLang's flow: the same request, with the prefill's
// bootstrap address and a random room, to a prefill and a decode at once;
// the decode's answer is relayed, the prefill's discarded.
func (rt *Router) pairSend(w http.ResponseWriter, r *http.Request, fields map[string]json.RawMessage) {
	prefill, decode := rt.pick(poolPrefill, r), rt.pick(poolDecode, r)
	port, err := rt.bootstrapPort(r.Context(), prefill)
	if err != nil {
		if r.Context().Err() == nil {
			rt.badGateway(w, prefill, err)
		}
		return
	}
	u, _ := url.Parse(prefill) // checked by NewRouter
	rt.rngMu.Lock()
	room := rt.rng.Uint64() >> 1 // 63 bits, as SGLang's router draws
	rt.rngMu.Unlock()
	fields["bootstrap_host"] = mustMarshal(u.Hostname())
	fields["bootstrap_port"] = mustMarshal(port)
	fields["bootstrap_room"] = mustMarshal(room)
	body := mustMarshal(fields)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	prefillErr := make(chan error, 1)
	go func() {
		resp, err := rt.post(ctx, prefill+r.URL.Path, body, r.Header)
		if err == nil {
			_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRelayBody))
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("answered %s", resp.Status)
			}
			resp.Body.Close()
		}
		prefillErr <- err
	}()
	type result struct {
		resp *http.Response
		err  error
	}
	decodeDone := make(chan result, 1)
	go func() {
		resp, err := rt.post(ctx, decode+r.URL.Path, body, r.Header)
		decodeDone <- result{resp, err}
	}()
	// The decode answers once the KV has landed, which needs the prefill:
	// a prefill that fails first fails the request.
	var d result
	select {
	case d = <-decodeDone:
	case err := <-prefillErr:
		if err != nil {
			cancel()
			if r.Context().Err() == nil {
				rt.badGateway(w, prefill, err)
			}
			if d := <-decodeDone; d.resp != nil {
				d.resp.Body.Close()
			}
			return
		}
		d = <-decodeDone
	}
	if d.err != nil {
		if r.Context().Err() == nil {
			rt.badGateway(w, decode, d.err)
		}
		return
	}
	rt.relay(w, r, decode, d.resp)
}

// bootstrapPort is a prefill's bootstrap port: from the configuration, or
// from its GET /server_info (as SGLang's router asks), cached a while.
func (rt *Router) bootstrapPort(ctx context.Context, prefill string) (int, error) {
	for i, p := range rt.cfg.Prefill {
		if p == prefill && i < len(rt.cfg.PrefillBootstrapPorts) && rt.cfg.PrefillBootstrapPorts[i] > 0 {
			return rt.cfg.PrefillBootstrapPorts[i], nil
		}
	}
	rt.bootMu.Lock()
	e, ok := rt.bootPort[prefill]
	rt.bootMu.Unlock()
	if ok && time.Since(e.at) < bootstrapCache {
		return e.port, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, prefill+"/server_info", nil)
	if err != nil {
		return 0, err
	}
	resp, err := rt.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("asking its bootstrap port: %w", err)
	}
	defer resp.Body.Close()
	var info struct {
		Port int `json:"disaggregation_bootstrap_port"`
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPhase1Body))
	if err == nil && resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(data, &info)
	}
	if err != nil || resp.StatusCode != http.StatusOK || info.Port <= 0 {
		return 0, fmt.Errorf("GET /server_info gave no disaggregation_bootstrap_port (status %s)", resp.Status)
	}
	rt.bootMu.Lock()
	rt.bootPort[prefill] = bootPortEntry{info.Port, time.Now()}
	rt.bootMu.Unlock()
	return info.Port, nil
}
