package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// SaslAuthenticate: versions 0–2. It carries the mechanism's messages
// after a v1 SaslHandshake. A failed exchange answers
// SASL_AUTHENTICATION_FAILED (the message does not say whether the user
// exists) and closes the connection; a request out of order answers
// ILLEGAL_SASL_STATE and closes it. v1+ responses carry the session
// lifetime (KIP-368).
func init() { register(36, 0, 2, (*conn).handleSaslAuthenticate) }

var (
	errIllegalSASLState = errors.New("SASL request out of order")
	errPrincipalChange  = errors.New("re-authentication must not change the principal")
)

func (c *conn) handleSaslAuthenticate(h *header, req *kmsg.SASLAuthenticateRequest) *reply {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if c.s.cfg.SASL == nil || c.sasl.mech == "" || c.sasl.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate before a SaslHandshake"
		resp.ErrorMessage = &msg
		c.closeAfterReply = true
		return c.ready(h, resp)
	}
	out, done, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		c.logger.Info("SASL authentication failed", "mechanism", c.sasl.mech, "err", err)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed: invalid credentials with SASL mechanism " + c.sasl.mech
		switch {
		case errors.Is(err, errPrincipalChange):
			msg = "Authentication failed: " + err.Error()
		case errors.Is(err, auth.ErrSASLProtocol):
			msg = "Authentication failed: " + err.Error()
		}
		resp.ErrorMessage = &msg
		c.closeAfterReply = true
		return c.ready(h, resp)
	}
	resp.SASLAuthBytes = out
	if done {
		lifetime := c.saslSucceeded(h.version)
		if h.version >= 1 {
			resp.SessionLifetimeMillis = lifetime
		}
	}
	return c.ready(h, resp)
}
