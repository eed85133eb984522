package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// AlterConfigs: versions 0–2. Replaces a topic's dynamic configs with the
// given set (configs not named revert to defaults), as Kafka's legacy API
// does. On a broker it replaces the dynamic broker configs the same way.
func init() { register(33, 0, 2, (*conn).handleAlterConfigs) }

func (c *conn) handleAlterConfigs(h *header, req *kmsg.AlterConfigsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if code := c.alterAccess(rr.ResourceType, rr.ResourceName); code != 0 {
			sr.ErrorCode = code
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		err := alterResource(rr.ResourceType, func() error {
			configs := map[string]string{}
			for _, cfg := range rr.Configs {
				if cfg.Value != nil {
					configs[cfg.Name] = *cfg.Value
				}
			}
			return c.s.b.SetTopicConfigs(rr.ResourceName, configs, req.ValidateOnly)
		}, func() error { return c.replaceBrokerConfigs(rr.ResourceName, rr.Configs, req.ValidateOnly) })
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return c.ready(h, resp)
}

// alterResource runs alterTopic or alterBroker (the dynamic broker
// configs, broker_configs.go) by resource type; others are unsupported.
func alterResource(t kmsg.ConfigResourceType, alterTopic, alterBroker func() error) error {
	switch t {
	case resourceTopic:
		return alterTopic()
	case resourceBroker:
		return alterBroker()
	}
	return &kafkaError{code: kerr.InvalidRequest, msg: "unsupported resource type"}
}

// alterAccess checks AlterConfigs on a resource; internal topics' configs
// are the brokers' alone.
func (c *conn) alterAccess(rt kmsg.ConfigResourceType, name string) int16 {
	if code := c.configAccess(auth.OpAlterConfigs, rt, name); code != 0 {
		return code
	}
	if rt == resourceTopic && !c.mayWriteInternal(name) {
		return internalTopicError.Code
	}
	return 0
}
