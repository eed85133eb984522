package kafka

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
)

// DescribeConfigs: versions 0–4. Topics report every known config with its
// source (DYNAMIC_TOPIC_CONFIG for overrides, DEFAULT_CONFIG otherwise);
// brokers report their static, read-only settings and the dynamic
// replication throttle rates (broker_configs.go).
func init() { register(32, 0, 4, (*conn).handleDescribeConfigs) }

// Config resource types and sources (Kafka's enums).
const (
	resourceTopic  = kmsg.ConfigResourceTypeTopic
	resourceBroker = kmsg.ConfigResourceTypeBroker
)

func configSource(e broker.ConfigEntry, resourceType kmsg.ConfigResourceType) kmsg.ConfigSource {
	switch {
	case resourceType == resourceBroker:
		return kmsg.ConfigSourceStaticBrokerConfig
	case e.Default:
		return kmsg.ConfigSourceDefaultConfig
	}
	return kmsg.ConfigSourceDynamicTopicConfig
}

func (c *conn) handleDescribeConfigs(h *header, req *kmsg.DescribeConfigsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []broker.ConfigEntry
		if code := c.configAccess(auth.OpDescribeConfigs, rr.ResourceType, rr.ResourceName); code != 0 {
			sr.ErrorCode = code
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		switch rr.ResourceType {
		case resourceTopic:
			t, ok := c.s.b.Topic(rr.ResourceName)
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				sr.ErrorMessage = kmsg.StringPtr("unknown topic " + rr.ResourceName)
				resp.Resources = append(resp.Resources, sr)
				continue
			}
			entries = c.s.b.DescribeTopicConfigs(t.Configs)
		case resourceBroker:
			c.describeBroker(req, rr, &sr) // broker_configs.go
			resp.Resources = append(resp.Resources, sr)
			continue
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = kmsg.StringPtr("unsupported resource type " + strconv.Itoa(int(rr.ResourceType)))
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		want := map[string]bool{}
		for _, n := range rr.ConfigNames {
			want[n] = true
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !want[e.Name] {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name, rc.Value = e.Name, kmsg.StringPtr(e.Value)
			rc.ReadOnly = rr.ResourceType == resourceBroker
			rc.IsDefault = e.Default
			rc.Source = configSource(e, rr.ResourceType)
			rc.ConfigType = kmsg.ConfigType(e.Type)
			if req.IncludeDocumentation && e.Doc != "" {
				rc.Documentation = kmsg.StringPtr(e.Doc)
			}
			if req.IncludeSynonyms {
				syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				syn.Name, syn.Value, syn.Source = e.Name, kmsg.StringPtr(e.Value), rc.Source
				rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn)
			}
			sr.Configs = append(sr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return c.ready(h, resp)
}

// configAccess checks op (DescribeConfigs or AlterConfigs) on a config
// resource: a topic needs it on the topic (TOPIC_AUTHORIZATION_FAILED), a
// broker on the cluster (CLUSTER_AUTHORIZATION_FAILED).
func (c *conn) configAccess(op auth.Operation, rt kmsg.ConfigResourceType, name string) int16 {
	switch rt {
	case resourceTopic:
		if !c.mayTopic(op, name) {
			return kerr.TopicAuthorizationFailed.Code
		}
	case resourceBroker:
		if !c.mayCluster(op) {
			return kerr.ClusterAuthorizationFailed.Code
		}
	}
	return 0
}
