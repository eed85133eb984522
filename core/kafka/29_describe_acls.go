package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// DescribeAcls: versions 0–3 (v0 filters match LITERAL patterns only,
// which is kmsg's default pattern type). Needs Describe on the cluster.
// Without an ACL authorizer (--authorizer none) it answers
// SECURITY_DISABLED, as Kafka does with no authorizer configured.
func init() { register(29, 0, 3, (*conn).handleDescribeACLs) }

func (c *conn) handleDescribeACLs(h *header, req *kmsg.DescribeACLsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if code, msg := c.aclAPIRefusal(auth.OpDescribe); code != 0 {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = kmsg.StringPtr(msg)
		}
		return c.ready(h, resp)
	}
	f := meta.ACLFilter{
		ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType,
	}
	type resKey struct {
		rt      kmsg.ACLResourceType
		name    string
		pattern kmsg.ACLResourcePatternType
	}
	at := map[resKey]int{}
	for _, b := range c.s.cfg.ACLs.ACLs() {
		if !f.Matches(b) {
			continue
		}
		k := resKey{b.ResourceType, b.ResourceName, b.PatternType}
		i, ok := at[k]
		if !ok {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = k.rt, k.name, k.pattern
			resp.Resources = append(resp.Resources, r)
			i = len(resp.Resources) - 1
			at[k] = i
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
	}
	return c.ready(h, resp)
}
