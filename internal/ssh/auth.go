package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AuthError means the server refused every key offered. Retrying does not
// help, so it is not transient.
type AuthError struct {
	Name    string
	User    string
	Offered []string // key fingerprints, in order
	Err     error
}

func (e *AuthError) Error() string {
	offered := "no keys"
	if len(e.Offered) > 0 {
		offered = strings.Join(e.Offered, ", ")
	}
	return fmt.Sprintf("%s: authentication as %q refused (offered %s): %v", e.Name, e.User, offered, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// auth holds the keys of one connection attempt: the identity files'
// signers first, then the agent's.
type auth struct {
	name        string
	user        string
	fileSigners []gossh.Signer
	agentConn   net.Conn
	agent       agent.ExtendedAgent
	offered     []string
}

func newAuth(c *Config) (*auth, error) {
	a := &auth{name: c.label(), user: c.User}
	var agentErr error
	var agentKeys []*agent.Key
	if c.AgentSocket != "" {
		conn, err := net.Dial("unix", c.AgentSocket)
		if err != nil {
			agentErr = fmt.Errorf("ssh-agent at %s: %w", c.AgentSocket, err)
		} else {
			a.agentConn = conn
			a.agent = agent.NewClient(conn)
			if agentKeys, err = a.agent.List(); err != nil {
				agentErr = fmt.Errorf("ssh-agent at %s: list keys: %w", c.AgentSocket, err)
				a.close()
			}
		}
	}
	for _, file := range c.IdentityFiles {
		pem, err := os.ReadFile(file)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("%s: identity file: %w", a.name, err)
		}
		signer, err := gossh.ParsePrivateKey(pem)
		var missing *gossh.PassphraseMissingError
		switch {
		case err == nil:
			a.fileSigners = append(a.fileSigners, signer)
		case errors.As(err, &missing):
			// fleet never prompts (it runs unattended, often in parallel):
			// an encrypted key signs through the agent or not at all.
			pub := missing.PublicKey
			if pub == nil {
				pub = readPublicKey(file + ".pub")
			}
			if a.agent != nil && (pub == nil || agentHolds(agentKeys, pub)) {
				continue
			}
			hint := "set SSH_AUTH_SOCK to a running ssh-agent"
			if agentErr != nil {
				hint = agentErr.Error()
			} else if a.agent != nil {
				hint = "the agent at " + c.AgentSocket + " does not hold it"
			}
			a.close()
			return nil, fmt.Errorf("%s: identity file %s is encrypted; add it to the agent with `ssh-add %s` (%s)", a.name, file, file, hint)
		default:
			a.close()
			return nil, fmt.Errorf("%s: identity file %s: %w", a.name, file, err)
		}
	}
	return a, nil
}

func readPublicKey(file string) gossh.PublicKey {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	pub, _, _, _, err := gossh.ParseAuthorizedKey(b)
	if err != nil {
		return nil
	}
	return pub
}

func agentHolds(keys []*agent.Key, pub gossh.PublicKey) bool {
	want := pub.Marshal()
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), want) {
			return true
		}
	}
	return false
}

// signers is the PublicKeysCallback; it records what it offered so an
// authentication failure can say so.
func (a *auth) signers() ([]gossh.Signer, error) {
	out := append([]gossh.Signer(nil), a.fileSigners...)
	if a.agent != nil {
		s, err := a.agent.Signers()
		if err == nil {
			out = append(out, s...)
		}
	}
	a.offered = a.offered[:0]
	for _, s := range out {
		a.offered = append(a.offered, gossh.FingerprintSHA256(s.PublicKey()))
	}
	return out, nil
}

func (a *auth) methods() []gossh.AuthMethod {
	return []gossh.AuthMethod{gossh.PublicKeysCallback(a.signers)}
}

// close drops the agent connection; it is needed only during the handshake.
func (a *auth) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
		a.agentConn = nil
		a.agent = nil
	}
}
