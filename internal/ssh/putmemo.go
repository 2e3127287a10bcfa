package ssh

import (
	"bytes"
	"context"

	"github.com/fleetbench/fleet/internal/shellquote"
)

// A shared file (the fleet binary, 20 MB) is pushed to every job, and
// checking that the node's cached copy is whole took two sha256 passes
// over it, here and on the node: most of a short job's overhead. Once a
// copy was found whole (or written), the client remembers it with its
// stamp; a later push that finds the same stamp skips both hashes. The
// stamp holds the ctime to the nanosecond, which any write, chmod or
// chown moves and no user can set back, so a copy changed since is
// hashed again.

// verifiedPut is a remote file found to hold digest, with its stamp then.
type verifiedPut struct {
	digest, stamp string
}

// stampCommand prints dst's device, inode, size, mtime, ctime, owner,
// mode and type without following a link (GNU stat); nothing where stat
// cannot say, and then nothing is remembered.
func stampCommand(dst string) string {
	return "stat -c '%d %i %s %y %z %u %a %F' -- " + shellquote.Quote(dst) + " 2>/dev/null"
}

func (c *Client) remoteStamp(ctx context.Context, dst string) string {
	var out bytes.Buffer
	code, err := c.Exec(ctx, stampCommand(dst), nil, &out, nil)
	if err != nil || code != 0 {
		return ""
	}
	return string(bytes.TrimSpace(out.Bytes()))
}

// stillWhole says whether dst was found to hold digest and has the same
// stamp now.
func (c *Client) stillWhole(ctx context.Context, dst, digest string) bool {
	if digest == "" {
		return false
	}
	c.verifiedMu.Lock()
	v, ok := c.verified[dst]
	c.verifiedMu.Unlock()
	if !ok || v.digest != digest {
		return false
	}
	st := c.remoteStamp(ctx, dst)
	return st != "" && st == v.stamp
}

// rememberWhole notes that dst holds digest now.
func (c *Client) rememberWhole(ctx context.Context, dst, digest string) {
	if digest == "" {
		return
	}
	st := c.remoteStamp(ctx, dst)
	c.verifiedMu.Lock()
	defer c.verifiedMu.Unlock()
	if st == "" {
		delete(c.verified, dst)
		return
	}
	if c.verified == nil {
		c.verified = map[string]verifiedPut{}
	}
	c.verified[dst] = verifiedPut{digest: digest, stamp: st}
}
