package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// commitTimeout bounds waiting for a group write to replicate
// (offsets.commit.timeout.ms).
const commitTimeout = 5 * time.Second

// OffsetsTopic is Kafka's internal topic for group metadata and offsets.
const OffsetsTopic = "__consumer_offsets"

// Store persists groups and offsets in __consumer_offsets with Kafka's
// record schemas (offset commit key v1 / value v3, group metadata key v2 /
// value v3), so Kafka tools can read the topic. The topic is compacted:
// the latest record per key wins and tombstones delete.
type Store struct {
	partitions int32
	part       func(int32) (*partition.Partition, error)
}

// NewStore writes through part(i), partition i of __consumer_offsets.
func NewStore(partitions int32, part func(int32) (*partition.Partition, error)) *Store {
	return &Store{partitions: partitions, part: part}
}

// PartitionFor is the __consumer_offsets partition (and so the
// coordinator) of a group: Java's String.hashCode, made non-negative,
// modulo the partition count, exactly as Kafka computes it.
func PartitionFor(groupID string, partitions int32) int32 {
	var h int32
	for _, r := range groupID {
		if r >= 0x10000 { // UTF-16 surrogate pair
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return (h & 0x7fffffff) % partitions
}

func offsetKey(group string, tp TopicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	return k.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: 2, Group: group}
	return k.AppendTo(nil)
}

// pendingWrite is a group record batch appended to __consumer_offsets and
// not yet known to be committed. Appending is quick and happens under the
// group's lock, so the log holds a group's records in the order its state
// changed; waiting for the commit (replication, fsync) happens without
// the lock, so heartbeats, joins and syncs never queue behind it.
type pendingWrite struct {
	p   *partition.Partition
	res partition.AppendResult
	err error
}

// wait returns once the records are committed (offsets.commit.timeout.ms
// bounds it).
func (w pendingWrite) wait() error {
	if w.err != nil {
		return w.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	return w.p.WaitCommitted(ctx, w.res)
}

// pos is the records' offset in the log: later appends have larger ones.
func (w pendingWrite) pos() int64 { return w.res.BaseOffset }

// appendRecords appends records to the group's partition without waiting
// for them to be committed.
func (s *Store) appendRecords(groupID string, recs []records.Record) pendingWrite {
	p, err := s.part(PartitionFor(groupID, s.partitions))
	if err != nil {
		return pendingWrite{err: fmt.Errorf("group: offsets partition: %w", err)}
	}
	now := time.Now().UnixMilli()
	for i := range recs {
		recs[i].Timestamp = now
	}
	batch, err := records.Encode(recs, records.Plain)
	if err != nil {
		return pendingWrite{err: err}
	}
	res, err := p.Append(batch)
	if err != nil {
		return pendingWrite{err: fmt.Errorf("group: append: %w", err)}
	}
	return pendingWrite{p: p, res: res}
}

// write appends records and waits until they are committed.
func (s *Store) write(groupID string, recs []records.Record) error {
	return s.appendRecords(groupID, recs).wait()
}

// appendOffsets appends offset commits (see pendingWrite).
func (s *Store) appendOffsets(groupID string, offs map[TopicPartition]Offset) pendingWrite {
	recs := make([]records.Record, 0, len(offs))
	for tp, o := range offs {
		v := kmsg.OffsetCommitValue{Version: 3, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTimestamp: o.CommitTime}
		recs = append(recs, records.Record{Key: offsetKey(groupID, tp), Value: v.AppendTo(nil)})
	}
	return s.appendRecords(groupID, recs)
}

// appendOffsetDeletes appends offset tombstones (see pendingWrite).
func (s *Store) appendOffsetDeletes(groupID string, tps []TopicPartition) pendingWrite {
	recs := make([]records.Record, 0, len(tps))
	for _, tp := range tps {
		recs = append(recs, records.Record{Key: offsetKey(groupID, tp)})
	}
	return s.appendRecords(groupID, recs)
}

// appendGroup appends the group's metadata and current assignments (see
// pendingWrite), stamped with the time the group entered its state (ms).
// Called with the group locked.
func (s *Store) appendGroup(g *group, stateTime int64) pendingWrite {
	v := kmsg.GroupMetadataValue{
		Version:               3,
		ProtocolType:          g.protocolType,
		Generation:            g.generation,
		CurrentStateTimestamp: stateTime,
	}
	if g.protocol != "" {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	for _, id := range g.order {
		m := g.members[id]
		v.Members = append(v.Members, kmsg.GroupMetadataValueMember{
			MemberID:               m.id,
			InstanceID:             m.instanceID,
			ClientID:               m.clientID,
			ClientHost:             m.clientHost,
			RebalanceTimeoutMillis: int32(m.rebalanceTimeout / time.Millisecond),
			SessionTimeoutMillis:   int32(m.sessionTimeout / time.Millisecond),
			Subscription:           m.metadataFor(g.protocol),
			Assignment:             m.assignment,
		})
	}
	return s.appendRecords(g.id, []records.Record{{Key: groupKey(g.id), Value: v.AppendTo(nil)}})
}

// deleteGroup writes tombstones for the group and all its offsets.
func (s *Store) deleteGroup(g *group) error {
	recs := []records.Record{{Key: groupKey(g.id)}}
	if g.cg != nil {
		recs = append(recs, consumerGroupTombstones(g.id)...)
	}
	for tp := range g.offsets {
		recs = append(recs, records.Record{Key: offsetKey(g.id, tp)})
	}
	return s.write(g.id, recs)
}

// load replays every __consumer_offsets partition into c. Groups come back
// Empty at their last generation: members of a restarted coordinator
// rejoin (their heartbeats get UNKNOWN_MEMBER_ID), and committed offsets
// are all there.
func (s *Store) load(c *Coordinator) error {
	for i := int32(0); i < s.partitions; i++ {
		if err := s.loadPartition(i, c); err != nil {
			return err
		}
	}
	return nil
}

// loadPartition replays one __consumer_offsets partition into c.
func (s *Store) loadPartition(i int32, c *Coordinator) error {
	p, err := s.part(i)
	if err != nil {
		return fmt.Errorf("group: load partition %d: %w", i, err)
	}
	return s.replayPartition(p, c)
}

// replayPartition replays a __consumer_offsets partition's log into c.
func (s *Store) replayPartition(p *partition.Partition, c *Coordinator) error {
	// Transactional offsets wait for their marker: producer id -> the
	// groups holding pending offsets of it.
	pendingBy := map[int64]map[string]bool{}
	err := p.Scan(func(batch []byte) error {
		h, herr := storage.ParseHeader(batch)
		b, err := records.Decode(batch)
		if err != nil {
			// A batch that lies about its records (stored before
			// produce validation existed, or damaged) must not keep
			// the broker from starting: its offsets are lost, the
			// rest of the partition still loads.
			if c.logger != nil {
				h, _ := storage.ParseHeader(batch)
				c.logger.Error("skipping undecodable __consumer_offsets batch", "partition", p.Index, "offset", h.BaseOffset, "err", err)
			}
			return nil
		}
		switch {
		case herr == nil && h.IsControl():
			if len(b.Records) == 0 {
				return nil
			}
			commit, ok := controlType(b.Records[0].Key)
			if !ok {
				return nil
			}
			for id := range pendingBy[h.ProducerID] {
				if g := c.groups[id]; g != nil {
					g.endTxn(h.ProducerID, commit)
				}
			}
			delete(pendingBy, h.ProducerID)
		case herr == nil && h.IsTransactional():
			for _, r := range b.Records {
				if id := c.replayTxn(h.ProducerID, r.Key, r.Value, h.BaseOffset); id != "" {
					if pendingBy[h.ProducerID] == nil {
						pendingBy[h.ProducerID] = map[string]bool{}
					}
					pendingBy[h.ProducerID][id] = true
				}
			}
		default:
			for _, r := range b.Records {
				c.replay(r.Key, r.Value, b.BaseOffset)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("group: load partition %d: %w", p.Index, err)
	}
	c.cgFinishLoad()
	return nil
}

// replayTxn applies one offset record of a transactional batch at pos:
// pending until the producer's marker. It returns the record's group.
func (c *Coordinator) replayTxn(pid int64, key, value []byte, pos int64) string {
	if len(key) < 2 || value == nil {
		return ""
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != 0 && v != 1 {
		return ""
	}
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	if k.ReadFrom(key) != nil || v.ReadFrom(value) != nil {
		return ""
	}
	g := c.groups[k.Group]
	if g == nil {
		g = newGroup(k.Group)
		c.groups[k.Group] = g
	}
	if g.txnOffsets == nil {
		g.txnOffsets = map[int64]map[TopicPartition]pendingTxnOffset{}
	}
	if g.txnOffsets[pid] == nil {
		g.txnOffsets[pid] = map[TopicPartition]pendingTxnOffset{}
	}
	o := Offset{Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata, CommitTime: v.CommitTimestamp}
	g.txnOffsets[pid][TopicPartition{Topic: k.Topic, Partition: k.Partition}] = pendingTxnOffset{o, pos}
	return k.Group
}

// replay applies one __consumer_offsets record of the batch at pos.
func (c *Coordinator) replay(key, value []byte, pos int64) {
	if len(key) < 2 {
		return
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case recConsumerGroup:
		c.replayConsumerGroup(key, value)
	case recPartitionMetadata, recMemberMetadata, recTargetMetadata, recTargetMember, recCurrentAssignment:
		c.replayConsumerRecord(key, value)
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(key) != nil {
			return
		}
		tp := TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if value == nil {
			if g := c.groups[k.Group]; g != nil {
				delete(g.offsets, tp)
				g.offsetPos[tp] = pos
			}
			return
		}
		var v kmsg.OffsetCommitValue
		if v.ReadFrom(value) != nil {
			return
		}
		g := c.groups[k.Group]
		if g == nil {
			g = newGroup(k.Group)
			c.groups[k.Group] = g
		}
		g.offsets[tp] = Offset{Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata, CommitTime: v.CommitTimestamp}
		g.offsetPos[tp] = pos
	case 2:
		var k kmsg.GroupMetadataKey
		if k.ReadFrom(key) != nil {
			return
		}
		if value == nil {
			delete(c.groups, k.Group)
			return
		}
		var v kmsg.GroupMetadataValue
		if v.ReadFrom(value) != nil {
			return
		}
		g := c.groups[k.Group]
		if g == nil {
			g = newGroup(k.Group)
			c.groups[k.Group] = g
		}
		g.generation, g.protocolType = v.Generation, v.ProtocolType
		g.cg = nil // a classic group again (downgraded), see consumer.go
		// Groups come back Empty: one that had members becomes Empty
		// now (as Kafka's members time out after a load), one that was
		// Empty since the time its record says.
		g.emptySince = v.CurrentStateTimestamp
		if len(v.Members) > 0 {
			g.emptyNow(c.cfg.Clock.Now())
		}
	}
}
