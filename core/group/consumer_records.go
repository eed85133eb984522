package group

// Kafka's KIP-848 records in __consumer_offsets, laid out as its new group
// coordinator writes them (group-coordinator/src/main/resources/common/
// message/ConsumerGroup*.json). kmsg only has the classic records
// (OffsetCommit, GroupMetadata), so these are encoded here, field by field
// as the schemas say: a key is its int16 record type ("key version" 3–8)
// followed by non-flexible strings; a value is int16 version 0 followed by
// a flexible struct (compact strings and arrays, uuids, tagged fields).
//
// Record types: 3 ConsumerGroupMetadata (group epoch), 4
// ConsumerGroupPartitionMetadata (subscribed topics' metadata), 5
// ConsumerGroupMemberMetadata (a member's subscription), 6
// ConsumerGroupTargetAssignmentMetadata (target epoch), 7
// ConsumerGroupTargetAssignmentMember (a member's target), 8
// ConsumerGroupCurrentMemberAssignment (a member's epochs, state and
// partitions). Every key names the group (and member), so compaction keeps
// the latest of each and a tombstone deletes it.

import (
	"encoding/binary"
	"errors"
)

// Record types (key versions) of the KIP-848 records.
const (
	recConsumerGroup        int16 = 3
	recPartitionMetadata    int16 = 4
	recMemberMetadata       int16 = 5
	recTargetMetadata       int16 = 6
	recTargetMember         int16 = 7
	recCurrentAssignment    int16 = 8
	consumerRecordValueV0   int16 = 0
	tagAssignmentEpochs           = 0 // TopicPartitions.AssignmentEpochs (KIP-1251)
	maxConsumerRecordStrLen       = 1 << 20
	maxRackPartitions             = 1 << 20 // partitions of a topic whose racks are read back
)

var errShortRecord = errors.New("group: truncated consumer group record")

// cgKey is a KIP-848 record key: the group, and for member records the
// member.
type cgKey struct {
	Type     int16
	Group    string
	MemberID string // types 5, 7, 8
}

func memberKeyType(t int16) bool {
	return t == recMemberMetadata || t == recTargetMember || t == recCurrentAssignment
}

func (k cgKey) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(k.Type))
	b = appendString(b, k.Group)
	if memberKeyType(k.Type) {
		b = appendString(b, k.MemberID)
	}
	return b
}

func decodeCGKey(b []byte) (cgKey, error) {
	r := &rd{b: b}
	k := cgKey{Type: r.int16()}
	k.Group = r.string()
	if memberKeyType(k.Type) {
		k.MemberID = r.string()
	}
	return k, r.err
}

// cgTopicPartitions is the schemas' TopicPartition(s) struct: a topic by
// id and its partitions. Epochs is the tagged AssignmentEpochs of the
// current assignment record (nil when absent), aligned with Partitions.
type cgTopicPartitions struct {
	TopicID    [16]byte
	Partitions []int32
	Epochs     []int32
}

// consumerGroupMetadataValue is ConsumerGroupMetadataValue v0. Its tagged
// MetadataHash and CreationTimeMs are not written (their defaults) and
// skipped when read.
type consumerGroupMetadataValue struct{ Epoch int32 }

func (v consumerGroupMetadataValue) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(consumerRecordValueV0))
	b = binary.BigEndian.AppendUint32(b, uint32(v.Epoch))
	return appendNoTags(b)
}

func (v *consumerGroupMetadataValue) decode(b []byte) error {
	r := valueReader(b)
	v.Epoch = r.int32()
	r.skipTags()
	return r.err
}

// partitionMetadataValue is ConsumerGroupPartitionMetadataValue v0, with
// the PartitionRacks of partitions that have racks.
type partitionMetadataValue struct {
	Epoch  int32
	Topics []TopicMeta
}

func (v partitionMetadataValue) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(consumerRecordValueV0))
	b = binary.BigEndian.AppendUint32(b, uint32(v.Epoch))
	b = appendUvarint(b, uint64(len(v.Topics))+1)
	for _, t := range v.Topics {
		b = append(b, t.ID[:]...)
		b = appendCompactString(b, t.Name)
		b = binary.BigEndian.AppendUint32(b, uint32(t.Partitions))
		n := 0
		for _, rs := range t.Racks {
			if len(rs) > 0 {
				n++
			}
		}
		b = appendUvarint(b, uint64(n)+1)
		for p, rs := range t.Racks {
			if len(rs) == 0 {
				continue
			}
			b = binary.BigEndian.AppendUint32(b, uint32(p))
			b = appendUvarint(b, uint64(len(rs))+1)
			for _, r := range rs {
				b = appendCompactString(b, r)
			}
			b = appendNoTags(b)
		}
		b = appendNoTags(b)
	}
	return appendNoTags(b)
}

