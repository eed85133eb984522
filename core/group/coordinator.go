package group

import (
	"log/slog"

	"github.com/sluicemq/sluice/core/partition"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config tunes the coordinator; zero values take Kafka's defaults.
type Config struct {
	// MinSessionTimeout, MaxSessionTimeout bound members' session timeouts
	// (group.min/max.session.timeout.ms: 6 s, 30 min).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay holds a new group's first rebalance open
	// (group.initial.rebalance.delay.ms: 3 s). Negative means none.
	InitialRebalanceDelay time.Duration
	// MaxMetadataBytes bounds offset commit metadata (4096).
	MaxMetadataBytes int
	// OnDemand: coordinate only the groups of __consumer_offsets
	// partitions handed over with LoadPartition (cluster mode, where the
	// coordinator of a group is the leader of its partition). Otherwise
	// every partition is loaded at start (single node).
	OnDemand bool
	Logger   *slog.Logger
	// Clock arms session and rebalance timeouts (the wall clock when nil;
	// tests pass a ManualClock).
	Clock Clock
	// OffsetsRetention is how long a group's offsets outlive its last
	// member (offsets.retention.minutes: 7 days); see retention.go.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expired offsets are
	// removed (offsets.retention.check.interval.ms: 10 min). Negative
	// disables the periodic pass (ExpireOffsets still works).
	OffsetsRetentionCheckInterval time.Duration
	// Topics lists the topics consumer (KIP-848) groups may subscribe to
	// (consumer.go); nil means none.
	Topics func() []TopicMeta
	// ConsumerSessionTimeout fences consumer group members that stop
	// heartbeating (group.consumer.session.timeout.ms: 45 s).
	ConsumerSessionTimeout time.Duration
	// ConsumerHeartbeatInterval is what consumer group members are told
	// to heartbeat at (group.consumer.heartbeat.interval.ms: 5 s).
	ConsumerHeartbeatInterval time.Duration
	// MaxSize caps a group's members, classic (group.max.size) and
	// consumer (group.consumer.max.size) alike; 0: unlimited (Kafka's
	// 2147483647). See limits.go.
	MaxSize int
	// PartitionRacks lists the racks of a topic's partitions' replicas
	// (by partition; nil when brokers have no racks) for rack-aware
	// consumer group assignments (assign_rack.go); nil means none.
	PartitionRacks func(topic string) [][]string
	// MigrationPolicy is group.consumer.migration.policy for Empty
	// groups: which conversions between classic and consumer groups are
	// allowed (consumer_migration.go); "" is bidirectional.
	MigrationPolicy string
}

func (c Config) withDefaults() Config {
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.InitialRebalanceDelay == 0 {
		c.InitialRebalanceDelay = 3 * time.Second
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.OffsetsRetentionCheckInterval == 0 {
		c.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	if c.ConsumerSessionTimeout <= 0 {
		c.ConsumerSessionTimeout = 45 * time.Second
	}
	if c.ConsumerHeartbeatInterval <= 0 {
		c.ConsumerHeartbeatInterval = 5 * time.Second
	}
	return c
}

// Coordinator coordinates every group whose __consumer_offsets partition
// this broker leads.
type Coordinator struct {
	cfg    Config
	logger *slog.Logger
	store  *Store

	mu     sync.Mutex
	groups map[string]*group
	owned  map[int32]bool // OnDemand: partitions we coordinate
	closed bool
	// retentionTimer arms the next offsets retention pass.
	retentionTimer Timer
}

// New creates a coordinator persisting through store and loads the state
// the store holds.
func New(cfg Config, store *Store) (*Coordinator, error) {
	cfg = cfg.withDefaults()
	c := &Coordinator{cfg: cfg, logger: cfg.Logger, store: store, groups: map[string]*group{}, owned: map[int32]bool{}}
	if !cfg.OnDemand {
		if err := store.load(c); err != nil {
			return nil, err
		}
		for _, g := range c.snapshot() {
			c.cgArmLoaded(g)
		}
	}
	c.startRetention()
	return c, nil
}

// owns reports whether this coordinator serves groupID.
func (c *Coordinator) owns(groupID string) bool {
	if !c.cfg.OnDemand {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owned[PartitionFor(groupID, c.store.partitions)]
}

// LoadPartition takes over the groups of __consumer_offsets partition i
// (this broker became its leader): their offsets and metadata are read
// back from the log.
func (c *Coordinator) LoadPartition(p *partition.Partition) error {
	i := p.Index
	tmp := &Coordinator{cfg: c.cfg, logger: c.logger, store: c.store, groups: map[string]*group{}}
	if err := c.store.replayPartition(p, tmp); err != nil {
		return err
	}
	c.mu.Lock()
	var loaded []*group
	for id, g := range tmp.groups {
		if _, ok := c.groups[id]; !ok {
			c.groups[id] = g
			loaded = append(loaded, g)
		}
	}
	c.owned[i] = true
	c.mu.Unlock()
	// Consumer group members' session timeouts count from now (the
	// group lock is not taken under c.mu).
	for _, g := range loaded {
		c.cgArmLoaded(g)
	}
	c.logger.Info("coordinating groups of offsets partition", "partition", i, "groups", len(tmp.groups))
	return nil
}

// UnloadPartition gives up the groups of partition i (leadership moved):
// their members get NOT_COORDINATOR and find the new coordinator.
func (c *Coordinator) UnloadPartition(i int32) {
	c.mu.Lock()
	delete(c.owned, i)
	var gone []*group
	for id, g := range c.groups {
		if PartitionFor(id, c.store.partitions) == i {
			gone = append(gone, g)
			delete(c.groups, id)
		}
	}
	c.mu.Unlock()
	for _, g := range gone {
		g.lock()
		g.state = Dead
		g.cgClose()
		if g.rebalanceTimer != nil {
			g.rebalanceTimer.Stop()
		}
		for _, m := range g.members {
			if m.sessionTimer != nil {
				m.sessionTimer.Stop()
			}
			if m.joinCb != nil {
				m.joinCb(JoinResult{ErrorCode: kerr.NotCoordinator.Code, Generation: -1, MemberID: m.id})
				m.joinCb = nil
			}
			if m.syncCb != nil {
				m.syncCb(SyncResult{ErrorCode: kerr.NotCoordinator.Code})
				m.syncCb = nil
			}
		}
		g.unlock()
	}
}

// Close stops timers. Pending join/sync callers get COORDINATOR_NOT_AVAILABLE
// so clients move on (to this broker after a restart).
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	if c.retentionTimer != nil {
		c.retentionTimer.Stop()
	}
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.lock()
		g.cgClose()
		if g.rebalanceTimer != nil {
			g.rebalanceTimer.Stop()
		}
		for _, m := range g.members {
			if m.sessionTimer != nil {
				m.sessionTimer.Stop()
			}
			if m.joinCb != nil {
				m.joinCb(JoinResult{ErrorCode: kerr.CoordinatorNotAvailable.Code})
				m.joinCb = nil
			}
			if m.syncCb != nil {
				m.syncCb(SyncResult{ErrorCode: kerr.CoordinatorNotAvailable.Code})
				m.syncCb = nil
			}
		}
		g.unlock()
	}
}

// group returns the group, creating it when create is set.
func (c *Coordinator) group(id string, create bool) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[id]
	if !ok && create && !c.closed {
		g = newGroup(id)
		c.groups[id] = g
	}
	return g
}

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	GroupID          string
	MemberID         string
	InstanceID       *string
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol
	// RequireKnownMemberID: JoinGroup v4+ (KIP-394): a new member first
	// gets MEMBER_ID_REQUIRED with its id, then joins with it.
	RequireKnownMemberID bool
}

