package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
)

// CreateTopics: versions 0–7. Manual replica assignments are accepted for
// their shape (partition count, replication factor); placement follows the
// broker's algorithm. v5+ returns the created topic's configs.
func init() { register(19, 0, 7, (*conn).handleCreateTopics) }

func (c *conn) handleCreateTopics(h *header, req *kmsg.CreateTopicsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	// Create on the cluster covers every topic; else Create per topic.
	clusterCreate := c.mayCluster(auth.OpCreate)
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("topic appears more than once in the request")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !clusterCreate && !c.mayTopic(auth.OpCreate, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !c.mayWriteInternal(rt.Topic) {
			// Brokers create their internal topics themselves.
			st.ErrorCode, st.ErrorMessage = internalTopicError.Code, kmsg.StringPtr(internalTopicMessage)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		spec := broker.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, Configs: map[string]string{}}
		if len(rt.ReplicaAssignment) > 0 {
			spec.Partitions = int32(len(rt.ReplicaAssignment))
			spec.ReplicationFactor = int16(len(rt.ReplicaAssignment[0].Replicas))
		}
		for _, cfg := range rt.Configs {
			if cfg.Value != nil {
				spec.Configs[cfg.Name] = *cfg.Value
			}
		}
		t, err := c.s.b.CreateTopic(spec, req.ValidateOnly)
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = t.ID
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
		if !c.mayTopic(auth.OpDescribeConfigs, rt.Topic) {
			// Created, but its configs are not the caller's to see.
			st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		for _, e := range c.s.b.DescribeTopicConfigs(t.Configs) {
			rc := kmsg.NewCreateTopicsResponseTopicConfig()
			rc.Name, rc.Value = e.Name, kmsg.StringPtr(e.Value)
			rc.Source = int8(configSource(e, resourceTopic))
			st.Configs = append(st.Configs, rc)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.ready(h, resp)
}
