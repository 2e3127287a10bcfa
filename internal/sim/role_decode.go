package sim

import (
	"errors"
	"net"
	"net/http"
	"strconv"
)

// decodeSource says where a decode pulls a request's KV from, or nil when
// the request is an ordinary one (a decode then prefills it itself, as a
// vLLM kv_both worker would).
func (s *Server) decodeSource(req *request) (*kvSource, *apiError) {
	if s.cfg.Role != RoleDecode {
		return nil, nil
	}
	if p := req.kv; p != nil && p.DoRemotePrefill {
		if p.RemoteHost == nil || p.RemotePort == nil || p.RemoteRequestID == "" {
			return nil, badRequest("kv_transfer_params: do_remote_prefill needs remote_host, remote_port and remote_request_id")
		}
		return &kvSource{addr: net.JoinHostPort(*p.RemoteHost, strconv.Itoa(*p.RemotePort)), id: p.RemoteRequestID}, nil
	}
	if b := req.bootstrap; b != nil {
		if b.Host == "" || b.Port <= 0 {
			return nil, badRequest("bootstrap_host and bootstrap_port are required with bootstrap_room")
		}
		// The prefill works on the same request at the same time: wait
		// for its room as SGLang's decode does.
		return &kvSource{addr: net.JoinHostPort(b.Host, strconv.Itoa(b.Port)), id: b.key(), wait: s.cfg.KVHoldTimeout}, nil
	}
	return nil, nil
}

// transferFailed answers a request whose KV could not be fetched: the
// client went away (nothing to answer), the server is closing, or the
// prefill is gone or does not know the request (500, as a worker whose
// KV connector failed).
func (s *Server) transferFailed(w http.ResponseWriter, r *http.Request, src kvSource, err error) {
	switch {
	case r.Context().Err() != nil:
		s.cancelled.Add(1)
	case errors.Is(err, errDropped):
		s.dropped.Add(1)
		panic(http.ErrAbortHandler)
	default:
		s.failed.Add(1)
		s.transferErrors.Add(1)
		s.cfg.Logger.Warn("KV transfer failed", "prefill", src.addr, "request", src.id, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody(s.cfg.Format, &apiError{
			status: http.StatusInternalServerError, typ: "InternalServerError",
			msg: "KV transfer from the prefill at " + src.addr + " failed: " + err.Error(),
		}))
	}
}
