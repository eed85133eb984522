package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// LeaveGroup: versions 0–5 (v3+ removes several members, by member id or
// static instance id).
func init() { register(13, 0, 5, (*conn).handleLeaveGroup) }

func (c *conn) handleLeaveGroup(h *header, req *kmsg.LeaveGroupRequest) *reply {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if !c.mayGroup(auth.OpRead, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	var members []group.LeaveMember
	if req.Version < 3 {
		members = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			members = append(members, group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID})
		}
	}
	code, codes := c.s.b.Groups().Leave(req.Group, members)
	resp.ErrorCode = code
	if req.Version < 3 {
		if len(codes) == 1 {
			resp.ErrorCode = codes[0]
		}
		return c.ready(h, resp)
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return c.ready(h, resp)
}
