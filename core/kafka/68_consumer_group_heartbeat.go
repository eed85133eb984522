package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// ConsumerGroupHeartbeat (KIP-848): versions 0–1 (v1 adds regex
// subscriptions and has clients pick their member ids; franz-go only uses
// the new protocol against v1). The group logic is in core/group/consumer.go.
func init() { register(68, 0, 1, (*conn).handleConsumerGroupHeartbeat) }

func (c *conn) handleConsumerGroupHeartbeat(h *header, req *kmsg.ConsumerGroupHeartbeatRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(code int16) *reply {
		resp.ErrorCode = code
		return c.ready(h, resp)
	}
	// Read on the group, Describe on every subscribed topic (Kafka's
	// order and codes).
	if !c.mayGroup(auth.OpRead, req.Group) {
		return fail(kerr.GroupAuthorizationFailed.Code)
	}
	if why := group.CheckSubscription(req.SubscribedTopicNames); why != "" {
		// Bounded before each name costs an authorization.
		resp.ErrorMessage = kmsg.StringPtr(why)
		return fail(kerr.InvalidRequest.Code)
	}
	for _, t := range req.SubscribedTopicNames {
		if !c.mayTopic(auth.OpDescribe, t) {
			return fail(kerr.TopicAuthorizationFailed.Code)
		}
	}
	hr := group.ConsumerHeartbeatRequest{
		GroupID:          req.Group,
		MemberID:         req.MemberID,
		MemberEpoch:      req.MemberEpoch,
		InstanceID:       req.InstanceID,
		RackID:           req.RackID,
		RebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		TopicNames:       req.SubscribedTopicNames,
		TopicRegex:       req.SubscribedTopicRegex,
		ServerAssignor:   req.ServerAssignor,
		ClientID:         h.clientID,
		ClientHost:       clientHost(c.nc),
		MayDescribe:      c.topicDescriber(),
	}
	if req.Version == 0 {
		hr.TopicRegex = nil // not in v0
	}
	if hr.TopicRegex != nil && len(*hr.TopicRegex) > maxClientRegexLen {
		resp.ErrorMessage = kmsg.StringPtr(errRegexTooLong(len(*hr.TopicRegex)))
		return fail(kerr.InvalidRegularExpression.Code)
	}
	if req.Topics != nil {
		hr.Owned = make([]group.ConsumerTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			hr.Owned = append(hr.Owned, group.ConsumerTopic{TopicID: t.TopicID, Partitions: t.Partitions})
		}
	}
	res := c.s.b.Groups().ConsumerHeartbeat(hr)
	resp.ErrorCode = res.ErrorCode
	if res.ErrorMessage != "" {
		resp.ErrorMessage = kmsg.StringPtr(res.ErrorMessage)
	}
	if res.ErrorCode != 0 {
		return c.ready(h, resp)
	}
	resp.MemberID = kmsg.StringPtr(res.MemberID)
	resp.MemberEpoch = res.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval / time.Millisecond)
	if res.Assignment != nil {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
		for _, t := range res.Assignment {
			at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			at.TopicID, at.Partitions = t.TopicID, t.Partitions
			a.Topics = append(a.Topics, at)
		}
		resp.Assignment = &a
	}
	return c.ready(h, resp)
}

// topicDescriber is the member's Describe check for the topics its regex
// matches. The group keeps it until the member's next heartbeat, so it
// holds the identity and the authorizer, not the connection (which may
// be long closed by then); ACL changes still apply at once.
func (c *conn) topicDescriber() func(string) bool {
	if c.trusted {
		return func(string) bool { return true }
	}
	id, authz := c.identity(), c.s.cfg.Authorizer
	return func(t string) bool { return authz.Authorize(id, auth.OpDescribe, auth.ResTopic, t) }
}