// JoinMember is a member as the leader sees it.
type JoinMember struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// JoinResult is a JoinGroup response.
type JoinResult struct {
	ErrorCode    int16
	Generation   int32
	ProtocolType string
	Protocol     string
	LeaderID     string
	MemberID     string
	Members      []JoinMember
}

// Join handles JoinGroup; cb is called once, possibly later (when the
// rebalance completes).
func (c *Coordinator) Join(req JoinRequest, cb func(JoinResult)) {
	fail := func(code int16) { cb(JoinResult{ErrorCode: code, Generation: -1, MemberID: req.MemberID}) }
	if req.GroupID == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	if !c.owns(req.GroupID) {
		fail(kerr.NotCoordinator.Code)
		return
	}
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	g := c.group(req.GroupID, true)
	if g == nil {
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	g.lock()
	defer g.unlock()
	if g.state == Dead {
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	if c.consumerJoinRefused(g) {
		// A consumer (KIP-848) group with members: classic members
		// can't join it (consumer.go).
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	var m *member
	if req.MemberID != "" {
		m = g.members[req.MemberID]
	}
	if m == nil && !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	if m != nil && (req.ProtocolType != g.protocolType || !g.supportsOthers(m, req.Protocols)) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	if req.InstanceID != nil {
		if cur, ok := g.static[*req.InstanceID]; ok && req.MemberID != "" && cur != req.MemberID {
			fail(kerr.FencedInstanceID.Code)
			return
		}
	}
	if m == nil && c.classicFull(g, req.MemberID, req.InstanceID) {
		fail(kerr.GroupMaxSizeReached.Code)
		return
	}

	switch {
	case m == nil && req.MemberID == "" && req.InstanceID != nil:
		c.joinStatic(g, req, cb)
	case m == nil && req.MemberID == "":
		id := memberID(req.ClientID)
		if req.RequireKnownMemberID {
			g.pending[id] = true
			cb(JoinResult{ErrorCode: kerr.MemberIDRequired.Code, Generation: -1, MemberID: id})
			return
		}
		c.addAndRebalance(g, req, id, cb)
	case m == nil:
		if !g.pending[req.MemberID] {
			fail(kerr.UnknownMemberID.Code)
			return
		}
		delete(g.pending, req.MemberID)
		c.addAndRebalance(g, req, req.MemberID, cb)
	default:
		c.rejoin(g, m, req, cb)
	}
}

// supportsOthers: an existing member changing protocols must still share
// one with everyone else.
func (g *group) supportsOthers(self *member, protos []Protocol) bool {
	for _, p := range protos {
		all := true
		for _, m := range g.members {
			if m != self && !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func memberID(clientID string) string {
	if clientID == "" {
		clientID = "member"
	}
	return clientID + "-" + nuid.Next()
}

func (c *Coordinator) newMember(req JoinRequest, id string) *member {
	return &member{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         req.ClientID,
		clientHost:       req.ClientHost,
		sessionTimeout:   req.SessionTimeout,
		rebalanceTimeout: req.RebalanceTimeout,
		protocols:        req.Protocols,
	}
}

func (c *Coordinator) addAndRebalance(g *group, req JoinRequest, id string, cb func(JoinResult)) {
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	m := c.newMember(req, id)
	m.joinCb = cb
	g.addMember(m)
	c.resetSession(g, m)
	c.prepareRebalance(g, "member "+id+" joined")
}

// joinStatic handles a static member (group.instance.id) joining without
// a member id: a known instance replaces its old member id and, if
// nothing changed, gets the current assignment back without a rebalance.
func (c *Coordinator) joinStatic(g *group, req JoinRequest, cb func(JoinResult)) {
	oldID, known := g.static[*req.InstanceID]
	if !known {
		c.addAndRebalance(g, req, memberID(req.ClientID), cb)
		return
	}
	old := g.members[oldID]
	if old == nil {
		delete(g.static, *req.InstanceID)
		c.addAndRebalance(g, req, memberID(req.ClientID), cb)
		return
	}
	// Fence the old id: its pending calls fail, the new id takes over.
	if old.joinCb != nil {
		old.joinCb(JoinResult{ErrorCode: kerr.FencedInstanceID.Code, Generation: -1, MemberID: old.id})
		old.joinCb = nil
	}
	if old.syncCb != nil {
		old.syncCb(SyncResult{ErrorCode: kerr.FencedInstanceID.Code})
		old.syncCb = nil
	}
	wasLeader := g.leader == old.id
	unchanged := sameProtocols(old.protocols, req.Protocols)
	assignment := old.assignment
	g.dropMember(old)
	m := c.newMember(req, memberID(req.ClientID))
	m.assignment = assignment
	g.addMember(m)
	if wasLeader {
		g.leader = m.id
	}
	c.resetSession(g, m)
	if g.state == Stable && unchanged {
		cb(c.joinResult(g, m, false))
		return
	}
	m.joinCb = cb
	if g.state == PreparingRebalance {
		c.tryCompleteJoin(g)
		return
	}
	c.prepareRebalance(g, "static member "+*req.InstanceID+" rejoined with changes")
}

func (c *Coordinator) rejoin(g *group, m *member, req JoinRequest, cb func(JoinResult)) {
	changed := !sameProtocols(m.protocols, req.Protocols)
	m.protocols = req.Protocols
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	c.resetSession(g, m)
	switch g.state {
	case PreparingRebalance:
		if m.joinCb != nil {
			m.joinCb(JoinResult{ErrorCode: kerr.RebalanceInProgress.Code, Generation: -1, MemberID: m.id})
		}
		m.joinCb = cb
		c.tryCompleteJoin(g)
	case CompletingRebalance, Stable:
		if !changed && (g.state == CompletingRebalance || g.leader != m.id) {
			// The member lost our response or just re-checks; give it
			// the current generation again.
			cb(c.joinResult(g, m, g.leader == m.id))
			return
		}
		m.joinCb = cb
		c.prepareRebalance(g, "member "+m.id+" rejoined")
	default:
		m.joinCb = cb
		c.prepareRebalance(g, "member "+m.id+" rejoined")
	}
}

func (c *Coordinator) joinResult(g *group, m *member, withMembers bool) JoinResult {
	r := JoinResult{
		Generation:   g.generation,
		ProtocolType: g.protocolType,
		Protocol:     g.protocol,
		LeaderID:     g.leader,
		MemberID:     m.id,
	}
	if withMembers {
		for _, id := range g.order {
			mm := g.members[id]
			r.Members = append(r.Members, JoinMember{MemberID: mm.id, InstanceID: mm.instanceID, Metadata: mm.metadataFor(g.protocol)})
		}
	}
	return r
}

// prepareRebalance moves the group to PreparingRebalance and arms the
// rebalance timeout.
func (c *Coordinator) prepareRebalance(g *group, reason string) {
	if g.state == CompletingRebalance {
		// Followers waiting for assignments must rejoin.
		for _, m := range g.members {
			if m.syncCb != nil {
				m.syncCb(SyncResult{ErrorCode: kerr.RebalanceInProgress.Code})
				m.syncCb = nil
			}
		}
	}
	now := c.cfg.Clock.Now()
	if g.state != PreparingRebalance {
		c.logger.Info("group rebalancing", "group", g.id, "generation", g.generation, "reason", reason)
		wasEmpty := g.state == Empty
		g.state = PreparingRebalance
		g.rebalanceDeadline = now.Add(max(g.maxRebalanceTimeout(), time.Second))
		g.initialDelayUntil = time.Time{}
		if wasEmpty && c.cfg.InitialRebalanceDelay > 0 {
			g.initialDelayUntil = now.Add(c.cfg.InitialRebalanceDelay)
		}
	} else if !g.initialDelayUntil.IsZero() {
		// New members keep extending the initial delay, up to the
		// rebalance deadline.
		g.initialDelayUntil = minTime(now.Add(c.cfg.InitialRebalanceDelay), g.rebalanceDeadline)
	}
	c.armRebalanceTimer(g)
	c.tryCompleteJoin(g)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (c *Coordinator) armRebalanceTimer(g *group) {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	g.rebalanceEpoch++
	epoch := g.rebalanceEpoch
	at := g.rebalanceDeadline
	if !g.initialDelayUntil.IsZero() && g.initialDelayUntil.Before(at) {
		at = g.initialDelayUntil
	}
	g.rebalanceTimer = c.cfg.Clock.AfterFunc(at.Sub(c.cfg.Clock.Now()), func() {
		g.lock()
		defer g.unlock()
		if g.rebalanceEpoch != epoch || g.state != PreparingRebalance {
			return
		}
		now := c.cfg.Clock.Now()
		if !g.initialDelayUntil.IsZero() && !now.Before(g.initialDelayUntil) {
			g.initialDelayUntil = time.Time{}
			if now.Before(g.rebalanceDeadline) && !g.allJoined() {
				c.armRebalanceTimer(g)
				return
			}
		}
		c.completeJoin(g)
	})
}

// tryCompleteJoin completes the join phase once every member rejoined
// (and a new group's initial delay has passed).
func (c *Coordinator) tryCompleteJoin(g *group) {
	if g.state != PreparingRebalance || !g.allJoined() {
		return
	}
	if !g.initialDelayUntil.IsZero() && c.cfg.Clock.Now().Before(g.initialDelayUntil) {
		return
	}
	c.completeJoin(g)
}

// completeJoin ends the join phase: members that did not rejoin are
// removed, the generation advances, a protocol and leader are chosen and
// every waiting member gets its JoinGroup response.
func (c *Coordinator) completeJoin(g *group) {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	g.rebalanceEpoch++
	for _, id := range append([]string(nil), g.order...) {
		if m := g.members[id]; m.joinCb == nil {
			c.logger.Info("removing member that did not rejoin in time", "group", g.id, "member", id)
			g.dropMember(m)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = Empty, "", ""
		g.emptyNow(c.cfg.Clock.Now())
		c.background(g.id, "persist empty group", c.store.appendGroup(g, g.emptySince))
		c.logger.Info("group is empty", "group", g.id, "generation", g.generation)
		return
	}
	g.protocol = g.selectProtocol()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.order[0]
	}
	g.state = CompletingRebalance
	for _, m := range g.members {
		m.assignment = nil
	}
	c.logger.Info("group join complete", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", g.protocol, "leader", g.leader)
	for _, id := range g.order {
		m := g.members[id]
		cb := m.joinCb
		m.joinCb = nil
		c.resetSession(g, m)
		cb(c.joinResult(g, m, m.id == g.leader))
	}
}

// resetSession (re)arms a member's session timeout.
func (c *Coordinator) resetSession(g *group, m *member) {
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
	}
	m.sessionEpoch++
	epoch := m.sessionEpoch
	m.sessionTimer = c.cfg.Clock.AfterFunc(m.sessionTimeout, func() {
		g.lock()
		defer g.unlock()
		if cur := g.members[m.id]; cur != m || m.sessionEpoch != epoch {
			return
		}
		c.logger.Info("member session expired", "group", g.id, "member", m.id)
		c.removeMember(g, m, "session timeout of "+m.id)
	})
}

func (c *Coordinator) removeMember(g *group, m *member, reason string) {
	if m.joinCb != nil {
		m.joinCb(JoinResult{ErrorCode: kerr.UnknownMemberID.Code, Generation: -1, MemberID: m.id})
		m.joinCb = nil
	}
	if m.syncCb != nil {
		m.syncCb(SyncResult{ErrorCode: kerr.UnknownMemberID.Code})
		m.syncCb = nil
	}
	g.dropMember(m)
	switch g.state {
	case Stable, CompletingRebalance:
		c.prepareRebalance(g, reason)
	case PreparingRebalance:
		if len(g.members) == 0 {
			c.completeJoin(g)
			return
		}
		c.tryCompleteJoin(g)
	}
}

// SyncRequest is a SyncGroup.
type SyncRequest struct {
	GroupID      string
	Generation   int32
	MemberID     string
	InstanceID   *string
	ProtocolType *string
	Protocol     *string
	Assignments  map[string][]byte // leader only
}

// SyncResult is a SyncGroup response.
type SyncResult struct {
	ErrorCode    int16
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// Sync handles SyncGroup; cb is called once, possibly when the leader
// sends the assignments.
func (c *Coordinator) Sync(req SyncRequest, cb func(SyncResult)) {
	if !c.owns(req.GroupID) {
		cb(SyncResult{ErrorCode: kerr.NotCoordinator.Code})
		return
	}
	g := c.group(req.GroupID, false)
	if g == nil {
		cb(SyncResult{ErrorCode: kerr.UnknownMemberID.Code})
		return
	}
	g.lock()
	defer g.unlock()
	m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		cb(SyncResult{ErrorCode: code})
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		cb(SyncResult{ErrorCode: kerr.InconsistentGroupProtocol.Code})
		return
	}
	c.resetSession(g, m)
	switch g.state {
	case PreparingRebalance:
		cb(SyncResult{ErrorCode: kerr.RebalanceInProgress.Code})
	case Stable:
		cb(SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment})
	case CompletingRebalance:
		m.syncCb = cb
		if m.id != g.leader || g.persistingGen == g.generation {
			return // answered when the leader's assignments are persisted
		}
		for id, a := range req.Assignments {
			if mm, ok := g.members[id]; ok {
				mm.assignment = a
			}
		}
		// The assignments are appended now (in order with the group's
		// other records) and everyone is answered once they are
		// committed, without holding the group meanwhile.
		g.persistingGen = g.generation
		go c.finishSync(g, g.generation, c.store.appendGroup(g, c.cfg.Clock.Now().UnixMilli()))
	default:
		cb(SyncResult{ErrorCode: kerr.UnknownMemberID.Code})
	}
}

// finishSync completes generation gen's SyncGroup once the leader's
// assignments are committed (or failed to be).
func (c *Coordinator) finishSync(g *group, gen int32, w pendingWrite) {
	err := w.wait()
	g.lock()
	defer g.unlock()
	if g.state != CompletingRebalance || g.generation != gen {
		return // a rebalance began meanwhile and answered the members
	}
	g.persistingGen = -1
	if err != nil {
		c.logger.Error("persist group", "group", g.id, "err", err)
		for _, mm := range g.members {
			if mm.syncCb != nil {
				mm.syncCb(SyncResult{ErrorCode: kerr.CoordinatorNotAvailable.Code})
				mm.syncCb = nil
			}
		}
		c.prepareRebalance(g, "persisting assignments failed")
		return
	}
	g.state = Stable
	for _, mm := range g.members {
		if mm.syncCb != nil {
			mm.syncCb(SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: mm.assignment})
			mm.syncCb = nil
		}
	}
}

// background waits for a write nobody is answered about, logging a
// failure.
func (c *Coordinator) background(groupID, what string, w pendingWrite) {
	go func() {
		if err := w.wait(); err != nil {
			c.logger.Error(what, "group", groupID, "err", err)
		}
	}()
}

// checkMember validates a member id (and static instance id) and
// generation for Sync, Heartbeat and OffsetCommit.
func (g *group) checkMember(memberID string, instanceID *string, generation int32) (*member, int16) {
	if g.state == Dead {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	if instanceID != nil {
		if cur, ok := g.static[*instanceID]; ok && cur != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return nil, kerr.IllegalGeneration.Code
	}
	return m, 0
}

// Heartbeat handles Heartbeat.
func (c *Coordinator) Heartbeat(groupID, memberID string, instanceID *string, generation int32) int16 {
	if !c.owns(groupID) {
		return kerr.NotCoordinator.Code
	}
	g := c.group(groupID, false)
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	g.lock()
	defer g.unlock()
	m, code := g.checkMember(memberID, instanceID, generation)
	if code != 0 {
		return code
	}
	c.resetSession(g, m)
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// LeaveMember identifies a leaving member (by id, or by instance id).
type LeaveMember struct {
	MemberID   string
	InstanceID *string
}

// Leave handles LeaveGroup; it returns one code per member.
func (c *Coordinator) Leave(groupID string, members []LeaveMember) (int16, []int16) {
	codes := make([]int16, len(members))
	if !c.owns(groupID) {
		return kerr.NotCoordinator.Code, codes
	}
	g := c.group(groupID, false)
	if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		return 0, codes
	}
	g.lock()
	defer g.unlock()
	for i, lm := range members {
		id := lm.MemberID
		if lm.InstanceID != nil {
			cur, ok := g.static[*lm.InstanceID]
			switch {
			case !ok:
				codes[i] = kerr.UnknownMemberID.Code
				continue
			case id != "" && cur != id:
				codes[i] = kerr.FencedInstanceID.Code
				continue
			}
			id = cur
		}
		m := g.members[id]
		if m == nil {
			if g.pending[id] {
				delete(g.pending, id)
				continue
			}
			codes[i] = kerr.UnknownMemberID.Code
			continue
		}
		c.logger.Info("member left group", "group", g.id, "member", id)
		c.removeMember(g, m, "member "+id+" left")
	}
	return 0, codes
}

// TopicChanged rebalances consumer groups subscribed to topic (its
// partition count changed) so the new partitions get assigned.
func (c *Coordinator) TopicChanged(topic string) {
	c.cgTopicsChanged()
	for _, g := range c.snapshot() {
		g.lock()
		if g.protocolType == "consumer" && g.subscribes(topic) {
			switch g.state {
			case Stable, CompletingRebalance:
				c.prepareRebalance(g, "partitions of "+topic+" changed")
			case PreparingRebalance:
				// Members are rejoining anyway (a client may have seen
				// the new partitions first); the new generation's
				// assignment covers them.
				c.logger.Info("partitions of "+topic+" changed; rebalance already in progress", "group", g.id)
			}
		}
		g.unlock()
	}
}

func (g *group) subscribes(topic string) bool {
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.metadataFor(g.protocol)) != nil {
			continue
		}
		for _, t := range meta.Topics {
			if t == topic {
				return true
			}
		}
	}
	return false
}

func (c *Coordinator) snapshot() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}
