package trace

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
)

// mooncakeNamespace is the Tree.ID of every tree LoadMooncake returns.
// Mooncake hash ids are global (equal ids in two sessions are the same
// tokens), and text is keyed by (Tree.ID, id), so one shared namespace
// keeps cross-session sharing; the conversations' IDs tell trees apart.
const mooncakeNamespace = "mooncake"

// LoadMooncake reads a mooncake_trace JSONL file (AIPerf's
// --custom-dataset-type mooncake_trace): one request per line with
// input_length, output_length, hash_ids (blockSize tokens each, global
// ids >= 0), and optional timestamp (ms), session_id (string or number)
// and delay (ms). text_input lines are refused (no hash ids to replay).
//
// Lines with one session_id form one conversation, its turns in file
// order; each line's hash_ids are only that turn's new input (as AIPerf
// replays mooncake sessions, accumulating history). Between two turns
// the previous answer is sent back as ceil(output_length/blockSize) full
// blocks of synthetic negative ids private to the conversation, so
// Turn.HashIDs is the whole context: earlier inputs and answers, then the
// new input. Turn.In counts that context as the cc recordings do (every
// block full but the last). A line without a session_id is a one-turn
// tree.
//
// Times: a session's first turn is at T 0; each later one at the previous
// T plus its delay (0 when absent), with APITime 0, so the replay's
// end-to-start gap is the recorded delay. Timestamps are checked (>= 0)
// but do not place turns: a replay runs sessions in lanes, not on the
// recorded schedule.
//
// Trees come in the order their first line appears; Tree.ID is
// "mooncake", and the conversation's ID is "mooncake::s:<session>"
// or "mooncake::line:<n>". Errors name the file and line.
func LoadMooncake(path string, blockSize int) ([]*Tree, error) {
	return loadMooncake(path, blockSize, defaultLimits)
}

type mcLine struct {
	Timestamp    *float64        `json:"timestamp"`
	InputLength  int             `json:"input_length"`
	OutputLength int             `json:"output_length"`
	HashIDs      idList          `json:"hash_ids"`
	SessionID    json.RawMessage `json:"session_id"`
	Delay        *float64        `json:"delay"`
	TextInput    json.RawMessage `json:"text_input"`
}

// mcSession is a conversation being built.
type mcSession struct {
	tree *Tree
	ids  []int64 // the last turn's whole context
	out  int     // the last turn's output tokens
	t    float64 // the last turn's T
}

func loadMooncake(path string, bs int, lim limits) ([]*Tree, error) {
	if bs <= 0 || bs > lim.blockSize {
		return nil, fmt.Errorf("mooncake %s: block size %d: want 1..%d (mooncake traces use 512)", path, bs, lim.blockSize)
	}
	f, err := openBounded(path, lim.fileBytes)
	if err != nil {
		return nil, fmt.Errorf("mooncake: %w", err)
	}
	defer f.Close()
	return readMooncake(f, path, bs, lim)
}

