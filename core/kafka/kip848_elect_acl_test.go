package kafka

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// TestACLElectLeaders: ElectLeaders needs ALTER on the cluster, as in
// Kafka; without it the request and every named partition answer
// CLUSTER_AUTHORIZATION_FAILED, and an election for all partitions the
// request alone.
func TestACLElectLeaders(t *testing.T) {
	e := startACLBroker(t)
	cl := e.client(t, alice)
	if _, err := e.admin.CreateTopic(t.Context(), 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	elect := func(t *testing.T, all bool) *kmsg.ElectLeadersResponse {
		req := kmsg.NewPtrElectLeadersRequest()
		req.ElectionType, req.TimeoutMillis = 0, 5000 // preferred
		if !all {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = "orders", []int32{0}
			req.Topics = append(req.Topics, rt)
		}
		return send[*kmsg.ElectLeadersResponse](t, cl, req)
	}
	denied := kerr.ClusterAuthorizationFailed.Code
	alter := allowACL(alice, auth.ResCluster, auth.ClusterResource, lit, auth.OpAlter, "*")
	for _, v := range []struct {
		name  string
		grant []meta.ACLBinding
		want  int16
	}{
		{"no-acl", nil, denied},
		{"cluster-alter", []meta.ACLBinding{alter}, 0},
		{"cluster-all", []meta.ACLBinding{allowACL(alice, auth.ResCluster, auth.ClusterResource, lit, auth.OpAll, "*")}, 0},
		{"cluster-describe-is-not-enough", []meta.ACLBinding{allowACL(alice, auth.ResCluster, auth.ClusterResource, lit, auth.OpDescribe, "*")}, denied},
		{"topic-grant-is-not-enough", []meta.ACLBinding{allowACL(alice, auth.ResTopic, "orders", lit, auth.OpAll, "*")}, denied},
		{"other-principal", []meta.ACLBinding{allowACL("User:bob", auth.ResCluster, auth.ClusterResource, lit, auth.OpAlter, "*")}, denied},
		{"deny-wins", []meta.ACLBinding{alter, denyACL(alice, auth.ResCluster, auth.ClusterResource, auth.OpAlter)}, denied},
	} {
		t.Run(v.name, func(t *testing.T) {
			e.setACLs(t, v.grant...)
			resp := elect(t, false)
			if resp.ErrorCode != v.want {
				t.Fatalf("request: %v, want %v", kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(v.want))
			}
			if len(resp.Topics) != 1 || resp.Topics[0].Topic != "orders" || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("topics %+v, want orders-0 alone", resp.Topics)
			}
			// Allowed, the single node already leads: ELECTION_NOT_NEEDED.
			wantPart := v.want
			if v.want == 0 {
				wantPart = kerr.ElectionNotNeeded.Code
			}
			if pc := resp.Topics[0].Partitions[0].ErrorCode; pc != wantPart {
				t.Fatalf("partition: %v, want %v", kerr.ErrorForCode(pc), kerr.ErrorForCode(wantPart))
			}
			all := elect(t, true)
			if all.ErrorCode != v.want || len(all.Topics) != 0 {
				t.Fatalf("all partitions: %v with %d topics, want %v and none", kerr.ErrorForCode(all.ErrorCode), len(all.Topics), kerr.ErrorForCode(v.want))
			}
		})
	}
}

// heartbeatJoin sends a KIP-848 join (member epoch 0) for member to
// group, subscribed to topics.
func heartbeatJoin(t *testing.T, cl *kgo.Client, group, member string, topics ...string) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = group, member, 0
	req.RebalanceTimeoutMillis = 5000
	req.SubscribedTopicNames = topics
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return send[*kmsg.ConsumerGroupHeartbeatResponse](t, cl, req)
}

// heartbeatLeave takes member out of group (epoch -1).
func heartbeatLeave(t *testing.T, cl *kgo.Client, group, member string) int16 {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = group, member, -1
	return send[*kmsg.ConsumerGroupHeartbeatResponse](t, cl, req).ErrorCode
}

