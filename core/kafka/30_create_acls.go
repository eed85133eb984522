package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// CreateAcls: versions 0–3. Needs Alter on the cluster; each creation is
// validated on its own (INVALID_REQUEST with a message), the valid ones
// are stored together. SECURITY_DISABLED without an ACL authorizer.
func init() { register(30, 0, 3, (*conn).handleCreateACLs) }

func (c *conn) handleCreateACLs(h *header, req *kmsg.CreateACLsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
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
	var valid []meta.ACLBinding
	var validIdx []int
	for i, cr := range req.Creations {
		resp.Results[i].Default()
		b := meta.ACLBinding{
			ResourceType: cr.ResourceType, ResourceName: cr.ResourceName, PatternType: cr.ResourcePatternType,
			Principal: cr.Principal, Host: cr.Host, Operation: cr.Operation, Permission: cr.PermissionType,
		}
		if err := b.Validate(); err != nil {
			resp.Results[i].ErrorCode = kerr.InvalidRequest.Code
			resp.Results[i].ErrorMessage = kmsg.StringPtr(err.Error())
			continue
		}
		valid = append(valid, b)
		validIdx = append(validIdx, i)
	}
	if len(valid) > 0 {
		if err := c.s.cfg.ACLs.CreateACLs(valid); err != nil {
			c.logger.Error("storing ACLs", "err", err)
			for _, i := range validIdx {
				resp.Results[i].ErrorCode = kerr.UnknownServerError.Code
				resp.Results[i].ErrorMessage = kmsg.StringPtr(err.Error())
			}
		} else {
			c.logger.Info("ACLs created", "principal", c.principal, "count", len(valid))
		}
	}
	return c.ready(h, resp)
}
