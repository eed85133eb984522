package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
)

// IncrementalAlterConfigs: versions 0–1. SET, DELETE, APPEND and SUBTRACT
// (the last two for list configs such as cleanup.policy) on topic configs,
// SET and DELETE on the dynamic broker configs (broker_configs.go).
func init() { register(44, 0, 1, (*conn).handleIncrementalAlterConfigs) }

func (c *conn) handleIncrementalAlterConfigs(h *header, req *kmsg.IncrementalAlterConfigsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if code := c.alterAccess(rr.ResourceType, rr.ResourceName); code != 0 {
			sr.ErrorCode = code
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		err := alterResource(rr.ResourceType, func() error {
			ops := make([]broker.ConfigOp, 0, len(rr.Configs))
			for _, cfg := range rr.Configs {
				ops = append(ops, broker.ConfigOp{Name: cfg.Name, Op: int8(cfg.Op), Value: cfg.Value})
			}
			return c.s.b.AlterTopicConfigs(rr.ResourceName, ops, req.ValidateOnly)
		}, func() error { return c.editBrokerConfigs(rr.ResourceName, rr.Configs, req.ValidateOnly) })
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return c.ready(h, resp)
}
