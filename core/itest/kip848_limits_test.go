package itest

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupMaxSize: with --group-max-size=1 a consumer (KIP-848) group
// with a kgo member refuses a second member's ConsumerGroupHeartbeat with
// GROUP_MAX_SIZE_REACHED and Kafka's message, and a classic group with
// one member refuses a second JoinGroup the same way.
func TestGroupMaxSize(t *testing.T) {
	ctx := testContext(t, time.Minute)
	b := startBroker(t, brokerOptions{ExtraArgs: append([]string{"--group-max-size=1"}, kip848Flags...)})
	adm := newAdmin(t, b)
	const topic, group, classic = "gmax", "gmax-consumer", "gmax-classic"
	createTopic(ctx, t, adm, topic, 2, nil)

	member := newClient(t, b, kgo.ClientID("gmax-member"), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.HeartbeatInterval(200*time.Millisecond))
	go func() {
		for ctx.Err() == nil {
			if member.PollFetches(ctx).IsClientClosed() {
				return
			}
		}
	}()
	waitConsumerGroup(ctx, t, adm, group, 2, "gmax-member")

	raw := newClient(t, b)
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch, hb.RebalanceTimeoutMillis = group, "second-member", 0, 5000
	hb.SubscribedTopicNames = []string{topic}
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp, err := hb.RequestWith(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.GroupMaxSizeReached.Code || resp.ErrorMessage == nil ||
		*resp.ErrorMessage != "The consumer group has reached its maximum capacity of 1 members." {
		t.Fatalf("second consumer group member: %v %v", kerr.ErrorForCode(resp.ErrorCode), resp.ErrorMessage)
	}
	if d := describeConsumerGroup(ctx, t, adm, group); len(d.Members) != 1 {
		t.Fatalf("%d members, want 1", len(d.Members))
	}

	join := func(memberID string) *kmsg.JoinGroupResponse {
		t.Helper()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 4
		req.Group, req.MemberID, req.ProtocolType = classic, memberID, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 5000
		meta := kmsg.ConsumerMemberMetadata{Version: 0, Topics: []string{topic}}
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
		resp, err := req.RequestWith(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := join("")
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first classic join: %v", kerr.ErrorForCode(first.ErrorCode))
	}
	if r := join(""); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("second classic member: %v, want GROUP_MAX_SIZE_REACHED", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := join(first.MemberID); r.ErrorCode != 0 || r.MemberID != first.MemberID || r.LeaderID != first.MemberID {
		t.Fatalf("first member with its id: %v %+v", kerr.ErrorForCode(r.ErrorCode), r)
	}
}
