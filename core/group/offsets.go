package group

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CommitRequest is an OffsetCommit for one group.
type CommitRequest struct {
	GroupID    string
	Generation int32 // -1 with an empty MemberID: a simple (tool) commit
	MemberID   string
	InstanceID *string
	Offsets    map[TopicPartition]Offset
}

// Commit handles OffsetCommit; it returns one code for every partition
// once the commit is persisted (see CommitAsync).
func (c *Coordinator) Commit(req CommitRequest) map[TopicPartition]int16 {
	ch := make(chan map[TopicPartition]int16, 1)
	c.CommitAsync(req, func(codes map[TopicPartition]int16) { ch <- codes })
	return <-ch
}

// CommitAsync handles OffsetCommit: cb gets one code for every partition,
// possibly later, once the commit is replicated (or failed). The group's
// lock is held only to check the member and append the records, never
// while waiting for replication or fsync, so the group's heartbeats, joins
// and syncs are answered meanwhile.
func (c *Coordinator) CommitAsync(req CommitRequest, cb func(map[TopicPartition]int16)) {
	codes := make(map[TopicPartition]int16, len(req.Offsets))
	fail := func(code int16) {
		for tp := range req.Offsets {
			codes[tp] = code
		}
		cb(codes)
	}
	if req.GroupID == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	if !c.owns(req.GroupID) {
		fail(kerr.NotCoordinator.Code)
		return
	}
	simple := req.Generation < 0 && req.MemberID == ""
	g := c.group(req.GroupID, simple)
	if g == nil {
		if simple {
			fail(kerr.CoordinatorNotAvailable.Code)
			return
		}
		fail(kerr.UnknownMemberID.Code)
		return
	}
	g.lock()
	switch {
	case g.state == Dead:
		g.unlock()
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	case g.cg != nil:
		tps := make([]TopicPartition, 0, len(req.Offsets))
		for tp := range req.Offsets {
			tps = append(tps, tp)
		}
		if code := g.checkConsumerCommit(req.MemberID, req.Generation, tps); code != 0 {
			g.unlock()
			fail(code)
			return
		}
	case simple:
		if len(g.members) > 0 {
			// Tools may only commit for groups nobody consumes with.
			g.unlock()
			fail(kerr.UnknownMemberID.Code)
			return
		}
	default:
		m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
		if code == 0 && g.state == CompletingRebalance {
			code = kerr.RebalanceInProgress.Code
		}
		if code != 0 {
			g.unlock()
			fail(code)
			return
		}
		c.resetSession(g, m)
	}
	valid := c.validOffsets(req.Offsets, codes)
	if len(valid) == 0 {
		g.unlock()
		cb(codes)
		return
	}
	w := c.store.appendOffsets(g.id, valid)
	for tp := range valid {
		g.inflight[tp]++
	}
	g.unlock()
	go func() {
		err := w.wait()
		g.lock()
		for tp := range valid {
			if g.inflight[tp]--; g.inflight[tp] <= 0 {
				delete(g.inflight, tp)
			}
		}
		if err != nil {
			c.logger.Error("persist offsets", "group", g.id, "err", err)
			for tp := range valid {
				codes[tp] = kerr.CoordinatorNotAvailable.Code
			}
		} else {
			for tp, o := range valid {
				if prev, ok := g.offsetPos[tp]; !ok || w.pos() > prev {
					g.offsets[tp], g.offsetPos[tp] = o, w.pos()
				}
				codes[tp] = 0
			}
		}
		g.unlock()
		cb(codes)
	}()
}

// FetchOffsets returns committed offsets; a nil tps means all of them.
// Unknown partitions are reported with offset -1 by the caller.
func (c *Coordinator) FetchOffsets(groupID string, tps []TopicPartition) (map[TopicPartition]Offset, int16) {
	out := map[TopicPartition]Offset{}
	if !c.owns(groupID) {
		return out, kerr.NotCoordinator.Code
	}
	g := c.group(groupID, false)
	if g == nil {
		return out, 0
	}
	g.lock()
	defer g.unlock()
	if tps == nil {
		for tp, o := range g.offsets {
			out[tp] = o
		}
		return out, 0
	}
	for _, tp := range tps {
		if o, ok := g.offsets[tp]; ok {
			out[tp] = o
		}
	}
	return out, 0
}

// DeleteOffsets handles OffsetDelete: offsets of topics the group is
// consuming cannot be deleted (GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) DeleteOffsets(groupID string, tps []TopicPartition) (int16, map[TopicPartition]int16) {
	if !c.owns(groupID) {
		return kerr.NotCoordinator.Code, nil
	}
	g := c.group(groupID, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code, nil
	}
	g.lock()
	defer g.unlock()
	if g.state == Dead {
		return kerr.GroupIDNotFound.Code, nil
	}
	codes := map[TopicPartition]int16{}
	var del []TopicPartition
	for _, tp := range tps {
		if (len(g.members) > 0 && g.protocolType == "consumer" && g.subscribes(tp.Topic)) ||
			(g.cg != nil && len(g.cg.members) > 0 && g.cg.subscribedTopics()[tp.Topic]) {
			codes[tp] = kerr.GroupSubscribedToTopic.Code
			continue
		}
		codes[tp] = 0
		if _, ok := g.offsets[tp]; ok {
			del = append(del, tp)
		}
	}
	if len(del) > 0 {
		w := c.store.appendOffsetDeletes(g.id, del)
		// Not holding the group while the tombstones replicate.
		g.unlock()
		err := w.wait()
		g.lock()
		if err != nil {
			c.logger.Error("delete offsets", "group", g.id, "err", err)
			return kerr.CoordinatorNotAvailable.Code, nil
		}
		g.applyDeletes(del, w.pos())
	}
	return 0, codes
}

