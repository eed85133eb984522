package group

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestConsumerLoadSkipsCorruptRecords: at load, partitions a stored
// assignment names outside the topic's range are dropped, a corrupt
// record is skipped with a warning naming it, and an over-long stored
// regex is not compiled; the rest of the group loads.
func TestConsumerLoadSkipsCorruptRecords(t *testing.T) {
	var logs bytes.Buffer
	c := &Coordinator{groups: map[string]*group{}, logger: slog.New(slog.NewTextHandler(&logs, nil))}
	id := topicID("t")
	c.cfg.Topics = func() []TopicMeta { return []TopicMeta{{Name: "t", ID: id, Partitions: 3}} }
	long := strings.Repeat("a", MaxTopicRegexLen+1)
	recs := [][2][]byte{
		{cgKey{Type: recConsumerGroup, Group: "g"}.encode(), consumerGroupMetadataValue{Epoch: 4}.encode()},
		{cgKey{Type: recMemberMetadata, Group: "g", MemberID: "m"}.encode(),
			memberMetadataValue{ClientID: "c", ClientHost: "h", SubscribedTopicNames: []string{"t"}, RebalanceTimeoutMs: 1000}.encode()},
		{cgKey{Type: recCurrentAssignment, Group: "g", MemberID: "m"}.encode(),
			currentAssignmentValue{MemberEpoch: 4, PreviousMemberEpoch: 3,
				AssignedPartitions: []cgTopicPartitions{{TopicID: id, Partitions: []int32{-1, 0, 2, 3, 7}}}}.encode()},
		{cgKey{Type: recMemberMetadata, Group: "g", MemberID: "r"}.encode(),
			memberMetadataValue{ClientID: "c", ClientHost: "h", SubscribedTopicRegex: &long, RebalanceTimeoutMs: 1000}.encode()},
		{cgKey{Type: recTargetMember, Group: "g", MemberID: "m"}.encode(), []byte{0, 0, 0xff}}, // truncated
	}
	for i, r := range recs {
		c.replay(r[0], r[1], int64(i))
	}
	c.cgFinishLoad()
	g := c.groups["g"]
	if g == nil || g.cg == nil {
		t.Fatal("group g did not load as a consumer group")
	}
	m := g.cg.members["m"]
	if m == nil {
		t.Fatal("member m did not load")
	}
	got := m.assigned.list()
	if len(got) != 2 || got[0] != (TopicPartition{"t", 0}) || got[1] != (TopicPartition{"t", 2}) {
		t.Fatalf("m assigned %v, want t-0 and t-2 (-1, 3 and 7 are outside t's 3 partitions)", got)
	}
	if r := g.cg.members["r"]; r == nil || r.re != nil || r.subscribes("a") {
		t.Fatalf("member r: %+v, want loaded with its over-long regex not compiled", r)
	}
	out := logs.String()
	for _, want := range []string{
		`record="target member assignment" member=m`,
		`record="member metadata (subscribed regex)" member=r`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no warning with %s in:\n%s", want, out)
		}
	}
}
