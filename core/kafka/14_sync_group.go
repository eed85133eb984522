package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// SyncGroup: versions 0–5. The leader's assignments are persisted before
// any member gets its answer; followers wait for the leader.
func init() { register(14, 0, 5, (*conn).handleSyncGroup) }

func (c *conn) handleSyncGroup(h *header, req *kmsg.SyncGroupRequest) *reply {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if !c.mayGroup(auth.OpRead, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.MemberAssignment = []byte{}
		return c.ready(h, resp)
	}
	r := &reply{corr: h.correlationID, resp: resp, done: make(chan struct{})}
	sr := group.SyncRequest{
		GroupID:      req.Group,
		Generation:   req.Generation,
		MemberID:     req.MemberID,
		InstanceID:   req.InstanceID,
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
		Assignments:  map[string][]byte{},
	}
	for _, a := range req.GroupAssignment {
		sr.Assignments[a.MemberID] = a.MemberAssignment
	}
	c.s.b.Groups().Sync(sr, func(res group.SyncResult) {
		resp.ErrorCode, resp.MemberAssignment = res.ErrorCode, res.Assignment
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		if res.ErrorCode == 0 {
			resp.ProtocolType, resp.Protocol = kmsg.StringPtr(res.ProtocolType), kmsg.StringPtr(res.Protocol)
		}
		close(r.done)
	})
	return r
}
