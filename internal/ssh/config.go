package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// Defaults chosen so a dead link is noticed in about 10 s and a session
// never hits sshd's MaxSessions (10 by default), which answers
// "administratively prohibited" instead of queueing.
const (
	DefaultConnectTimeout    = 10 * time.Second
	DefaultKeepaliveInterval = 3 * time.Second
	DefaultKeepaliveCountMax = 3
	DefaultMaxSessions       = 8
)

// NoSSHConfig as Config.SSHConfigPath reads no ~/.ssh/config at all.
const NoSSHConfig = "none"

// Config says how to reach one machine. Explicit values (from the
// inventory) win over ~/.ssh/config, which wins over OpenSSH's defaults.
type Config struct {
	// Name is the inventory name, used in errors and in the hint to trust
	// an unknown host ("fleet nodes trust NAME").
	Name string
	// Host is a host name, an address or an alias of ~/.ssh/config.
	Host string
	Port int // 0: from ~/.ssh/config, else 22
	User string
	// IdentityFiles are private keys to offer, before the agent's keys.
	// Empty: IdentityFile of ~/.ssh/config, else ~/.ssh/id_{ed25519,ecdsa,rsa}.
	IdentityFiles []string
	// Jump is the ProxyJump chain, outermost first. Empty: ProxyJump of
	// ~/.ssh/config.
	Jump []Config
	// KnownHosts are the known_hosts files checked (all of them) and the
	// first one is where Trust appends. Empty: ~/.ssh/known_hosts. There is
	// deliberately no way to switch the check off.
	KnownHosts []string

	ConnectTimeout    time.Duration // TCP connect and SSH handshake, per hop
	KeepaliveInterval time.Duration // keepalive@openssh.com every interval
	KeepaliveCountMax int           // close after this many intervals without a reply
	MaxSessions       int           // concurrent sessions (SFTP included) on the connection, >= 2

	// SSHConfigPath is the OpenSSH client config to read: empty means
	// ~/.ssh/config (when it exists), NoSSHConfig means none.
	SSHConfigPath string
	// AgentSocket is the ssh-agent socket (the caller passes $SSH_AUTH_SOCK);
	// empty means no agent.
	AgentSocket string
}

// label names the machine in messages: the inventory name, else the host.
func (c *Config) label() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Host
}

// addr is host:port as dialled and as looked up in known_hosts.
func (c *Config) addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// resolve fills what the inventory left out from ~/.ssh/config and the
// defaults, for this hop and every jump hop. It reads files, so it runs
// once per Client.
func (c Config) resolve() (Config, error) {
	home, _ := os.UserHomeDir()
	sshCfg, err := loadSSHConfig(c.SSHConfigPath, home)
	if err != nil {
		return Config{}, err
	}
	return c.resolveWith(sshCfg, home, 0)
}

// maxJumpDepth stops a ProxyJump loop in ~/.ssh/config.
const maxJumpDepth = 8

