package kafka

import (
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// JoinGroup: versions 0–9. v4+ clients first get MEMBER_ID_REQUIRED with
// their member id (KIP-394); the response is sent when the rebalance's
// join phase completes.
func init() { register(11, 0, 9, (*conn).handleJoinGroup) }

func (c *conn) handleJoinGroup(h *header, req *kmsg.JoinGroupRequest) *reply {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	if !c.mayGroup(auth.OpRead, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.Generation = -1
		return c.ready(h, resp)
	}
	r := &reply{corr: h.correlationID, resp: resp, done: make(chan struct{})}
	rebalance := req.RebalanceTimeoutMillis
	if req.Version == 0 {
		rebalance = req.SessionTimeoutMillis
	}
	jr := group.JoinRequest{
		GroupID:              req.Group,
		MemberID:             req.MemberID,
		InstanceID:           req.InstanceID,
		ClientID:             h.clientID,
		ClientHost:           clientHost(c.nc),
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(rebalance) * time.Millisecond,
		ProtocolType:         req.ProtocolType,
		RequireKnownMemberID: req.Version >= 4,
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	c.s.b.Groups().Join(jr, func(res group.JoinResult) {
		resp.ErrorCode, resp.Generation, resp.LeaderID, resp.MemberID = res.ErrorCode, res.Generation, res.LeaderID, res.MemberID
		if res.ErrorCode == 0 {
			resp.Protocol = kmsg.StringPtr(res.Protocol)
			resp.ProtocolType = kmsg.StringPtr(res.ProtocolType)
		}
		for _, m := range res.Members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
			resp.Members = append(resp.Members, rm)
		}
		close(r.done)
	})
	return r
}

// clientHost is the "/ip" form Kafka reports for members.
func clientHost(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return "/" + a.IP.String()
	}
	return nc.RemoteAddr().String()
}
