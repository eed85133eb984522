package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// Heartbeat: versions 0–4. REBALANCE_IN_PROGRESS tells a member to rejoin.
func init() { register(12, 0, 4, (*conn).handleHeartbeat) }

func (c *conn) handleHeartbeat(h *header, req *kmsg.HeartbeatRequest) *reply {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if !c.mayGroup(auth.OpRead, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	resp.ErrorCode = c.s.b.Groups().Heartbeat(req.Group, req.MemberID, req.InstanceID, req.Generation)
	return c.ready(h, resp)
}