func (c Config) resolveWith(sshCfg *ssh_config.Config, home string, depth int) (Config, error) {
	if depth > maxJumpDepth {
		return Config{}, fmt.Errorf("%s: ProxyJump chain deeper than %d hops (a loop in ~/.ssh/config?)", c.label(), maxJumpDepth)
	}
	alias := c.Host
	if alias == "" {
		alias = c.Name
	}
	if alias == "" {
		return Config{}, errors.New("ssh config: neither host nor name given")
	}
	get := func(key string) string {
		if sshCfg == nil {
			return ""
		}
		v, _ := sshCfg.Get(alias, key)
		return v
	}
	out := c
	// Own copies: resolving must not write into the caller's slices.
	out.IdentityFiles = append([]string(nil), c.IdentityFiles...)
	out.KnownHosts = append([]string(nil), c.KnownHosts...)
	out.Host = alias
	if hn := get("HostName"); hn != "" {
		out.Host = strings.ReplaceAll(hn, "%h", alias)
	}
	if out.Port == 0 {
		if p := get("Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return Config{}, fmt.Errorf("%s: ~/.ssh/config Port %q: not a port number", c.label(), p)
			}
			out.Port = n
		} else {
			out.Port = 22
		}
	}
	if out.User == "" {
		out.User = get("User")
	}
	if out.User == "" {
		out.User = currentUser()
	}
	if len(out.IdentityFiles) == 0 && sshCfg != nil {
		all, _ := sshCfg.GetAll(alias, "IdentityFile")
		out.IdentityFiles = append(out.IdentityFiles, all...)
	}
	if len(out.IdentityFiles) == 0 && home != "" {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(home, ".ssh", name)
			if _, err := os.Stat(p); err == nil {
				out.IdentityFiles = append(out.IdentityFiles, p)
			}
		}
	}
	for i, f := range out.IdentityFiles {
		out.IdentityFiles[i] = expandHome(f, home)
	}
	if len(out.KnownHosts) == 0 {
		if home == "" {
			return Config{}, fmt.Errorf("%s: no known_hosts file given and no home directory to find ~/.ssh/known_hosts", c.label())
		}
		out.KnownHosts = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	for i, f := range out.KnownHosts {
		out.KnownHosts[i] = expandHome(f, home)
	}
	if out.ConnectTimeout <= 0 {
		out.ConnectTimeout = DefaultConnectTimeout
	}
	if out.KeepaliveInterval <= 0 {
		out.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if out.KeepaliveCountMax <= 0 {
		out.KeepaliveCountMax = DefaultKeepaliveCountMax
	}
	if out.MaxSessions == 0 {
		out.MaxSessions = DefaultMaxSessions
	}
	if out.MaxSessions < 2 {
		// SFTP holds one session for the connection's life; Put's checksum
		// probe needs another.
		return Config{}, fmt.Errorf("%s: MaxSessions %d: need at least 2", c.label(), out.MaxSessions)
	}

	jumps := c.Jump
	if len(jumps) == 0 {
		if pj := get("ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
			for _, spec := range strings.Split(pj, ",") {
				j, err := ParseJump(strings.TrimSpace(spec))
				if err != nil {
					return Config{}, fmt.Errorf("%s: ~/.ssh/config ProxyJump: %w", c.label(), err)
				}
				jumps = append(jumps, j)
			}
		}
	}
	out.Jump = nil
	for _, j := range jumps {
		// A hop inherits the trust and agent settings of the connection it
		// serves unless it says otherwise.
		if len(j.KnownHosts) == 0 {
			j.KnownHosts = append([]string(nil), out.KnownHosts...)
		}
		if j.AgentSocket == "" {
			j.AgentSocket = out.AgentSocket
		}
		if j.ConnectTimeout == 0 {
			j.ConnectTimeout = out.ConnectTimeout
		}
		j.KeepaliveInterval = out.KeepaliveInterval
		j.KeepaliveCountMax = out.KeepaliveCountMax
		if j.MaxSessions == 0 {
			j.MaxSessions = out.MaxSessions
		}
		// A hop's own ProxyJump (from ~/.ssh/config) comes before it, as
		// OpenSSH chains them.
		rj, err := j.resolveWith(sshCfg, home, depth+1)
		if err != nil {
			return Config{}, err
		}
		out.Jump = append(out.Jump, rj.Jump...)
		rj.Jump = nil
		out.Jump = append(out.Jump, rj)
	}
	return out, nil
}

// ParseJump parses one ProxyJump hop: [user@]host[:port], with IPv6
// addresses in brackets.
func ParseJump(spec string) (Config, error) {
	var c Config
	if spec == "" {
		return c, errors.New("empty jump host")
	}
	if strings.Contains(spec, "://") {
		return c, fmt.Errorf("jump host %q: URLs are not supported, write [user@]host[:port]", spec)
	}
	if at := strings.LastIndex(spec, "@"); at >= 0 {
		c.User, spec = spec[:at], spec[at+1:]
	}
	host, port := spec, ""
	if strings.HasPrefix(spec, "[") {
		end := strings.Index(spec, "]")
		if end < 0 {
			return c, fmt.Errorf("jump host %q: unclosed [", spec)
		}
		host = spec[1:end]
		if rest := spec[end+1:]; rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return c, fmt.Errorf("jump host %q: junk after ]", spec)
			}
			port = rest[1:]
		}
	} else if i := strings.LastIndex(spec, ":"); i >= 0 {
		host, port = spec[:i], spec[i+1:]
	}
	if host == "" {
		return c, fmt.Errorf("jump host %q: no host", spec)
	}
	c.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("jump host %q: bad port %q", spec, port)
		}
		c.Port = n
	}
	return c, nil
}

// loadSSHConfig reads the OpenSSH client config. Match blocks cannot be
// evaluated here (they depend on the exec'ing client), so when the file
// does not parse they are dropped and parsing is retried; a file that
// still does not parse is ignored, like ssh_config's IgnoreErrors, because
// the inventory's explicit values are what fleet relies on.
func loadSSHConfig(path, home string) (*ssh_config.Config, error) {
	switch path {
	case NoSSHConfig:
		return nil, nil
	case "":
		if home == "" {
			return nil, nil
		}
		path = filepath.Join(home, ".ssh", "config")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	b, err := os.ReadFile(expandHome(path, home))
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	cfg, err := ssh_config.DecodeBytes(b)
	if err == nil {
		return cfg, nil
	}
	cfg, err = ssh_config.DecodeBytes(dropMatchBlocks(b))
	if err != nil {
		return nil, nil
	}
	return cfg, nil
}

// dropMatchBlocks removes every Match block (up to the next Host line).
func dropMatchBlocks(b []byte) []byte {
	var out bytes.Buffer
	skipping := false
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		word := strings.ToLower(firstWord(string(line)))
		switch word {
		case "match":
			skipping = true
			continue
		case "host":
			skipping = false
		}
		if !skipping {
			out.Write(line)
		}
	}
	return out.Bytes()
}

func firstWord(line string) string {
	line = strings.TrimSpace(line)
	if i := strings.IndexAny(line, " \t="); i >= 0 {
		return line[:i]
	}
	return line
}

func expandHome(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		return filepath.Join(home, p[1:])
	}
	return p
}

// currentUser is OpenSSH's default login name: the local user's.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
