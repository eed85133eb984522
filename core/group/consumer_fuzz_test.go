package group

import (
	"encoding/binary"
	"log/slog"
	"testing"
)

// fuzzRecords splits data into (key, value) pairs: each is a uint16 key
// length, the key, a uint16 value length (0xffff: a tombstone) and the
// value; a short tail ends the list.
func fuzzRecords(data []byte) (out [][2][]byte) {
	for len(data) >= 2 && len(out) < 64 {
		kn := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		if kn > len(data) {
			return
		}
		key := data[:kn]
		data = data[kn:]
		if len(data) < 2 {
			return
		}
		vn := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		var value []byte
		if vn != 0xffff {
			if vn > len(data) {
				return
			}
			value = data[:vn]
			data = data[vn:]
		}
		out = append(out, [2][]byte{key, value})
	}
	return out
}

func fuzzAppendRecord(b, key, value []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	if value == nil {
		return binary.BigEndian.AppendUint16(b, 0xffff)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// FuzzConsumerGroupRecords replays arbitrary __consumer_offsets records
// of the KIP-848 kinds (3–8, and the classic ones beside them) as a
// coordinator's load does and builds the groups: a corrupt record must be
// skipped, never crash start-up. The seeds are valid records of every
// kind, so `go test` runs the whole load path.
func FuzzConsumerGroupRecords(f *testing.F) {
	inst, rack, re, asg := "i-1", "r-1", "t.*", "range"
	id1, id2 := topicID("t"), topicID("u")
	var seed []byte
	seed = fuzzAppendRecord(seed, cgKey{Type: recConsumerGroup, Group: "g"}.encode(), consumerGroupMetadataValue{Epoch: 4}.encode())
	seed = fuzzAppendRecord(seed, cgKey{Type: recPartitionMetadata, Group: "g"}.encode(),
		partitionMetadataValue{Epoch: 4, Topics: []TopicMeta{{Name: "t", ID: id1, Partitions: 3}, {Name: "u", ID: id2, Partitions: 1}}}.encode())
	seed = fuzzAppendRecord(seed, cgKey{Type: recTargetMetadata, Group: "g"}.encode(), targetMetadataValue{AssignmentEpoch: 4}.encode())
	seed = fuzzAppendRecord(seed, cgKey{Type: recMemberMetadata, Group: "g", MemberID: "m"}.encode(),
		memberMetadataValue{InstanceID: &inst, RackID: &rack, ClientID: "c", ClientHost: "/127.0.0.1",
			SubscribedTopicNames: []string{"t", "u"}, SubscribedTopicRegex: &re, RebalanceTimeoutMs: 45000, ServerAssignor: &asg}.encode())
	seed = fuzzAppendRecord(seed, cgKey{Type: recTargetMember, Group: "g", MemberID: "m"}.encode(),
		targetMemberValue{TopicPartitions: []cgTopicPartitions{{TopicID: id1, Partitions: []int32{0, 2}}, {TopicID: id2, Partitions: []int32{0}}}}.encode())
	seed = fuzzAppendRecord(seed, cgKey{Type: recCurrentAssignment, Group: "g", MemberID: "m"}.encode(),
		currentAssignmentValue{MemberEpoch: 4, PreviousMemberEpoch: 3, State: int8(memberUnrevoked),
			AssignedPartitions:          []cgTopicPartitions{{TopicID: id1, Partitions: []int32{1, -1}, Epochs: []int32{4, 5}}},
			PartitionsPendingRevocation: []cgTopicPartitions{{TopicID: id2, Partitions: []int32{0}, Epochs: []int32{2}}}}.encode())
	f.Add(seed)
	// A member without a subscription record, a tombstone, a static
	// member that left.
	var s2 []byte
	s2 = fuzzAppendRecord(s2, cgKey{Type: recConsumerGroup, Group: "h"}.encode(), consumerGroupMetadataValue{Epoch: 1}.encode())
	s2 = fuzzAppendRecord(s2, cgKey{Type: recCurrentAssignment, Group: "h", MemberID: "x"}.encode(),
		currentAssignmentValue{MemberEpoch: staticLeaveEpoch, PreviousMemberEpoch: 1}.encode())
	s2 = fuzzAppendRecord(s2, cgKey{Type: recMemberMetadata, Group: "h", MemberID: "y"}.encode(), nil)
	s2 = fuzzAppendRecord(s2, cgKey{Type: recMemberMetadata, Group: "h", MemberID: "x"}.encode(),
		memberMetadataValue{InstanceID: &inst, ClientID: "c", ClientHost: "h", SubscribedTopicNames: []string{}, RebalanceTimeoutMs: -1}.encode())
	f.Add(s2)
	f.Add([]byte{0, 2, 0, 3, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Coordinator{groups: map[string]*group{}, logger: slog.New(slog.DiscardHandler)}
		c.cfg.Topics = func() []TopicMeta {
			return []TopicMeta{{Name: "t", ID: id1, Partitions: 3}, {Name: "u", ID: id2, Partitions: 1}}
		}
		for i, r := range fuzzRecords(data) {
			c.replay(r[0], r[1], int64(i))
		}
		c.cgFinishLoad()
		for _, g := range c.groups {
			if g.cg == nil {
				continue
			}
			// What a loaded group is then asked first.
			c.DescribeConsumer(g.id)
			g.cg.chooseAssignor()
			for _, m := range g.cg.sortedMembers() {
				m.subscribes("t")
			}
		}
	})
}