func (v *partitionMetadataValue) decode(b []byte) error {
	r := valueReader(b)
	v.Epoch = r.int32()
	n := r.arrayLen(16 + 1 + 4 + 1 + 1)
	v.Topics = make([]TopicMeta, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		var t TopicMeta
		t.ID = r.uuid()
		t.Name = r.compactString()
		t.Partitions = r.int32()
		racks := r.arrayLen(4 + 1 + 1)
		for j := 0; j < racks && r.err == nil; j++ {
			p := r.int32()
			ns := r.arrayLen(1)
			var rs []string
			for k := 0; k < ns && r.err == nil; k++ {
				rs = append(rs, r.compactString())
			}
			r.skipTags()
			// Racks is indexed by partition: only partitions the
			// topic has (the count itself bounded) get a slot.
			if p >= 0 && p < t.Partitions && t.Partitions <= maxRackPartitions && len(rs) > 0 {
				for int32(len(t.Racks)) <= p {
					t.Racks = append(t.Racks, nil)
				}
				t.Racks[p] = rs
			}
		}
		r.skipTags()
		v.Topics = append(v.Topics, t)
	}
	r.skipTags()
	return r.err
}

// memberMetadataValue is ConsumerGroupMemberMetadataValue v0. The tagged
// ClassicMemberMetadata (members of a group being migrated from the
// classic protocol, which Sluice does not do) is skipped when read.
type memberMetadataValue struct {
	InstanceID, RackID   *string
	ClientID, ClientHost string
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	RebalanceTimeoutMs   int32
	ServerAssignor       *string
}

func (v memberMetadataValue) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(consumerRecordValueV0))
	b = appendNullableCompactString(b, v.InstanceID)
	b = appendNullableCompactString(b, v.RackID)
	b = appendCompactString(b, v.ClientID)
	b = appendCompactString(b, v.ClientHost)
	b = appendUvarint(b, uint64(len(v.SubscribedTopicNames))+1)
	for _, t := range v.SubscribedTopicNames {
		b = appendCompactString(b, t)
	}
	b = appendNullableCompactString(b, v.SubscribedTopicRegex)
	b = binary.BigEndian.AppendUint32(b, uint32(v.RebalanceTimeoutMs))
	b = appendNullableCompactString(b, v.ServerAssignor)
	return appendNoTags(b)
}

func (v *memberMetadataValue) decode(b []byte) error {
	r := valueReader(b)
	v.InstanceID = r.nullableCompactString()
	v.RackID = r.nullableCompactString()
	v.ClientID = r.compactString()
	v.ClientHost = r.compactString()
	n := r.arrayLen(1)
	v.SubscribedTopicNames = make([]string, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		v.SubscribedTopicNames = append(v.SubscribedTopicNames, r.compactString())
	}
	v.SubscribedTopicRegex = r.nullableCompactString()
	v.RebalanceTimeoutMs = r.int32()
	v.ServerAssignor = r.nullableCompactString()
	r.skipTags()
	return r.err
}

// targetMetadataValue is ConsumerGroupTargetAssignmentMetadataValue v0
// (the tagged AssignmentTimestamp is not written, skipped when read).
type targetMetadataValue struct{ AssignmentEpoch int32 }

func (v targetMetadataValue) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(consumerRecordValueV0))
	b = binary.BigEndian.AppendUint32(b, uint32(v.AssignmentEpoch))
	return appendNoTags(b)
}

func (v *targetMetadataValue) decode(b []byte) error {
	r := valueReader(b)
	v.AssignmentEpoch = r.int32()
	r.skipTags()
	return r.err
}

// targetMemberValue is ConsumerGroupTargetAssignmentMemberValue v0.
type targetMemberValue struct{ TopicPartitions []cgTopicPartitions }

func (v targetMemberValue) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(consumerRecordValueV0))
	b = appendTopicPartitions(b, v.TopicPartitions, false)
	return appendNoTags(b)
}

func (v *targetMemberValue) decode(b []byte) error {
	r := valueReader(b)
	v.TopicPartitions = r.topicPartitions()
	r.skipTags()
	return r.err
}

// currentAssignmentValue is ConsumerGroupCurrentMemberAssignmentValue v0.
// State is Kafka's MemberState byte (0 stable, 1 unrevoked partitions, 2
// unreleased partitions), as memberState numbers them.
type currentAssignmentValue struct {
	MemberEpoch, PreviousMemberEpoch int32
	State                            int8
	AssignedPartitions               []cgTopicPartitions
	PartitionsPendingRevocation      []cgTopicPartitions
}

func (v currentAssignmentValue) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(consumerRecordValueV0))
	b = binary.BigEndian.AppendUint32(b, uint32(v.MemberEpoch))
	b = binary.BigEndian.AppendUint32(b, uint32(v.PreviousMemberEpoch))
	b = append(b, byte(v.State))
	b = appendTopicPartitions(b, v.AssignedPartitions, true)
	b = appendTopicPartitions(b, v.PartitionsPendingRevocation, true)
	return appendNoTags(b)
}

