package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// ConsumerGroupDescribe (KIP-848): versions 0–1. Groups that are not
// consumer groups (unknown or classic) answer GROUP_ID_NOT_FOUND, as
// Kafka does.
func init() { register(69, 0, 1, (*conn).handleConsumerGroupDescribe) }

func (c *conn) handleConsumerGroupDescribe(h *header, req *kmsg.ConsumerGroupDescribeRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = id
		if !c.mayGroup(auth.OpDescribe, id) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		d := c.s.b.Groups().DescribeConsumer(id)
		rg.ErrorCode = d.ErrorCode
		if d.ErrorMessage != "" {
			rg.ErrorMessage = kmsg.StringPtr(d.ErrorMessage)
		}
		if d.ErrorCode != 0 {
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State, rg.Epoch, rg.AssignmentEpoch, rg.AssignorName = d.State, d.Epoch, d.TargetEpoch, d.Assignor
		// Describe on every topic the group is assigned (Kafka's rule:
		// one unauthorized topic fails the group).
		denied := false
		for _, m := range d.Members {
			for _, t := range m.TargetAssignment {
				if !c.mayTopic(auth.OpDescribe, t.Topic) {
					denied = true
				}
			}
		}
		if denied {
			rg.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = c.authorizedOps(auth.ResGroup, id)
		}
		for _, m := range d.Members {
			rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.RackID, rm.MemberEpoch = m.MemberID, m.InstanceID, m.RackID, m.MemberEpoch
			rm.ClientID, rm.ClientHost, rm.SubscribedTopics = m.ClientID, m.ClientHost, m.SubscribedTopicNames
			if m.SubscribedTopicRegex != "" {
				rm.SubscribedTopicRegex = kmsg.StringPtr(m.SubscribedTopicRegex)
			}
			rm.Assignment = describeAssignment(m.Assignment)
			rm.TargetAssignment = describeAssignment(m.TargetAssignment)
			if req.Version >= 1 {
				rm.MemberType = 1 // consumer protocol (0 would be classic)
			}
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return c.ready(h, resp)
}

// describeAssignment is an assignment as ConsumerGroupDescribe shows it.
func describeAssignment(ts []group.ConsumerTopic) kmsg.Assignment {
	a := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
	for _, t := range ts {
		a.TopicPartitions = append(a.TopicPartitions, kmsg.AssignmentTopicPartition{TopicID: t.TopicID, Topic: t.Topic, Partitions: t.Partitions})
	}
	return a
}
