package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// DescribeGroups: versions 0–5. Unknown groups are reported as Dead with
// no error, as Kafka does.
func init() { register(15, 0, 5, (*conn).handleDescribeGroups) }

func (c *conn) handleDescribeGroups(h *header, req *kmsg.DescribeGroupsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		if !c.mayGroup(auth.OpDescribe, id) {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = id, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		d := c.s.b.Groups().Describe(id)
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.ErrorCode, rg.Group, rg.State, rg.ProtocolType, rg.Protocol = d.ErrorCode, d.GroupID, d.State, d.ProtocolType, d.Protocol
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = c.authorizedOps(auth.ResGroup, id)
		}
		for _, m := range d.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = orEmpty(m.Metadata), orEmpty(m.Assignment)
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return c.ready(h, resp)
}

func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
