package kafka

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// OffsetFetch: versions 0–9 (v8 fetches several groups at once; a nil
// topic list means every committed offset of the group, v2+; v9 carries a
// consumer (KIP-848) group member's id and epoch, checked). Partitions
// without a commit answer offset -1.
func init() { register(9, 0, 9, (*conn).handleOffsetFetch) }

type offsetFetchTopic struct {
	topic      string
	partitions []int32
}

// fetchGroupOffsets answers one group: topics nil means all.
// Authorization as Kafka: Describe on the group (else
// GROUP_AUTHORIZATION_FAILED), Describe on each topic (named topics
// without it answer TOPIC_AUTHORIZATION_FAILED; "all" leaves them out).
func (c *conn) fetchGroupOffsets(groupID string, topics []offsetFetchTopic, all bool) (map[string][]kmsg.OffsetFetchResponseGroupTopicPartition, []string, int16) {
	if !c.mayGroup(auth.OpDescribe, groupID) {
		return map[string][]kmsg.OffsetFetchResponseGroupTopicPartition{}, nil, kerr.GroupAuthorizationFailed.Code
	}
	var tps []group.TopicPartition
	if !all {
		for _, t := range topics {
			for _, p := range t.partitions {
				tps = append(tps, group.TopicPartition{Topic: t.topic, Partition: p})
			}
		}
	}
	offs, code := c.s.b.Groups().FetchOffsets(groupID, tps)
	out := map[string][]kmsg.OffsetFetchResponseGroupTopicPartition{}
	var order []string
	describable := map[string]bool{}
	mayDescribe := func(topic string) bool {
		ok, seen := describable[topic]
		if !seen {
			ok = c.mayTopic(auth.OpDescribe, topic)
			describable[topic] = ok
		}
		return ok
	}
	add := func(tp group.TopicPartition) {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = tp.Partition, -1, -1
		rp.Metadata = kmsg.StringPtr("")
		if !mayDescribe(tp.Topic) {
			if all {
				return
			}
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
		} else if o, ok := offs[tp]; ok {
			rp.Offset, rp.LeaderEpoch, rp.Metadata = o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
		}
		if _, seen := out[tp.Topic]; !seen {
			order = append(order, tp.Topic)
		}
		out[tp.Topic] = append(out[tp.Topic], rp)
	}
	if all {
		keys := make([]group.TopicPartition, 0, len(offs))
		for tp := range offs {
			keys = append(keys, tp)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].Topic != keys[j].Topic {
				return keys[i].Topic < keys[j].Topic
			}
			return keys[i].Partition < keys[j].Partition
		})
		for _, tp := range keys {
			add(tp)
		}
	} else {
		for _, tp := range tps {
			add(tp)
		}
	}
	return out, order, code
}

func (c *conn) handleOffsetFetch(h *header, req *kmsg.OffsetFetchRequest) *reply {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, g := range req.Groups {
			if g.MemberID != nil && c.mayGroup(auth.OpDescribe, g.Group) {
				if code := c.s.b.Groups().CheckConsumerFetch(g.Group, *g.MemberID, g.MemberEpoch); code != 0 {
					rg := kmsg.NewOffsetFetchResponseGroup()
					rg.Group, rg.ErrorCode = g.Group, code
					resp.Groups = append(resp.Groups, rg)
					continue
				}
			}
			var topics []offsetFetchTopic
			for _, t := range g.Topics {
				topics = append(topics, offsetFetchTopic{topic: t.Topic, partitions: t.Partitions})
			}
			pending := c.pendingTxnOffsets(req.RequireStable, g.Group)
			parts, order, code := c.fetchGroupOffsets(g.Group, topics, g.Topics == nil)
			c.markUnstable(pending, parts)
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, code
			for _, t := range order {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic, rt.Partitions = t, parts[t]
				rg.Topics = append(rg.Topics, rt)
			}
			resp.Groups = append(resp.Groups, rg)
		}
		return c.ready(h, resp)
	}
	var topics []offsetFetchTopic
	for _, t := range req.Topics {
		topics = append(topics, offsetFetchTopic{topic: t.Topic, partitions: t.Partitions})
	}
	pending := c.pendingTxnOffsets(req.RequireStable && req.Version >= 7, req.Group)
	parts, order, code := c.fetchGroupOffsets(req.Group, topics, req.Topics == nil && req.Version >= 2)
	c.markUnstable(pending, parts)
	resp.ErrorCode = code
	if code != 0 && req.Version < 2 {
		// No top-level error code before v2: each partition carries it.
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return c.ready(h, resp)
	}
	for _, t := range order {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t
		for _, p := range parts[t] {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return c.ready(h, resp)
}
