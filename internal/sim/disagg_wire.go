package sim

import (
	"encoding/json"
	"strconv"
)

// kvParams is vLLM's kv_transfer_params as the NIXL connector fills it:
// the proxy sends do_remote_decode to a prefill, the prefill answers with
// do_remote_prefill and where its blocks are, and the proxy hands that to a
// decode. Keys are emitted in this order.
type kvParams struct {
	DoRemotePrefill bool    `json:"do_remote_prefill"`
	DoRemoteDecode  bool    `json:"do_remote_decode"`
	RemoteBlockIDs  []int   `json:"remote_block_ids"`
	RemoteEngineID  *string `json:"remote_engine_id"`
	RemoteHost      *string `json:"remote_host"`
	RemotePort      *int    `json:"remote_port"`
	RemoteRequestID string  `json:"remote_request_id,omitempty"`
	TPSize          int     `json:"tp_size,omitempty"`
}

// bootstrapInfo is SGLang's pair-send addressing: the router sends the same
// request to a prefill and a decode, naming the prefill's bootstrap server
// and a random room that ties the two halves together.
type bootstrapInfo struct {
	Host string `json:"bootstrap_host"`
	Port int    `json:"bootstrap_port"`
	Room uint64 `json:"bootstrap_room"`
}

// key is how a prefill files the KV of this pair.
func (b *bootstrapInfo) key() string { return "room-" + strconv.FormatUint(b.Room, 10) }

// decodeDisagg reads the disaggregation fields of a request body.
func (req *request) decodeDisagg(fields map[string]json.RawMessage, format Format, invalid func(string, ...any)) {
	if raw, ok := fields["kv_transfer_params"]; ok && !isNull(raw) && format == FormatVLLM {
		var p kvParams
		if err := json.Unmarshal(raw, &p); err != nil {
			invalid("kv_transfer_params: Input should be a valid dictionary")
			return
		}
		req.kv = &p
	}
	if format != FormatSGLang {
		return
	}
	raw, ok := fields["bootstrap_room"]
	if !ok || isNull(raw) {
		return
	}
	var b bootstrapInfo
	if err := json.Unmarshal(raw, &b.Room); err != nil {
		invalid("bootstrap_room: Input should be a valid integer")
		return
	}
	if raw, ok := fields["bootstrap_host"]; ok && json.Unmarshal(raw, &b.Host) != nil {
		invalid("bootstrap_host: Input should be a valid string")
		return
	}
	if raw, ok := fields["bootstrap_port"]; ok && !isNull(raw) {
		v, err := parseInt(raw)
		if err != nil {
			invalid("bootstrap_port: Input should be a valid integer")
			return
		}
		b.Port = v
	}
	req.bootstrap = &b
}
