package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"time"

	"github.com/sluicemq/sluice/core/auth"
)

// SASLConfig turns on SASL authentication (SASL_PLAINTEXT, SASL_SSL): a
// connection must authenticate before anything but ApiVersions and the
// SASL APIs is served.
type SASLConfig struct {
	// Mechanisms are the enabled mechanisms: PLAIN, SCRAM-SHA-256,
	// SCRAM-SHA-512.
	Mechanisms []string
	// Credentials holds the users' SCRAM credentials; PLAIN passwords are
	// checked against them too.
	Credentials auth.CredentialLookup
	// Reauth is connections.max.reauth.ms: clients (SaslAuthenticate v1+)
	// are told this session lifetime and a connection used for anything
	// but re-authentication after it expires is closed. 0 disables it.
	Reauth time.Duration
	// PreAuthMaxBytes bounds a request before authentication (default
	// 64 KiB): an unauthenticated peer cannot make the broker buffer more.
	PreAuthMaxBytes int32
}

// defaultPreAuthMaxBytes: SASL messages are small; Kafka's own bound
// (sasl.server.max.receive.size) is 512 KiB, we are stricter.
const defaultPreAuthMaxBytes = 64 << 10

// tlsHandshakeTimeout bounds a TLS handshake (a peer that opens a socket
// and sends nothing must not hold a goroutine for the idle timeout).
const tlsHandshakeTimeout = 10 * time.Second

// Mechanism names.
const (
	MechPLAIN       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
)

// saslState is a connection's SASL progress.
type saslState struct {
	mech string // chosen by the last handshake; "" before one
	// raw: a v0 handshake was answered, so the next frames are bare SASL
	// tokens rather than SaslAuthenticate requests (pre-KIP-152 clients).
	raw   bool
	scram *auth.ScramServer // an exchange in progress
	// authenticated once a SASL exchange succeeded (stays true through
	// re-authentications).
	authenticated bool
	authVersion   int16     // SaslAuthenticate version of the last success
	expiry        time.Time // session end (KIP-368); zero for none
}

func (c *conn) saslRequired() bool { return c.s.cfg.SASL != nil }

// preAuth: the connection must still authenticate.
func (c *conn) preAuth() bool { return c.saslRequired() && !c.sasl.authenticated }

// frameLimit is the largest request accepted in the connection's state.
func (c *conn) frameLimit() int32 {
	if c.preAuth() {
		if n := c.s.cfg.SASL.PreAuthMaxBytes; n > 0 {
			return n
		}
		return defaultPreAuthMaxBytes
	}
	return c.s.cfg.MaxRequestBytes
}

// preAuthIdle closes a connection that has not authenticated and sends
// nothing for this long: unauthenticated peers must not hold connections
// for the full idle timeout.
const preAuthIdle = 30 * time.Second

// readIdle is how long the reader waits for the next request.
func (c *conn) readIdle() time.Duration {
	if c.preAuth() {
		return preAuthIdle
	}
	return idleTimeout
}

// admit decides whether a decoded request may be served in the
// connection's state; false closes the connection, as Kafka does.
func (c *conn) admit(h *header) bool {
	if !c.saslRequired() {
		return true
	}
	sasl := h.key == 17 || h.key == 36
	if !c.sasl.authenticated {
		if sasl || h.key == 18 {
			return true
		}
		c.logger.Info("closing connection: request before SASL authentication", "api_key", h.key, "client_id", h.clientID)
		return false
	}
	if !sasl && h.key != 18 && !c.sasl.expiry.IsZero() && time.Now().After(c.sasl.expiry) {
		c.logger.Info("closing connection: SASL session expired without re-authentication", "principal", c.principal, "api_key", h.key)
		return false
	}
	return true
}

// startTLS completes the TLS handshake of a TLS connection and, for a
// client certificate on a listener without SASL, takes the principal from
// its subject CN (User:<CN>). It reports whether to serve the connection.
func (c *conn) startTLS() bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(c.ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		// A plaintext client on a TLS port ends here.
		c.logger.Info("closing connection: TLS handshake failed", "err", err)
		return false
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) > 0 && !c.saslRequired() {
		if cn := st.PeerCertificates[0].Subject.CommonName; cn != "" {
			c.principal = auth.User(cn)
			c.logger.Info("TLS client authenticated", "principal", c.principal)
		}
	}
	c.logger.Debug("TLS connection", "version", tls.VersionName(st.Version), "principal", c.principal)
	return true
}

// rawSASL handles a bare SASL token after a v0 handshake. It returns the
// reply carrying the bare answer, or nil to close the connection (a failed
// raw exchange has no way to carry an error).
func (c *conn) rawSASL(token []byte) *reply {
	resp, done, err := c.saslStep(token)
	if err != nil {
		c.logger.Info("SASL authentication failed", "mechanism", c.sasl.mech, "err", err)
		return nil
	}
	if done {
		c.saslSucceeded(0)
		c.sasl.raw = false
	}
	return &reply{raw: resp}
}

// saslStep feeds one client message to the handshake's mechanism.
func (c *conn) saslStep(msg []byte) (resp []byte, done bool, err error) {
	cfg := c.s.cfg.SASL
	switch c.sasl.mech {
	case MechPLAIN:
		user, pass, err := auth.ParsePlain(msg)
		if err != nil {
			return nil, false, err
		}
		if !(auth.StoreVerifier{Store: cfg.Credentials}).VerifyPassword(user, pass) {
			return nil, false, auth.ErrAuthFailed
		}
		return nil, true, c.setAuthenticated(user)
	case MechScramSHA256, MechScramSHA512:
		if c.sasl.scram == nil {
			m, _ := auth.ScramMechanismByName(c.sasl.mech)
			c.sasl.scram = auth.NewScramServer(m, cfg.Credentials)
		}
		resp, done, err := c.sasl.scram.Step(msg)
		if err != nil {
			c.sasl.scram = nil
			return nil, false, err
		}
		if done {
			user := c.sasl.scram.User()
			c.sasl.scram = nil
			if err := c.setAuthenticated(user); err != nil {
				return nil, false, err
			}
		}
		return resp, done, nil
	}
	return nil, false, errIllegalSASLState
}

// setAuthenticated makes user the connection's principal; a
// re-authentication must not change it (as in Kafka).
func (c *conn) setAuthenticated(user string) error {
	p := auth.User(user)
	if c.sasl.authenticated && p != c.principal {
		return errPrincipalChange
	}
	c.principal = p
	return nil
}

// saslSucceeded records a completed exchange and, for v1+ clients with
// re-authentication on, the session's end. It returns the lifetime to
// announce in milliseconds (0 for none).
func (c *conn) saslSucceeded(authVersion int16) int64 {
	first := !c.sasl.authenticated
	c.sasl.authenticated = true
	c.sasl.authVersion = authVersion
	c.sasl.expiry = time.Time{}
	var lifetime int64
	if d := c.s.cfg.SASL.Reauth; d > 0 && authVersion >= 1 {
		c.sasl.expiry = time.Now().Add(d)
		lifetime = d.Milliseconds()
	}
	if first {
		c.logger.Info("SASL authenticated", "principal", c.principal, "mechanism", c.sasl.mech, "bare_tokens", c.sasl.raw)
	} else {
		c.logger.Debug("SASL re-authenticated", "principal", c.principal, "mechanism", c.sasl.mech)
	}
	return lifetime
}

// appendRawToken frames a bare SASL token (v0 handshake framing).
func appendRawToken(dst, token []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(token)))
	return append(dst, token...)
}
