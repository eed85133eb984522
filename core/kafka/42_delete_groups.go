package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// DeleteGroups: versions 0–2. Only empty groups can be deleted
// (NON_EMPTY_GROUP otherwise); their offsets go with them.
func init() { register(42, 0, 2, (*conn).handleDeleteGroups) }

func (c *conn) handleDeleteGroups(h *header, req *kmsg.DeleteGroupsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		if !c.mayGroup(auth.OpDelete, id) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.ErrorCode = c.s.b.Groups().DeleteGroup(id)
		resp.Groups = append(resp.Groups, rg)
	}
	return c.ready(h, resp)
}