// applyDeletes forgets offsets deleted by the tombstones at log position
// pos, unless a later commit replaced them meanwhile. g locked.
func (g *group) applyDeletes(tps []TopicPartition, pos int64) {
	for _, tp := range tps {
		if prev, ok := g.offsetPos[tp]; !ok || pos > prev {
			delete(g.offsets, tp)
			g.offsetPos[tp] = pos
		}
	}
}

// TopicDeleted forgets offsets of a deleted topic in every group.
func (c *Coordinator) TopicDeleted(topic string) {
	for _, g := range c.snapshot() {
		g.lock()
		var del []TopicPartition
		for tp := range g.offsets {
			if tp.Topic == topic {
				del = append(del, tp)
			}
		}
		if len(del) == 0 {
			g.unlock()
			continue
		}
		w := c.store.appendOffsetDeletes(g.id, del)
		g.unlock()
		if err := w.wait(); err == nil {
			g.lock()
			g.applyDeletes(del, w.pos())
			g.unlock()
		}
	}
}

// DeleteGroup handles DeleteGroups for one group.
func (c *Coordinator) DeleteGroup(groupID string) int16 {
	if !c.owns(groupID) {
		return kerr.NotCoordinator.Code
	}
	g := c.group(groupID, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	g.lock()
	defer g.unlock()
	switch {
	case g.state == Dead:
		return kerr.GroupIDNotFound.Code
	case len(g.members) > 0 || g.state != Empty:
		return kerr.NonEmptyGroup.Code
	}
	if err := c.store.deleteGroup(g); err != nil {
		c.logger.Error("delete group", "group", g.id, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	g.state = Dead
	c.mu.Lock()
	delete(c.groups, groupID)
	c.mu.Unlock()
	return 0
}

// MemberDescription describes a member for DescribeGroups.
type MemberDescription struct {
	MemberID, ClientID, ClientHost string
	InstanceID                     *string
	Metadata, Assignment           []byte
}

// Description describes a group for DescribeGroups.
type Description struct {
	ErrorCode    int16
	GroupID      string
	State        string
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
	Found        bool
}

// Describe handles DescribeGroups for one group.
func (c *Coordinator) Describe(groupID string) Description {
	if !c.owns(groupID) {
		return Description{GroupID: groupID, ErrorCode: kerr.NotCoordinator.Code}
	}
	g := c.group(groupID, false)
	if g == nil {
		return Description{GroupID: groupID, State: Dead.String()}
	}
	g.lock()
	defer g.unlock()
	if g.cg != nil {
		return c.describeConsumerClassic(g)
	}
	d := Description{GroupID: g.id, State: g.state.String(), ProtocolType: g.protocolType, Found: true}
	if g.state == Stable || g.state == CompletingRebalance {
		d.Protocol = g.protocol
	}
	for _, id := range g.order {
		m := g.members[id]
		md := MemberDescription{MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost, InstanceID: m.instanceID}
		if g.state == Stable {
			md.Metadata, md.Assignment = m.metadataFor(g.protocol), m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// Listing is one group in ListGroups.
type Listing struct {
	GroupID, ProtocolType, State string
	// Type is "consumer" for KIP-848 groups, else "classic".
	Type string
}

// List handles ListGroups.
func (c *Coordinator) List() []Listing {
	var out []Listing
	for _, g := range c.snapshot() {
		g.lock()
		switch {
		case g.state == Dead:
		case g.cg != nil:
			out = append(out, Listing{GroupID: g.id, ProtocolType: "consumer", State: g.cg.stateName(), Type: "consumer"})
		default:
			out = append(out, Listing{GroupID: g.id, ProtocolType: g.protocolType, State: g.state.String(), Type: "classic"})
		}
		g.unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GroupID < out[j].GroupID })
	return out
}

// GroupOf finds the group a client (by client id and "/ip" host) is a
// member of, for consume filters that act per group; "" when none.
func (c *Coordinator) GroupOf(clientID, clientHost string) string {
	for _, g := range c.snapshot() {
		g.lock()
		for _, m := range g.members {
			if m.clientID == clientID && m.clientHost == clientHost {
				g.unlock()
				return g.id
			}
		}
		if g.cg != nil {
			for _, m := range g.cg.members {
				if m.clientID == clientID && m.clientHost == clientHost {
					g.unlock()
					return g.id
				}
			}
		}
		g.unlock()
	}
	return ""
}

// validOffsets stamps the commit time on the offsets whose metadata fits
// and answers OFFSET_METADATA_TOO_LARGE in codes for the rest (Commit and
// TxnCommit alike).
func (c *Coordinator) validOffsets(offsets map[TopicPartition]Offset, codes map[TopicPartition]int16) map[TopicPartition]Offset {
	valid := make(map[TopicPartition]Offset, len(offsets))
	now := c.cfg.Clock.Now().UnixMilli()
	for tp, o := range offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataBytes {
			codes[tp] = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		o.CommitTime = now
		valid[tp] = o
	}
	return valid
}
