package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostError refuses a host whose key is in no known_hosts file. It
// carries what the user needs to decide: the fingerprint, and the command
// that trusts the key.
type UnknownHostError struct {
	Name string // inventory name
	Addr string // host:port as looked up
	Key  gossh.PublicKey
}

// Fingerprint is the key's SHA256 fingerprint, as OpenSSH prints it.
func (e *UnknownHostError) Fingerprint() string { return gossh.FingerprintSHA256(e.Key) }

func (e *UnknownHostError) Error() string {
	return fmt.Sprintf("host key of %s (%s) is not known: it offers %s %s; if that is the right key, trust it with: fleet nodes trust %s",
		e.Name, knownhosts.Normalize(e.Addr), e.Key.Type(), e.Fingerprint(), e.Name)
}

// HostKeyChangedError refuses a host whose key differs from the one in
// known_hosts: a man in the middle, or a reinstalled machine. Never
// retried and never trusted automatically.
type HostKeyChangedError struct {
	Name  string
	Addr  string
	Key   gossh.PublicKey       // what the host offered
	Known []knownhosts.KnownKey // what known_hosts holds for it
}

// Fingerprint is the offered key's SHA256 fingerprint.
func (e *HostKeyChangedError) Fingerprint() string { return gossh.FingerprintSHA256(e.Key) }

func (e *HostKeyChangedError) Error() string {
	var where []string
	for _, k := range e.Known {
		where = append(where, fmt.Sprintf("%s:%d (%s %s)", k.Filename, k.Line, k.Key.Type(), gossh.FingerprintSHA256(k.Key)))
	}
	host := knownhosts.Normalize(e.Addr)
	return fmt.Sprintf("REMOTE HOST KEY CHANGED for %s (%s): it offers %s %s but known_hosts has %s. "+
		"Someone may be intercepting the connection, or the host was reinstalled. "+
		"Verify the new key out of band, remove the old entry (ssh-keygen -R '%s'), then run: fleet nodes trust %s",
		e.Name, host, e.Key.Type(), e.Fingerprint(), strings.Join(where, ", "), host, e.Name)
}

// RevokedHostKeyError refuses a host whose key is marked @revoked.
type RevokedHostKeyError struct {
	Name, Addr string
	Revoked    knownhosts.KnownKey
}

func (e *RevokedHostKeyError) Error() string {
	return fmt.Sprintf("host key of %s (%s) is REVOKED (%s:%d)", e.Name, knownhosts.Normalize(e.Addr), e.Revoked.Filename, e.Revoked.Line)
}

// hostKeys checks host keys against the known_hosts files of one hop.
type hostKeys struct {
	name string
	cb   gossh.HostKeyCallback
}

func loadHostKeys(c *Config) (*hostKeys, error) {
	var files []string
	for _, f := range c.KnownHosts {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: known_hosts %s: %w", c.label(), f, err)
		}
	}
	// With no file at all every host is unknown, which is the right answer.
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("%s: read known_hosts: %w", c.label(), err)
	}
	return &hostKeys{name: c.label(), cb: cb}, nil
}

// check is the HostKeyCallback: known_hosts' verdict as a typed error.
func (h *hostKeys) check(addr string, remote net.Addr, key gossh.PublicKey) error {
	err := h.cb(addr, remote, key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return &RevokedHostKeyError{Name: h.name, Addr: addr, Revoked: re.Revoked}
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return &UnknownHostError{Name: h.name, Addr: addr, Key: key}
	case errors.As(err, &ke):
		return &HostKeyChangedError{Name: h.name, Addr: addr, Key: key, Known: ke.Want}
	default:
		return fmt.Errorf("%s: check host key: %w", h.name, err)
	}
}

// algorithms lists the host key algorithms to negotiate with addr: those
// of the keys known for it. Without this the server may pick ed25519 while
// known_hosts holds only its RSA key, and the check reports a changed key.
// Nil (the library's defaults) for an unknown host.
func (h *hostKeys) algorithms(addr string) []string {
	_, probe, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	signer, err := gossh.NewSignerFromKey(probe)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(h.cb(addr, probeAddr(addr), signer.PublicKey()), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case gossh.KeyAlgoRSA:
			// An RSA key signs with SHA-2 on any current server.
			add(gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// probeAddr is a syntactically valid remote address for the callback; the
// lookup itself goes by the host name.
func probeAddr(addr string) net.Addr {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if ip == nil {
		ip = net.IPv4zero
	}
	return &net.TCPAddr{IP: ip, Port: p}
}

// TrustResult says what Trust found.
type TrustResult struct {
	Name        string // the inventory name
	Addr        string // the known_hosts host field: host or [host]:port
	KeyType     string
	Fingerprint string // SHA256:...
	// File is the known_hosts file written, or for a key already known,
	// the first file that has it (the system's file, possibly).
	File  string
	Added bool // false when the key was already known or not accepted
}

// TrustPolicy decides whether Trust adds a key that no known_hosts file
// has. With neither field set nothing is added.
type TrustPolicy struct {
	// Fingerprints pin the key: when any is given, the offered key's
	// SHA256 fingerprint must be one of them (ParseFingerprint's form),
	// and Confirm is not asked.
	Fingerprints []string
	// Confirm is asked with the offered key when nothing is pinned; false
	// adds nothing (ErrNotConfirmed).
	Confirm func(TrustResult) (bool, error)
}

// TrustOnFirstUse accepts whatever key the host offers the first time:
// safe only on a network where no one can intercept the connection.
func TrustOnFirstUse() TrustPolicy {
	return TrustPolicy{Confirm: func(TrustResult) (bool, error) { return true, nil }}
}

// errKeyCaptured stops a handshake once the host key is in hand: Trust
// needs no authentication.
var errKeyCaptured = errors.New("host key captured")

// ErrNotConfirmed is returned when a policy did not accept an unknown key.
var ErrNotConfirmed = errors.New("key not confirmed")

// FingerprintMismatchError refuses a key whose fingerprint is not the one
// the user expected.
type FingerprintMismatchError struct {
	Name, Addr string
	Offered    string // SHA256:...
	Expected   []string
}

func (e *FingerprintMismatchError) Error() string {
	return fmt.Sprintf("host key of %s (%s) is %s, not the expected %s: nothing added; "+
		"someone may be intercepting the connection, or the fingerprint given is not this host's",
		e.Name, e.Addr, e.Offered, strings.Join(e.Expected, " or "))
}

// ParseFingerprint checks a SHA256 fingerprint as OpenSSH prints it
// (SHA256: and 43 characters of unpadded base64) and returns it in that
// form; trailing '=' padding is accepted.
func ParseFingerprint(s string) (string, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), "SHA256:")
	b64 = strings.TrimRight(b64, "=")
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if !ok || err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q: want SHA256: and 43 base64 characters, as ssh-keygen -lf prints it", s)
	}
	return "SHA256:" + b64, nil
}

