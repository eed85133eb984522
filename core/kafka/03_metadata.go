package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// Metadata: versions 0–12. Unknown topics are auto-created when the broker
// allows it and the request does (always for v0–v3, AllowAutoTopicCreation
// from v4), like Kafka's auto.create.topics.enable.
func init() { register(3, 0, 12, (*conn).handleMetadata) }

func (c *conn) handleMetadata(h *header, req *kmsg.MetadataRequest) *reply {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	store := c.s.b.Store()
	for _, b := range store.Brokers() {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = b.ID, b.Host, b.Port, b.Rack
		resp.Brokers = append(resp.Brokers, mb)
	}
	cid := store.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = store.ControllerID()

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		// Only the topics the principal may Describe are listed.
		for _, t := range c.s.b.Topics() {
			if c.mayTopic(auth.OpDescribe, t.Name) {
				resp.Topics = append(resp.Topics, metadataTopic(t))
			}
		}
		return c.metadataReply(h, req, resp)
	}
	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var name string
		switch {
		case rt.Topic != nil:
			name = *rt.Topic
		case rt.TopicID != [16]byte{}:
			n, ok := c.s.b.TopicName(rt.TopicID)
			if !ok || !c.mayTopic(auth.OpDescribe, n) {
				// An id the principal may not describe answers like an
				// unknown one: ids never reveal names.
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			name = n
		}
		if !c.mayTopic(auth.OpDescribe, name) {
			// Whether or not it exists (Kafka's rule: no existence leak).
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		t, ok := c.s.b.Topic(name)
		if !ok {
			var err error = kerr.UnknownTopicOrPartition
			if autoCreate {
				// Auto-creation needs Create on the cluster or the topic.
				if !c.mayCluster(auth.OpCreate) && !c.mayTopic(auth.OpCreate, name) {
					err = kerr.TopicAuthorizationFailed
				} else if !c.mayWriteInternal(name) {
					err = internalTopicError
				} else if err = c.s.b.EnsureTopic(name); err == nil {
					t, ok = c.s.b.Topic(name)
				}
			}
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = kmsg.StringPtr(name)
				mt.ErrorCode = errorCode(err)
				if mt.ErrorCode == 0 {
					mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		resp.Topics = append(resp.Topics, metadataTopic(t))
	}
	return c.metadataReply(h, req, resp)
}

// metadataReply fills the KIP-430 authorized-operations fields when asked.
func (c *conn) metadataReply(h *header, req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) *reply {
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = c.authorizedOps(auth.ResCluster, auth.ClusterResource)
	}
	if req.IncludeTopicAuthorizedOperations {
		for i := range resp.Topics {
			if t := &resp.Topics[i]; t.ErrorCode == 0 && t.Topic != nil {
				t.AuthorizedOperations = c.authorizedOps(auth.ResTopic, *t.Topic)
			}
		}
	}
	return c.ready(h, resp)
}

func metadataTopic(t meta.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	mt.IsInternal = len(t.Name) > 2 && t.Name[:2] == "__"
	for i, ps := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = ps.Leader
		mp.LeaderEpoch = ps.LeaderEpoch
		mp.Replicas = ps.Replicas
		mp.ISR = ps.ISR
		mp.OfflineReplicas = []int32{}
		if ps.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
