package group

// Persistence of KIP-848 groups in __consumer_offsets, as Kafka's new
// coordinator does it: the group epoch (record type 3), the subscribed
// topics' metadata (4), each member's subscription (5), the target
// assignment's epoch (6) and per-member target (7), and each member's
// current assignment with its epochs and state (8). A restarted
// coordinator (or the broker taking a __consumer_offsets partition over)
// rebuilds the group from them: members answer their next heartbeat with
// the epoch they had and keep their partitions; their session timeouts
// start over from the load.
//
// Writes are diffs: the group keeps the bytes last written for each key
// (cgShadow) and after every change appends, in one batch (so a replay
// sees all of a change or none of it), only the records whose value
// changed, plus tombstones for members that left.

import (
	"bytes"
	"regexp"
	"sort"
	"time"

	"github.com/sluicemq/sluice/core/records"
)

// cgShadow is what the log holds for a consumer group: the values last
// written per key.
type cgShadow struct {
	group, partMeta, targetMeta []byte
	members                     map[string]*memberShadow
}

type memberShadow struct{ meta, target, current []byte }

// cgLoad gathers a group's KIP-848 records during a replay; the group is
// built from them once the whole partition is read (compaction may have
// reordered records of different keys).
type cgLoad struct {
	partMeta, targetMeta  []byte
	meta, target, current map[string][]byte // by member id
}

func newCGLoad() *cgLoad {
	return &cgLoad{meta: map[string][]byte{}, target: map[string][]byte{}, current: map[string][]byte{}}
}

func (cg *cgroup) shadowOf() *cgShadow {
	if cg.shadow == nil {
		cg.shadow = &cgShadow{members: map[string]*memberShadow{}}
	}
	return cg.shadow
}

// topicIDs resolves topic names to ids for the records: the subscribed
// topics' metadata first, then (only when needed) the broker's topics. A
// topic known to neither was deleted and is left out.
type topicIDs struct {
	c     *Coordinator
	meta  map[string]TopicMeta
	other map[string]TopicMeta
}

func (t *topicIDs) id(name string) ([16]byte, bool) {
	if m, ok := t.meta[name]; ok {
		return m.ID, true
	}
	if t.other == nil {
		t.other = t.c.topicMap()
	}
	m, ok := t.other[name]
	return m.ID, ok
}