func (v *currentAssignmentValue) decode(b []byte) error {
	r := valueReader(b)
	v.MemberEpoch = r.int32()
	v.PreviousMemberEpoch = r.int32()
	v.State = int8(r.byte())
	v.AssignedPartitions = r.topicPartitions()
	v.PartitionsPendingRevocation = r.topicPartitions()
	r.skipTags()
	return r.err
}

// appendTopicPartitions writes a compact array of TopicPartition(s);
// withEpochs writes each one's AssignmentEpochs as tagged field 0 when it
// has them.
func appendTopicPartitions(b []byte, tps []cgTopicPartitions, withEpochs bool) []byte {
	b = appendUvarint(b, uint64(len(tps))+1)
	for _, t := range tps {
		b = append(b, t.TopicID[:]...)
		b = appendInt32s(b, t.Partitions)
		if !withEpochs || t.Epochs == nil {
			b = appendNoTags(b)
			continue
		}
		field := appendInt32s(nil, t.Epochs)
		b = appendUvarint(b, 1) // one tagged field
		b = appendUvarint(b, tagAssignmentEpochs)
		b = appendUvarint(b, uint64(len(field)))
		b = append(b, field...)
	}
	return b
}

func appendInt32s(b []byte, vs []int32) []byte {
	b = appendUvarint(b, uint64(len(vs))+1)
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return b
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendNoTags(b []byte) []byte { return append(b, 0) }

// appendString is a non-flexible (key) string: int16 length and bytes.
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendCompactString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s))+1)
	return append(b, s...)
}

func appendNullableCompactString(b []byte, s *string) []byte {
	if s == nil {
		return appendUvarint(b, 0)
	}
	return appendCompactString(b, *s)
}

// rd reads a record; the first error sticks and later reads return zero
// values. Counts and lengths are bounded by the bytes left, so nothing
// read off the log sizes an allocation beyond the record.
type rd struct {
	b   []byte
	err error
}

// valueReader reads a version 0 value (other versions are an error: a
// newer Kafka's layout is not guessed at).
func valueReader(b []byte) *rd {
	r := &rd{b: b}
	if v := r.int16(); r.err == nil && v != consumerRecordValueV0 {
		r.err = errors.New("group: unknown consumer group record value version")
	}
	return r
}

func (r *rd) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errShortRecord
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *rd) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *rd) int16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *rd) int32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *rd) uuid() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

func (r *rd) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rd) string() string {
	n := int(r.int16())
	return string(r.take(n))
}

func (r *rd) compactString() string {
	n := r.uvarint()
	if r.err == nil && n == 0 {
		r.err = errors.New("group: null where a string is required")
	}
	if n > maxConsumerRecordStrLen {
		r.err = errShortRecord
	}
	return string(r.take(int(n) - 1))
}

func (r *rd) nullableCompactString() *string {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	if n > maxConsumerRecordStrLen {
		r.err = errShortRecord
		return nil
	}
	s := string(r.take(int(n) - 1))
	return &s
}

// arrayLen reads a compact array length (null reads as empty); each
// element takes at least minSize bytes, which bounds the count.
func (r *rd) arrayLen(minSize int) int {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return 0
	}
	n--
	if n > uint64(len(r.b)/minSize) {
		r.err = errShortRecord
		return 0
	}
	return int(n)
}

func (r *rd) int32s() []int32 {
	n := r.arrayLen(4)
	out := make([]int32, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.int32())
	}
	return out
}

// nullableInt32s reads a nullable compact []int32 (nil for null).
func (r *rd) nullableInt32s() []int32 {
	save := r.b
	if n := r.uvarint(); r.err == nil && n == 0 {
		return nil
	}
	r.b = save
	return r.int32s()
}

func (r *rd) topicPartitions() []cgTopicPartitions {
	n := r.arrayLen(16 + 1 + 1)
	out := make([]cgTopicPartitions, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		var t cgTopicPartitions
		t.TopicID = r.uuid()
		t.Partitions = r.int32s()
		tags := r.uvarint()
		for j := uint64(0); j < tags && r.err == nil; j++ {
			tag, size := r.uvarint(), r.uvarint()
			if size > uint64(len(r.b)) {
				r.err = errShortRecord
				break
			}
			field := r.take(int(size))
			if tag == tagAssignmentEpochs {
				fr := &rd{b: field}
				t.Epochs = fr.nullableInt32s()
				if fr.err != nil {
					r.err = fr.err
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// skipTags skips a tagged-field section (fields this version does not
// use are ignored, as Kafka's readers do).
func (r *rd) skipTags() {
	n := r.uvarint()
	for i := uint64(0); i < n && r.err == nil; i++ {
		r.uvarint()
		size := r.uvarint()
		if size > uint64(len(r.b)) {
			r.err = errShortRecord
			return
		}
		r.take(int(size))
	}
}
