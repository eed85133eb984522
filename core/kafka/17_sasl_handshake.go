package kafka

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake: versions 0–1. It picks the mechanism; v1 continues with
// SaslAuthenticate requests, v0 with bare tokens (old clients). On a
// listener without SASL, or in the middle of an exchange, it answers
// ILLEGAL_SASL_STATE; an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM
// with the enabled ones. Either error closes the connection, as in Kafka.
func init() { register(17, 0, 1, (*conn).handleSaslHandshake) }

func (c *conn) handleSaslHandshake(h *header, req *kmsg.SASLHandshakeRequest) *reply {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	cfg := c.s.cfg.SASL
	if cfg == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfterReply = true
		return c.ready(h, resp)
	}
	resp.SupportedMechanisms = append([]string(nil), cfg.Mechanisms...)
	switch {
	case c.sasl.scram != nil || c.sasl.raw:
		resp.ErrorCode = kerr.IllegalSaslState.Code
	case c.sasl.authenticated && (h.version < 1 || c.sasl.authVersion < 1):
		// KIP-368: re-authentication needs SaslAuthenticate framing.
		resp.ErrorCode = kerr.IllegalSaslState.Code
	case !slices.Contains(cfg.Mechanisms, req.Mechanism):
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
	case c.sasl.authenticated && req.Mechanism != c.sasl.mech:
		// Re-authentication keeps the mechanism, as in Kafka.
		resp.ErrorCode = kerr.IllegalSaslState.Code
	}
	if resp.ErrorCode != 0 {
		c.logger.Info("closing connection: SASL handshake refused", "mechanism", req.Mechanism, "error", kerr.ErrorForCode(resp.ErrorCode))
		c.closeAfterReply = true
		return c.ready(h, resp)
	}
	c.sasl.mech = req.Mechanism
	c.sasl.raw = h.version == 0
	return c.ready(h, resp)
}