// toTopicPartitions lists an assignment by topic id, sorted by topic name
// and partition (the bytes compare equal when nothing changed); since
// adds each partition's assignment epoch.
func (t *topicIDs) toTopicPartitions(a assignment, since map[TopicPartition]int32) []cgTopicPartitions {
	var out []cgTopicPartitions
	cur := ""
	for _, tp := range a.list() {
		id, ok := t.id(tp.Topic)
		if !ok {
			continue
		}
		if len(out) == 0 || cur != tp.Topic {
			out = append(out, cgTopicPartitions{TopicID: id})
			if since != nil {
				out[len(out)-1].Epochs = []int32{}
			}
			cur = tp.Topic
		}
		last := &out[len(out)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
		if since != nil {
			last.Epochs = append(last.Epochs, since[tp])
		}
	}
	return out
}

func memberMetaRecord(m *cmember) []byte {
	v := memberMetadataValue{
		InstanceID: m.instanceID, RackID: m.rackID, ClientID: m.clientID, ClientHost: m.clientHost,
		SubscribedTopicNames: append([]string{}, m.topics...),
		RebalanceTimeoutMs:   int32(m.rebalanceTimeout / time.Millisecond),
	}
	if m.regex != "" {
		v.SubscribedTopicRegex = &m.regex
	}
	if m.assignor != "" {
		v.ServerAssignor = &m.assignor
	}
	return v.encode()
}

// currentRecord is m's current assignment. A static member that left
// (epoch -2) is written with MemberEpoch -2 as Kafka does; its epoch goes
// to PreviousMemberEpoch so the rejoining instance continues from it.
func currentRecord(m *cmember, ids *topicIDs) []byte {
	v := currentAssignmentValue{
		MemberEpoch: m.epoch, PreviousMemberEpoch: m.prevEpoch, State: int8(m.state),
		AssignedPartitions:          ids.toTopicPartitions(m.assigned, m.since),
		PartitionsPendingRevocation: ids.toTopicPartitions(m.revoking, m.since),
	}
	if m.left {
		v.MemberEpoch, v.PreviousMemberEpoch = staticLeaveEpoch, m.epoch
	}
	return v.encode()
}

// cgWrite is a consumer group write appended (ok; w.err set if the
// append failed) and not yet committed: g's write number seq of cg, and
// the state before the heartbeat that made it (snap, nil for timers).
type cgWrite struct {
	w    pendingWrite
	ok   bool
	g    *group
	cg   *cgroup
	seq  uint64
	snap *cgSnap
}

// cgPersist appends what changed (cgAppend) and waits for the commit in
// the background (timeouts, topic changes: nobody to answer; a failure
// makes the next write rewrite the group). g locked.
func (c *Coordinator) cgPersist(g *group, touched *cmember) {
	w := c.cgAppend(g, touched)
	if !w.ok {
		return
	}
	if w.w.err != nil {
		c.logger.Error("persist consumer group", "group", g.id, "err", w.w.err)
		g.cg.invalidateShadow()
		return
	}
	go func() {
		if err := w.w.wait(); err != nil {
			c.logger.Error("persist consumer group", "group", g.id, "err", err)
			c.cgWriteFailed(w)
		}
	}()
}

// cgAppend appends the records of what changed in g's consumer group
// since the last write: touched (may be nil) is the member a heartbeat
// just handled; an epoch change rewrites every member's target that
// changed; members in cg.gone get tombstones. g locked.
func (c *Coordinator) cgAppend(g *group, touched *cmember) cgWrite {
	cg := g.cg
	if cg == nil || g.state == Dead {
		return cgWrite{} // a Dead group's partition is another coordinator's now
	}
	s := cg.shadowOf()
	// After a failed write every member is rewritten (the shadow was
	// emptied, so every comparison below differs).
	dirty := cg.dirty
	cg.dirty = false
	ids := &topicIDs{c: c, meta: cg.meta}
	key := func(t int16, member string) []byte { return cgKey{Type: t, Group: g.id, MemberID: member}.encode() }
	var tombs, metas, groupRecs, targets, currents []records.Record

	for _, id := range cg.gone {
		if _, ok := s.members[id]; !ok {
			continue
		}
		delete(s.members, id)
		if cg.members[id] != nil {
			continue // the same id joined again: its records are rewritten below
		}
		tombs = append(tombs,
			records.Record{Key: key(recCurrentAssignment, id)},
			records.Record{Key: key(recTargetMember, id)},
			records.Record{Key: key(recMemberMetadata, id)})
	}
	cg.gone = nil

	ms := func(id string) *memberShadow {
		if s.members[id] == nil {
			s.members[id] = &memberShadow{}
		}
		return s.members[id]
	}
	checkTarget := func(m *cmember) {
		sh := ms(m.id)
		v := targetMemberValue{TopicPartitions: ids.toTopicPartitions(cg.target[m.id], nil)}.encode()
		if !bytes.Equal(v, sh.target) {
			sh.target = v
			targets = append(targets, records.Record{Key: key(recTargetMember, m.id), Value: v})
		}
	}

	gv := consumerGroupMetadataValue{Epoch: cg.epoch}.encode()
	tv := targetMetadataValue{AssignmentEpoch: cg.targetEpoch}.encode()
	epochChanged := !bytes.Equal(gv, s.group) || !bytes.Equal(tv, s.targetMeta)
	if !bytes.Equal(gv, s.group) {
		s.group = gv
		groupRecs = append(groupRecs, records.Record{Key: key(recConsumerGroup, ""), Value: gv})
	}
	if epochChanged || dirty {
		pv := partitionMetadataValue{Epoch: cg.epoch}
		for _, t := range cg.meta {
			pv.Topics = append(pv.Topics, t)
		}
		sort.Slice(pv.Topics, func(i, j int) bool { return pv.Topics[i].Name < pv.Topics[j].Name })
		if b := pv.encode(); !bytes.Equal(b, s.partMeta) {
			s.partMeta = b
			groupRecs = append(groupRecs, records.Record{Key: key(recPartitionMetadata, ""), Value: b})
		}
		for _, m := range cg.sortedMembers() {
			checkTarget(m)
		}
	}
	write := func(touched *cmember) {
		sh := ms(touched.id)
		if v := memberMetaRecord(touched); !bytes.Equal(v, sh.meta) {
			sh.meta = v
			metas = append(metas, records.Record{Key: key(recMemberMetadata, touched.id), Value: v})
		}
		checkTarget(touched)
		if v := currentRecord(touched, ids); !bytes.Equal(v, sh.current) {
			sh.current = v
			currents = append(currents, records.Record{Key: key(recCurrentAssignment, touched.id), Value: v})
		}
	}
	if dirty {
		for _, m := range cg.sortedMembers() {
			write(m)
		}
	} else if touched != nil && cg.members[touched.id] == touched {
		write(touched)
	}
	if !bytes.Equal(tv, s.targetMeta) {
		s.targetMeta = tv
		targets = append(targets, records.Record{Key: key(recTargetMetadata, ""), Value: tv})
	}
	// Kafka's order: members' subscriptions, the group epoch, the target
	// (members, then its epoch), members' current assignments.
	recs := append(append(append(append(tombs, metas...), groupRecs...), targets...), currents...)
	if len(recs) == 0 {
		return cgWrite{}
	}
	cg.seq++
	return cgWrite{w: c.store.appendRecords(g.id, recs), ok: true, g: g, cg: cg, seq: cg.seq}
}

// consumerGroupTombstones deletes a consumer group's group-level records
// (its members' are deleted as they leave).
func consumerGroupTombstones(groupID string) []records.Record {
	var out []records.Record
	for _, t := range []int16{recConsumerGroup, recPartitionMetadata, recTargetMetadata} {
		out = append(out, records.Record{Key: cgKey{Type: t, Group: groupID}.encode()})
	}
	return out
}

// replayConsumerRecord applies a record of type 4–8 during a replay:
// kept raw until the partition is read (cgFinishLoad).
func (c *Coordinator) replayConsumerRecord(key, value []byte) {
	k, err := decodeCGKey(key)
	if err != nil {
		return
	}
	g := c.groups[k.Group]
	if value == nil {
		if g == nil || g.cgl == nil {
			return
		}
		switch k.Type {
		case recPartitionMetadata:
			g.cgl.partMeta = nil
		case recTargetMetadata:
			g.cgl.targetMeta = nil
		case recMemberMetadata:
			delete(g.cgl.meta, k.MemberID)
		case recTargetMember:
			delete(g.cgl.target, k.MemberID)
		case recCurrentAssignment:
			delete(g.cgl.current, k.MemberID)
		}
		return
	}
	if g == nil {
		g = newGroup(k.Group)
		c.groups[k.Group] = g
	}
	if g.cgl == nil {
		g.cgl = newCGLoad()
	}
	v := append([]byte(nil), value...)
	switch k.Type {
	case recPartitionMetadata:
		g.cgl.partMeta = v
	case recTargetMetadata:
		g.cgl.targetMeta = v
	case recMemberMetadata:
		g.cgl.meta[k.MemberID] = v
	case recTargetMember:
		g.cgl.target[k.MemberID] = v
	case recCurrentAssignment:
		g.cgl.current[k.MemberID] = v
	}
}

// cgFinishLoad builds the consumer groups of a replay from their records.
// A group whose latest group-level record is classic (or that has only
// member records left) gets no consumer state.
func (c *Coordinator) cgFinishLoad() {
	var topics map[string]TopicMeta
	for id, g := range c.groups {
		l := g.cgl
		if l == nil {
			continue
		}
		g.cgl = nil
		if g.cg == nil {
			if g.protocolType == "" && len(g.offsets) == 0 && len(g.txnOffsets) == 0 && g.generation == 0 {
				delete(c.groups, id) // nothing but stray member records
			}
			continue
		}
		if topics == nil {
			topics = c.topicMap()
		}
		c.cgBuild(g, l, topics)
	}
}

// cgBuild rebuilds g.cg's members and assignments from l.
func (c *Coordinator) cgBuild(g *group, l *cgLoad, topics map[string]TopicMeta) {
	cg := g.cg
	s := cg.shadowOf()
	s.group = consumerGroupMetadataValue{Epoch: cg.epoch}.encode()
	names := map[[16]byte]string{}
	for n, t := range topics {
		names[t.ID] = n
	}
	// A corrupt record is skipped (what it said is lost, the rest of the
	// group loads), and said, as Kafka does: start-up never fails on it.
	corrupt := func(record, member string, err error) {
		c.logger.Warn("skipping a corrupt consumer group record", "group", g.id, "record", record, "member", member, "err", err)
	}
	if l.partMeta != nil {
		var pv partitionMetadataValue
		if err := pv.decode(l.partMeta); err != nil {
			corrupt("partition metadata", "", err)
		} else {
			for _, t := range pv.Topics {
				cg.meta[t.Name] = t
				if _, ok := names[t.ID]; !ok {
					names[t.ID] = t.Name
				}
			}
			s.partMeta = l.partMeta
		}
	}
	if l.targetMeta != nil {
		var tv targetMetadataValue
		if err := tv.decode(l.targetMeta); err != nil {
			corrupt("target assignment metadata", "", err)
		} else {
			cg.targetEpoch = tv.AssignmentEpoch
			s.targetMeta = l.targetMeta
		}
	}
	resolve := func(tps []cgTopicPartitions, since map[TopicPartition]int32, dflt int32) assignment {
		a := assignment{}
		for _, t := range tps {
			name, ok := names[t.TopicID]
			if !ok {
				continue // deleted meanwhile: nothing to own
			}
			count := cg.meta[name].Partitions
			if tm, ok := topics[name]; ok {
				count = tm.Partitions
			}
			for i, p := range t.Partitions {
				tp := TopicPartition{name, p}
				if p < 0 || p >= count || a.has(tp) {
					continue
				}
				a.add(tp)
				if since != nil {
					e := dflt
					if i < len(t.Epochs) && len(t.Epochs) == len(t.Partitions) {
						e = t.Epochs[i]
					}
					since[tp] = e
				}
			}
		}
		return a
	}
	for id, raw := range l.meta {
		var mv memberMetadataValue
		if err := mv.decode(raw); err != nil {
			corrupt("member metadata", id, err)
			continue
		}
		m := &cmember{
			id: id, instanceID: mv.InstanceID, rackID: mv.RackID, clientID: mv.ClientID, clientHost: mv.ClientHost,
			rebalanceTimeout: time.Duration(mv.RebalanceTimeoutMs) * time.Millisecond,
			topics:           mv.SubscribedTopicNames,
			assigned:         assignment{}, revoking: assignment{}, since: map[TopicPartition]int32{},
		}
		sort.Strings(m.topics)
		if mv.SubscribedTopicRegex != nil && *mv.SubscribedTopicRegex != "" {
			m.regex = *mv.SubscribedTopicRegex
			var err error
			if len(m.regex) > MaxTopicRegexLen {
				err = errRegexTooLong
			} else {
				m.re, err = regexp.Compile("^(?:" + m.regex + ")$")
			}
			if err != nil {
				corrupt("member metadata (subscribed regex)", id, err)
			}
		}
		if mv.ServerAssignor != nil {
			m.assignor = *mv.ServerAssignor
		}
		sh := &memberShadow{meta: raw}
		if rawCur, ok := l.current[id]; ok {
			var cv currentAssignmentValue
			if err := cv.decode(rawCur); err != nil {
				corrupt("current member assignment", id, err)
			} else {
				m.epoch, m.prevEpoch = cv.MemberEpoch, cv.PreviousMemberEpoch
				if cv.MemberEpoch == staticLeaveEpoch {
					m.left, m.epoch = true, cv.PreviousMemberEpoch
				}
				switch memberState(cv.State) {
				case memberUnrevoked, memberUnreleased:
					m.state = memberState(cv.State)
				}
				m.assigned = resolve(cv.AssignedPartitions, m.since, m.epoch)
				m.revoking = resolve(cv.PartitionsPendingRevocation, m.since, m.epoch)
				if m.state == memberUnrevoked && len(m.revoking) == 0 {
					m.state = memberStable // what it revoked was deleted
				}
				sh.current = rawCur
			}
		}
		if rawT, ok := l.target[id]; ok {
			var tv targetMemberValue
			if err := tv.decode(rawT); err != nil {
				corrupt("target member assignment", id, err)
			} else {
				cg.target[id] = resolve(tv.TopicPartitions, nil, 0)
				sh.target = rawT
			}
		}
		cg.members[id] = m
		s.members[id] = sh
		if m.instanceID != nil {
			cg.static[*m.instanceID] = id
		}
		for _, tp := range m.assigned.list() {
			cg.owner[tp] = id
		}
		for _, tp := range m.revoking.list() {
			cg.owner[tp] = id
		}
	}
	// Member records of members without a subscription record (not
	// written by Sluice) are dropped at the next change.
	for id := range l.current {
		if cg.members[id] == nil {
			cg.gone = append(cg.gone, id)
			s.members[id] = &memberShadow{}
		}
	}
	cg.assignor = cg.chooseAssignor()
	g.protocolType = "consumer"
	if len(cg.members) > 0 {
		g.state = Stable
	}
	if c.logger != nil {
		c.logger.Info("consumer group loaded", "group", g.id, "epoch", cg.epoch, "target_epoch", cg.targetEpoch, "members", len(cg.members))
	}
}

// cgArmLoaded starts the session (and pending revocation) timeouts of a
// loaded group's members: they count from the load.
func (c *Coordinator) cgArmLoaded(g *group) {
	g.lock()
	defer g.unlock()
	if g.cg == nil || g.state == Dead {
		return
	}
	for _, m := range g.cg.sortedMembers() {
		c.cgArmSession(g, m)
	}
}
