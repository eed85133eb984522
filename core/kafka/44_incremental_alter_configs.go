package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
)

// IncrementalAlterConfigs: versions 0–1. SET, DELETE, APPEND and SUBTRACT
// (the last two for list configs such as cleanup.policy) on topic configs.
func init() { register(44, 0, 1, (*conn).handleIncrementalAlterConfigs) }

func (c *conn) handleIncrementalAlterConfigs(h *header, req *kmsg.IncrementalAlterConfigsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		switch rr.ResourceType {
		case resourceTopic:
			ops := make([]broker.ConfigOp, 0, len(rr.Configs))
			for _, cfg := range rr.Configs {
				ops = append(ops, broker.ConfigOp{Name: cfg.Name, Op: int8(cfg.Op), Value: cfg.Value})
			}
			err = c.s.b.AlterTopicConfigs(rr.ResourceName, ops, req.ValidateOnly)
		case resourceBroker:
			err = &broker.Error{Code: kerr.InvalidRequest, Msg: "broker configs are static: set them with flags, env or the config file"}
		default:
			err = &broker.Error{Code: kerr.InvalidRequest, Msg: "unsupported resource type"}
		}
		sr.ErrorCode, sr.ErrorMessage = broker.ErrorCode(err), broker.ErrorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return c.ready(h, resp)
}
