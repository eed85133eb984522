package kafka

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// TestACLConsumerGroupRegexFiltered: a KIP-848 member subscribed by regex
// is assigned only the matching topics its principal may Describe, as in
// Kafka; granting Describe on another matching topic later brings it into
// the assignment at the member's next heartbeat (once the group sees a
// reason to recompute: here a topic created afterwards).
func TestACLConsumerGroupRegexFiltered(t *testing.T) {
	e := startACLBroker(t)
	cl := e.client(t, alice)
	ids := map[[16]byte]string{}
	for _, topic := range []string{"ev-orders", "ev-payments"} {
		resp, err := e.admin.CreateTopic(t.Context(), 2, 1, nil, topic)
		if err != nil {
			t.Fatal(err)
		}
		ids[resp.ID] = topic
	}
	const group = "regex-group"
	const member = "regex-member-000000000000000000"
	e.setACLs(t,
		allowACL(alice, auth.ResGroup, group, lit, auth.OpRead, "*"),
		allowACL(alice, auth.ResTopic, "ev-orders", lit, auth.OpDescribe, "*"))

	heartbeat := func(epoch int32) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = group, member, epoch
		req.RebalanceTimeoutMillis = 5000
		req.SubscribedTopicRegex = kmsg.StringPtr("ev-.*")
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp := send[*kmsg.ConsumerGroupHeartbeatResponse](t, cl, req)
		if resp.ErrorCode != 0 {
			t.Fatalf("heartbeat: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp
	}
	// assigned names the topics of an assignment with their partition counts.
	assigned := func(a *kmsg.ConsumerGroupHeartbeatResponseAssignment) map[string]int {
		out := map[string]int{}
		for _, at := range a.Topics {
			name, ok := ids[at.TopicID]
			if !ok {
				t.Fatalf("assigned unknown topic id %x", at.TopicID)
			}
			out[name] = len(at.Partitions)
		}
		return out
	}

	resp := heartbeat(0)
	if resp.Assignment == nil {
		t.Fatal("first heartbeat carries no assignment")
	}
	if got := assigned(resp.Assignment); len(got) != 1 || got["ev-orders"] != 2 {
		t.Fatalf("assignment %v, want ev-orders' 2 partitions alone (no Describe on ev-payments)", got)
	}
	epoch := resp.MemberEpoch

	// Describe on ev-payments granted; a new matching topic makes the group
	// re-evaluate the regex with the member's current rights.
	e.setACLs(t,
		allowACL(alice, auth.ResGroup, group, lit, auth.OpRead, "*"),
		allowACL(alice, auth.ResTopic, "ev-", pre, auth.OpDescribe, "*"))
	resp3, err := e.admin.CreateTopic(t.Context(), 1, 1, nil, "ev-refunds")
	if err != nil {
		t.Fatal(err)
	}
	ids[resp3.ID] = "ev-refunds"
	var got map[string]int
	for range 50 {
		resp = heartbeat(epoch)
		epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			if got = assigned(resp.Assignment); len(got) == 3 {
				break
			}
		}
	}
	if len(got) != 3 || got["ev-orders"] != 2 || got["ev-payments"] != 2 || got["ev-refunds"] != 1 {
		t.Fatalf("after the grant: assignment %v, want ev-orders 2, ev-payments 2, ev-refunds 1", got)
	}
}

// TestConsumerGroupSubscriptionBoundedBeforeACLs: a subscription list past
// the group's bound is refused with INVALID_REQUEST and the bound's
// message before any of its names is authorized (each would be an ACL
// check); a list within the bound is authorized name by name as before.
func TestConsumerGroupSubscriptionBoundedBeforeACLs(t *testing.T) {
	e := startACLBroker(t)
	cl := e.client(t, alice)
	const grp = "bound-group"
	e.setACLs(t, allowACL(alice, auth.ResGroup, grp, lit, auth.OpRead, "*"))
	heartbeat := func(names []string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = grp, "bound-member-0000000000000000000", 0
		req.RebalanceTimeoutMillis = 5000
		req.SubscribedTopicNames = names
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return send[*kmsg.ConsumerGroupHeartbeatResponse](t, cl, req)
	}
	many := make([]string, group.MaxSubscribedTopicNames+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	resp := heartbeat(many)
	want := "SubscribedTopicNames lists 10001 topics; at most 10000 are accepted (subscribe by regex instead)"
	if resp.ErrorCode != kerr.InvalidRequest.Code || resp.ErrorMessage == nil || *resp.ErrorMessage != want {
		t.Fatalf("over the bound: %v %v, want INVALID_REQUEST %q", kerr.ErrorForCode(resp.ErrorCode), resp.ErrorMessage, want)
	}
	if resp := heartbeat(many[:2]); resp.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("within the bound, no Describe: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(resp.ErrorCode))
	}
}