// Trust adds the key cfg's machine offers, if it is unknown, with no
// confirmation at all (TrustOnFirstUse); see TrustWith.
func Trust(ctx context.Context, cfg Config) (TrustResult, error) {
	return TrustWith(ctx, cfg, TrustOnFirstUse())
}

// TrustWith fetches the host key of cfg's machine (through its jump
// hosts, which must already be trusted), checks it against every
// known_hosts file of cfg, and when it is in none of them and policy
// accepts it, appends it to the first one. A key already known is left
// alone; a key that differs from the known one is refused with
// *HostKeyChangedError whatever the policy says: replacing a key is a
// decision for a human, made by removing the old line first.
func TrustWith(ctx context.Context, cfg Config, policy TrustPolicy) (TrustResult, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return TrustResult{}, err
	}
	hk, err := loadHostKeys(&rc)
	if err != nil {
		return TrustResult{}, err
	}
	hops, err := dialJumps(ctx, &rc)
	if err != nil {
		return TrustResult{}, err
	}
	defer closeAll(hops)
	var via *gossh.Client
	if len(hops) > 0 {
		via = hops[len(hops)-1]
	}
	conn, err := dialHop(ctx, via, &rc)
	if err != nil {
		return TrustResult{}, err
	}
	var got gossh.PublicKey
	var verdict error
	var where string
	cc := &gossh.ClientConfig{
		User: rc.User,
		HostKeyCallback: func(addr string, remote net.Addr, key gossh.PublicKey) error {
			got = key
			verdict = hk.check(addr, remote, key)
			if verdict == nil {
				where = knownIn(rc.KnownHosts, addr, remote, key)
			}
			return errKeyCaptured
		},
		HostKeyAlgorithms: hk.algorithms(rc.addr()),
		Timeout:           rc.ConnectTimeout,
	}
	client, err := handshake(ctx, conn, &rc, cc)
	if client != nil {
		client.Close()
	}
	if got == nil {
		if err == nil {
			err = errors.New("no host key received")
		}
		return TrustResult{}, fmt.Errorf("%s: fetch host key of %s: %w", rc.label(), rc.addr(), err)
	}
	res := TrustResult{
		Name:        rc.label(),
		Addr:        knownhosts.Normalize(rc.addr()),
		KeyType:     got.Type(),
		Fingerprint: gossh.FingerprintSHA256(got),
		File:        rc.KnownHosts[0],
	}
	var unknown *UnknownHostError
	switch {
	case verdict == nil:
		res.File = where
	case errors.As(verdict, &unknown):
	default:
		return res, verdict
	}
	// A pinned fingerprint is checked for a known key too: the user's
	// expectation differs from what known_hosts vouches for.
	if len(policy.Fingerprints) > 0 && !slices.Contains(policy.Fingerprints, res.Fingerprint) {
		return res, &FingerprintMismatchError{Name: res.Name, Addr: res.Addr, Offered: res.Fingerprint, Expected: policy.Fingerprints}
	}
	if verdict == nil {
		return res, nil
	}
	if len(policy.Fingerprints) == 0 {
		ok := false
		if policy.Confirm != nil {
			if ok, err = policy.Confirm(res); err != nil {
				return res, fmt.Errorf("%s: confirm host key: %w", rc.label(), err)
			}
		}
		if !ok {
			return res, ErrNotConfirmed
		}
	}
	if err := appendKnownHost(rc.KnownHosts[0], knownhosts.Line([]string{res.Addr}, got)); err != nil {
		return res, fmt.Errorf("%s: %w", rc.label(), err)
	}
	res.Added = true
	return res, nil
}

// knownIn names the first of files that vouches for key.
func knownIn(files []string, addr string, remote net.Addr, key gossh.PublicKey) string {
	for _, f := range files {
		if cb, err := knownhosts.New(f); err == nil && cb(addr, remote, key) == nil {
			return f
		}
	}
	return ""
}

func appendKnownHost(file, line string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("create directory of %s: %w", file, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open known_hosts: %w", err)
	}
	// A file that does not end in a newline would glue our entry to its
	// last line.
	prefix := ""
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if r, err := os.Open(file); err == nil {
			if _, err := r.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
				prefix = "\n"
			}
			r.Close()
		}
	}
	if _, err := f.WriteString(prefix + line + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append to %s: %w", file, err)
	}
	return nil
}
