package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// ListGroups: versions 0–5 (v4 filters by state, v5 by type: "classic",
// or "consumer" for KIP-848 groups).
func init() { register(16, 0, 5, (*conn).handleListGroups) }

func (c *conn) handleListGroups(h *header, req *kmsg.ListGroupsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	// Describe on the cluster lists every group; otherwise only the
	// groups the principal may Describe (Kafka's rule).
	all := c.mayCluster(auth.OpDescribe)
	for _, g := range c.s.b.Groups().List() {
		if !all && !c.mayGroup(auth.OpDescribe, g.GroupID) {
			continue
		}
		if len(req.StatesFilter) > 0 && !containsFold(req.StatesFilter, g.State) {
			continue
		}
		if len(req.TypesFilter) > 0 && !containsFold(req.TypesFilter, g.Type) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g.GroupID, g.ProtocolType, g.State, g.Type
		resp.Groups = append(resp.Groups, rg)
	}
	return c.ready(h, resp)
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if len(s) == len(v) && equalFold(s, v) {
			return true
		}
	}
	return false
}

func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