// TestACLConsumerGroupHeartbeat: Kafka's rules for the KIP-848
// heartbeat: READ on the group first (GROUP_AUTHORIZATION_FAILED), then
// DESCRIBE on every subscribed topic name (TOPIC_AUTHORIZATION_FAILED if
// any is missing); a refused heartbeat joins nothing.
func TestACLConsumerGroupHeartbeat(t *testing.T) {
	e := startACLBroker(t)
	cl := e.client(t, alice)
	for _, topic := range []string{"orders", "payments"} {
		if _, err := e.admin.CreateTopic(t.Context(), 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	const group = "app-group"
	readGroup := allowACL(alice, auth.ResGroup, group, lit, auth.OpRead, "*")
	describe := func(topic string) meta.ACLBinding {
		return allowACL(alice, auth.ResTopic, topic, lit, auth.OpDescribe, "*")
	}
	groupDenied, topicDenied := kerr.GroupAuthorizationFailed.Code, kerr.TopicAuthorizationFailed.Code
	for i, v := range []struct {
		name  string
		grant []meta.ACLBinding
		want  int16
	}{
		{"no-acl", nil, groupDenied},
		{"topics-only", []meta.ACLBinding{describe("orders"), describe("payments")}, groupDenied},
		{"group-describe-is-not-read", []meta.ACLBinding{allowACL(alice, auth.ResGroup, group, lit, auth.OpDescribe, "*"), describe("orders"), describe("payments")}, groupDenied},
		{"other-group", []meta.ACLBinding{allowACL(alice, auth.ResGroup, "other", lit, auth.OpRead, "*"), describe("orders"), describe("payments")}, groupDenied},
		{"group-deny-wins", []meta.ACLBinding{allowACL(alice, auth.ResGroup, group, lit, auth.OpAll, "*"), denyACL(alice, auth.ResGroup, group, auth.OpRead), describe("orders"), describe("payments")}, groupDenied},
		{"group-read-no-topics", []meta.ACLBinding{readGroup}, topicDenied},
		{"group-read-one-topic", []meta.ACLBinding{readGroup, describe("orders")}, topicDenied},
		{"topic-deny-wins", []meta.ACLBinding{readGroup, describe("orders"), describe("payments"), denyACL(alice, auth.ResTopic, "payments", auth.OpDescribe)}, topicDenied},
		{"group-read-topics-describe", []meta.ACLBinding{readGroup, describe("orders"), describe("payments")}, 0},
		// Read implies Describe, as in Kafka.
		{"prefixed-and-read", []meta.ACLBinding{allowACL(alice, auth.ResGroup, "app-", pre, auth.OpRead, "*"), allowACL(alice, auth.ResTopic, "orders", lit, auth.OpRead, "*"), allowACL(alice, auth.ResTopic, "pay", pre, auth.OpRead, "*")}, 0},
	} {
		t.Run(v.name, func(t *testing.T) {
			e.setACLs(t, v.grant...)
			member := fmt.Sprintf("member-%02d-0000000000000000", i)
			resp := heartbeatJoin(t, cl, group, member, "orders", "payments")
			if resp.ErrorCode != v.want {
				t.Fatalf("heartbeat: %v, want %v", kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(v.want))
			}
			if v.want != 0 {
				if resp.MemberEpoch != 0 || resp.Assignment != nil {
					t.Fatalf("a refused heartbeat answered epoch %d, assignment %+v", resp.MemberEpoch, resp.Assignment)
				}
				// Nothing joined: the group has no member of that id.
				d := e.describeGroupAsAdmin(t, group)
				for _, m := range d.Members {
					if m.MemberID == member {
						t.Fatalf("refused member %s is in the group", member)
					}
				}
				return
			}
			if resp.MemberID == nil || *resp.MemberID != member || resp.MemberEpoch < 1 || resp.HeartbeatIntervalMillis <= 0 {
				t.Fatalf("joined: member %v epoch %d interval %d", resp.MemberID, resp.MemberEpoch, resp.HeartbeatIntervalMillis)
			}
			if code := heartbeatLeave(t, cl, group, member); code != 0 {
				t.Fatalf("leave: %v", kerr.ErrorForCode(code))
			}
		})
	}
}

// describeGroupAsAdmin is ConsumerGroupDescribe of one group by the
// super user.
func (e *aclEnv) describeGroupAsAdmin(t *testing.T, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp := send[*kmsg.ConsumerGroupDescribeResponse](t, e.adminCl, req)
	if len(resp.Groups) != 1 {
		t.Fatalf("describe answered %d groups", len(resp.Groups))
	}
	return resp.Groups[0]
}

// TestACLConsumerGroupDescribe: Kafka's rules for describing a KIP-848
// group: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED, checked per
// group, before whether it exists), then DESCRIBE on every topic its
// members are assigned (TOPIC_AUTHORIZATION_FAILED with no members
// shown, so a group does not leak topic names).
func TestACLConsumerGroupDescribe(t *testing.T) {
	e := startACLBroker(t)
	cl := e.client(t, alice)
	for _, topic := range []string{"orders", "payments"} {
		if _, err := e.admin.CreateTopic(t.Context(), 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	const group, member = "app-group", "member-describe-000000000000"
	// The super user's member owns every partition of both topics.
	if resp := heartbeatJoin(t, e.adminCl, group, member, "orders", "payments"); resp.ErrorCode != 0 || resp.Assignment == nil || len(resp.Assignment.Topics) != 2 {
		t.Fatalf("setup join: %v, assignment %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Assignment)
	}
	describe := func(t *testing.T, ops bool, groups ...string) []kmsg.ConsumerGroupDescribeResponseGroup {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups, req.IncludeAuthorizedOperations = groups, ops
		resp := send[*kmsg.ConsumerGroupDescribeResponse](t, cl, req)
		if len(resp.Groups) != len(groups) {
			t.Fatalf("described %d groups, asked %d", len(resp.Groups), len(groups))
		}
		return resp.Groups
	}
	descGroup := allowACL(alice, auth.ResGroup, group, lit, auth.OpDescribe, "*")
	topic := func(name string) meta.ACLBinding {
		return allowACL(alice, auth.ResTopic, name, lit, auth.OpDescribe, "*")
	}
	groupDenied, topicDenied := kerr.GroupAuthorizationFailed.Code, kerr.TopicAuthorizationFailed.Code
	for _, v := range []struct {
		name  string
		grant []meta.ACLBinding
		want  int16
	}{
		{"no-acl", nil, groupDenied},
		{"topics-only", []meta.ACLBinding{topic("orders"), topic("payments")}, groupDenied},
		{"group-deny-wins", []meta.ACLBinding{allowACL(alice, auth.ResGroup, group, lit, auth.OpAll, "*"), denyACL(alice, auth.ResGroup, group, auth.OpDescribe), topic("orders"), topic("payments")}, groupDenied},
		{"group-no-topics", []meta.ACLBinding{descGroup}, topicDenied},
		{"group-one-topic", []meta.ACLBinding{descGroup, topic("orders")}, topicDenied},
		{"group-and-topics", []meta.ACLBinding{descGroup, topic("orders"), topic("payments")}, 0},
		// Read implies Describe, on the group and on topics (here the
		// wildcard).
		{"read-implies-describe", []meta.ACLBinding{allowACL(alice, auth.ResGroup, group, lit, auth.OpRead, "*"), allowACL(alice, auth.ResTopic, "*", lit, auth.OpRead, "*")}, 0},
	} {
		t.Run(v.name, func(t *testing.T) {
			e.setACLs(t, v.grant...)
			g := describe(t, true, group)[0]
			if g.Group != group || g.ErrorCode != v.want {
				t.Fatalf("group %q: %v, want %v", g.Group, kerr.ErrorForCode(g.ErrorCode), kerr.ErrorForCode(v.want))
			}
			switch v.want {
			case 0:
				if len(g.Members) != 1 || g.Members[0].MemberID != member || g.Epoch < 1 {
					t.Fatalf("members %+v, epoch %d", g.Members, g.Epoch)
				}
				var topics []string
				for _, tp := range g.Members[0].TargetAssignment.TopicPartitions {
					topics = append(topics, tp.Topic)
				}
				slices.Sort(topics)
				if !slices.Equal(topics, []string{"orders", "payments"}) {
					t.Fatalf("target assignment topics %v", topics)
				}
				// KIP-430: Describe (or Read, which implies it) is in
				// the authorized operations.
				if g.AuthorizedOperations&(1<<auth.OpDescribe) == 0 {
					t.Fatalf("authorized operations %b lack Describe", g.AuthorizedOperations)
				}
			case topicDenied:
				if len(g.Members) != 0 || g.State != "" || g.ErrorMessage == nil {
					t.Fatalf("a refused group shows members %+v, state %q, message %v", g.Members, g.State, g.ErrorMessage)
				}
			default:
				if len(g.Members) != 0 || g.State != "" {
					t.Fatalf("a refused group shows members %+v, state %q", g.Members, g.State)
				}
			}
		})
	}
	// Several groups: each answered on its own ACLs; a group that does
	// not exist is GROUP_ID_NOT_FOUND only to whom may describe it.
	t.Run("per-group", func(t *testing.T) {
		e.setACLs(t, descGroup, topic("orders"), topic("payments"), allowACL(alice, auth.ResGroup, "missing", lit, auth.OpDescribe, "*"))
		gs := describe(t, false, group, "missing", "secret")
		want := []int16{0, kerr.GroupIDNotFound.Code, groupDenied}
		for i, g := range gs {
			if g.ErrorCode != want[i] {
				t.Errorf("group %q: %v, want %v", g.Group, kerr.ErrorForCode(g.ErrorCode), kerr.ErrorForCode(want[i]))
			}
		}
		if gs[0].AuthorizedOperations != -2147483648 {
			t.Errorf("authorized operations %d without IncludeAuthorizedOperations", gs[0].AuthorizedOperations)
		}
	})
}
