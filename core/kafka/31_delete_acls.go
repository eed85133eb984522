package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// DeleteAcls: versions 0–3. Needs Alter on the cluster. Each filter
// answers the bindings it removed. SECURITY_DISABLED without an ACL
// authorizer.
func init() { register(31, 0, 3, (*conn).handleDeleteACLs) }

func (c *conn) handleDeleteACLs(h *header, req *kmsg.DeleteACLsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	fail := func(code int16, msg string) *reply {
		for i := range resp.Results {
			resp.Results[i].Default()
			resp.Results[i].ErrorCode = code
			if msg != "" {
				resp.Results[i].ErrorMessage = kmsg.StringPtr(msg)
			}
		}
		return c.ready(h, resp)
	}
	if code, msg := c.aclAPIRefusal(auth.OpAlter); code != 0 {
		return fail(code, msg)
	}
	filters := make([]meta.ACLFilter, len(req.Filters))
	for i, f := range req.Filters {
		filters[i] = meta.ACLFilter{
			ResourceType: f.ResourceType, ResourceName: f.ResourceName, PatternType: f.ResourcePatternType,
			Principal: f.Principal, Host: f.Host, Operation: f.Operation, Permission: f.PermissionType,
		}
	}
	removed, err := c.s.cfg.ACLs.DeleteACLs(filters)
	if err != nil {
		c.logger.Error("deleting ACLs", "err", err)
		return fail(kerr.UnknownServerError.Code, err.Error())
	}
	n := 0
	for i := range resp.Results {
		resp.Results[i].Default()
		for _, b := range removed[i] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			n++
		}
	}
	if n > 0 {
		c.logger.Info("ACLs deleted", "principal", c.principal, "count", n)
	}
	return c.ready(h, resp)
}