// readMooncake reads a mooncake JSONL stream; name is for errors.
func readMooncake(r io.Reader, path string, bs int, lim limits) ([]*Tree, error) {
	var trees []*Tree
	sessions := map[string]*mcSession{}
	err := eachLine(r, path, lim, func(data []byte, where string, n int) error {
		var ln mcLine
		if err := json.Unmarshal(data, &ln); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		sid, err := checkMooncake(&ln, bs, lim)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		s := sessions[sid]
		if s == nil || sid == "" {
			if len(trees) >= lim.traces {
				return fmt.Errorf("%s: more than %d sessions", where, lim.traces)
			}
			conv := "mooncake::line:" + strconv.Itoa(n)
			if sid != "" {
				conv = "mooncake::s:" + sid
			}
			s = &mcSession{tree: &Tree{ID: mooncakeNamespace, BlockSize: bs,
				Convs: []Conv{{ID: conv, Parent: -1, SpawnAfter: -1, JoinBefore: -1}}}}
			trees = append(trees, s.tree)
			if sid != "" {
				sessions[sid] = s
			}
		}
		c := &s.tree.Convs[0]
		if len(c.Turns) >= lim.requests {
			return fmt.Errorf("%s: session %q: more than %d turns", where, sid, lim.requests)
		}
		if len(s.ids)+ceilDiv(s.out, bs)+len(ln.HashIDs) > lim.idsPerRequest {
			return fmt.Errorf("%s: session %q: context over %d blocks", where, sid, lim.idsPerRequest)
		}
		c.Turns = append(c.Turns, s.turn(c.ID, &ln))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(trees) == 0 {
		return nil, fmt.Errorf("mooncake %s: no requests", path)
	}
	return trees, nil
}

// checkMooncake checks a line and returns its session id ("" for none).
func checkMooncake(ln *mcLine, bs int, lim limits) (string, error) {
	switch {
	case len(ln.TextInput) > 0 && !bytes.Equal(ln.TextInput, []byte("null")):
		return "", errors.New("text_input lines are not supported (no hash_ids to replay)")
	case ln.InputLength <= 0:
		return "", fmt.Errorf("input_length %d: want > 0", ln.InputLength)
	case ln.OutputLength < 0:
		return "", fmt.Errorf("output_length %d: want >= 0", ln.OutputLength)
	case ln.Timestamp != nil && (*ln.Timestamp < 0 || *ln.Timestamp > maxSeconds*1000):
		return "", fmt.Errorf("timestamp %g: want 0..%g ms", *ln.Timestamp, maxSeconds*1000)
	case ln.Delay != nil && (*ln.Delay < 0 || *ln.Delay > maxSeconds*1000):
		return "", fmt.Errorf("delay %g: want 0..%g ms", *ln.Delay, maxSeconds*1000)
	case len(ln.HashIDs) > lim.idsPerRequest:
		return "", fmt.Errorf("%d hash_ids: more than %d", len(ln.HashIDs), lim.idsPerRequest)
	case len(ln.HashIDs) != ceilDiv(ln.InputLength, bs):
		return "", fmt.Errorf("%d hash_ids for input_length %d: want ceil(%d/%d) = %d",
			len(ln.HashIDs), ln.InputLength, ln.InputLength, bs, ceilDiv(ln.InputLength, bs))
	}
	for _, id := range ln.HashIDs {
		if id < 0 {
			return "", fmt.Errorf("hash id %d: want >= 0", id)
		}
	}
	raw := bytes.TrimSpace(ln.SessionID)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "", nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("session_id: %w", err)
		}
		if s == "" {
			return "", errors.New("empty session_id")
		}
		return s, nil
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		return string(raw), nil // a number: its JSON text
	}
	return "", fmt.Errorf("session_id %s: want a string or a number", raw)
}

// turn appends ln as the session's next turn.
func (s *mcSession) turn(conv string, ln *mcLine) Turn {
	bs := s.tree.BlockSize
	k := len(s.tree.Convs[0].Turns)
	cb := convBuilder{treeID: s.tree.ID, convID: conv, bs: bs}
	var t Turn
	var answer []int64
	if k > 0 {
		for j := range ceilDiv(s.out, bs) {
			answer = append(answer, answerID(conv, k-1, j))
		}
		t.T = s.t
		if ln.Delay != nil {
			t.T += *ln.Delay / 1000
		}
	}
	ctx := make([]int64, 0, len(s.ids)+len(answer)+len(ln.HashIDs))
	ctx = append(append(append(ctx, s.ids...), answer...), ln.HashIDs...)
	tail := ln.InputLength - bs*(len(ln.HashIDs)-1)
	r := request{T: t.T, In: bs*(len(ctx)-1) + tail, Out: ln.OutputLength, HashIDs: ctx}
	t.In, t.Out, t.HashIDs = r.In, r.Out, ctx
	if len(answer) > 0 {
		t.Add = append(t.Add, Message{Role: "assistant", Blocks: cb.blocks(r, k, len(s.ids), len(s.ids)+len(answer))})
	}
	t.Add = append(t.Add, Message{Role: "user", Blocks: cb.blocks(r, k, len(ctx)-len(ln.HashIDs), len(ctx))})
	s.ids, s.out, s.t = ctx, ln.OutputLength, t.T
	return t
}

// answerID is the synthetic id of block j of a conversation's answer to
// turn k: negative, so never one of the file's ids, and the same every
// time the answer is re-sent as history.
func answerID(conv string, k, j int) int64 {
	h := fnv.New64a()
	h.Write([]byte(conv))
	h.Write([]byte{0})
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(k)))
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(j)))
	return -int64(h.Sum64()>>2) - 1
}
