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
		// Describe on every topic a member is assigned, now or as its
		// target (Kafka's rule: one unauthorized topic fails the group,
		// which then shows nothing but the error, so no topic name leaks).
		if !c.mayDescribeAssigned(d.Members) {
			rg.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rg.ErrorMessage = kmsg.StringPtr("The group has described topic(s) that the client is not authorized to describe.")
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State, rg.Epoch, rg.AssignmentEpoch, rg.AssignorName = d.State, d.Epoch, d.TargetEpoch, d.Assignor
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

// mayDescribeAssigned reports whether the principal may Describe every
// topic in the members' current and target assignments.
func (c *conn) mayDescribeAssigned(members []group.ConsumerMemberDescription) bool {
	checked := map[string]bool{}
	for _, m := range members {
		for _, ts := range [][]group.ConsumerTopic{m.Assignment, m.TargetAssignment} {
			for _, t := range ts {
				if ok, seen := checked[t.Topic]; seen {
					if !ok {
						return false
					}
					continue
				}
				ok := c.mayTopic(auth.OpDescribe, t.Topic)
				checked[t.Topic] = ok
				if !ok {
					return false
				}
			}
		}
	}
	return true
}

// describeAssignment is an assignment as ConsumerGroupDescribe shows it.
func describeAssignment(ts []group.ConsumerTopic) kmsg.Assignment {
	a := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
	for _, t := range ts {
		a.TopicPartitions = append(a.TopicPartitions, kmsg.AssignmentTopicPartition{TopicID: t.TopicID, Topic: t.Topic, Partitions: t.Partitions})
	}
	return a
}
