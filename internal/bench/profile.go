package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// profileBody asks for what InferenceX's client asks SGLang for: one
// profile step, merged across ranks, split by stage. vLLM ignores the body.
const profileBody = `{"num_steps":1,"merge_profiles":true,"profile_by_stage":true}`

// profileTimeout bounds one profiler call: stopping writes the trace,
// which for a large model takes a while.
const profileTimeout = 10 * time.Minute

// profile POSTs to a server's profiler endpoint (url is the whole URL) and
// says why it did not answer 2xx.
func (q *requester) profile(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, profileTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(profileBody)))
	if err != nil {
		return fmt.Errorf("profiler %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if q.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+q.apiKey)
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return fmt.Errorf("profiler %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("profiler %s: %s", url, httpFailure(resp))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}
