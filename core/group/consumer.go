package group

// KIP-848 "consumer" groups: the coordinator, not a client leader, computes
// each member's target assignment with a server-side assignor, and members
// converge on it through ConsumerGroupHeartbeat alone.
//
// Epochs: the group epoch is bumped whenever membership, a subscription or
// the subscribed topics' metadata changes; the target assignment is then
// recomputed at once (its epoch is the group epoch). A member's epoch moves
// to the target epoch when it reaches its part of the target. A partition
// moves between members in two steps: the old owner is first told to
// revoke it (its epoch stays put) and only once its heartbeat no longer
// reports the partition as owned is the partition released; the new owner
// gets it on its next heartbeat. Until then the new owner is
// "unreleased": it already has the new epoch but not yet that partition.
// So no partition ever has two consumers.
//
// Persistence: the group, its members, the target and every member's
// current assignment are written to __consumer_offsets as Kafka's KIP-848
// records (key versions 3-8) and rebuilt on load, so members keep their
// epochs and partitions across a restart or coordinator move
// (consumer_persist.go, consumer_records.go, docs/operations.md).

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicMeta is one topic as the consumer group coordinator sees it: the
// broker hands the coordinator a function listing them (Config.Topics).
type TopicMeta struct {
	Name       string
	ID         [16]byte
	Partitions int32
	// Racks are the racks of each partition's replicas' brokers (by
	// partition; nil when no broker has a rack): members with a RackID
	// are preferably assigned partitions in their rack (assign_rack.go).
	// Filled for subscribed topics only (Config.PartitionRacks).
	Racks [][]string
}

// sameTopicMeta compares topic metadata, racks included (a partition
// past the end of Racks has none).
func sameTopicMeta(a, b TopicMeta) bool {
	if a.Name != b.Name || a.ID != b.ID || a.Partitions != b.Partitions {
		return false
	}
	for i := 0; i < max(len(a.Racks), len(b.Racks)); i++ {
		if !equalStrings(a.racksOf(i), b.racksOf(i)) {
			return false
		}
	}
	return true
}

func (t TopicMeta) racksOf(p int) []string {
	if p < len(t.Racks) {
		return t.Racks[p]
	}
	return nil
}

// Server-side assignors (ConsumerGroupHeartbeat ServerAssignor).
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

// Member epochs with a meaning of their own.
const (
	leaveEpoch       = -1 // the member leaves
	staticLeaveEpoch = -2 // a static member leaves and will come back
)

// memberState is where a member is in reaching its target.
type memberState int8

const (
	memberStable     memberState = iota // has its target (at the target epoch)
	memberUnrevoked                     // must first give up partitions (revoking)
	memberUnreleased                    // waits for partitions others still own
)

func (s memberState) String() string {
	switch s {
	case memberUnrevoked:
		return "UnrevokedPartitions"
	case memberUnreleased:
		return "UnreleasedPartitions"
	}
	return "Stable"
}

// assignment is a set of partitions by topic name.
type assignment map[string][]int32

func (a assignment) has(tp TopicPartition) bool {
	for _, p := range a[tp.Topic] {
		if p == tp.Partition {
			return true
		}
	}
	return false
}

func (a assignment) add(tp TopicPartition) {
	a[tp.Topic] = append(a[tp.Topic], tp.Partition)
}

func (a assignment) list() []TopicPartition {
	var out []TopicPartition
	for t, ps := range a {
		for _, p := range ps {
			out = append(out, TopicPartition{t, p})
		}
	}
	sortTPs(out)
	return out
}

func (a assignment) size() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a assignment) normalize() assignment {
	out := assignment{}
	for t, ps := range a {
		if len(ps) == 0 {
			continue
		}
		c := append([]int32(nil), ps...)
		sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
		out[t] = c
	}
	return out
}

func (a assignment) equal(b assignment) bool {
	a, b = a.normalize(), b.normalize()
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		qs := b[t]
		if len(ps) != len(qs) {
			return false
		}
		for i := range ps {
			if ps[i] != qs[i] {
				return false
			}
		}
	}
	return true
}

func sortTPs(s []TopicPartition) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Topic != s[j].Topic {
			return s[i].Topic < s[j].Topic
		}
		return s[i].Partition < s[j].Partition
	})
}

// cmember is a consumer group member.
type cmember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	topics           []string // SubscribedTopicNames
	regex            string   // SubscribedTopicRegex ("" none)
	re               *regexp.Regexp
	// mayDescribe says whether the member's principal may Describe a
	// topic: a regex subscription only gets topics it may see, as in
	// Kafka (nil: every topic, e.g. a member loaded at start that has
	// not heartbeated since).
	mayDescribe func(topic string) bool
	assignor    string // ServerAssignor asked for ("" none)

	epoch, prevEpoch int32
	state            memberState
	assigned         assignment // partitions the member may consume
	revoking         assignment // partitions it must give up first
	// since is the member epoch at which each partition (assigned or
	// revoking) was given: a commit with an older epoch is still valid
	// for it if the epoch is at least this (KIP-1251).
	since map[TopicPartition]int32
	// left marks a static member that left with epoch -2: it keeps its
	// assignment for its instance id until the session timeout.
	left bool

	sessionTimer Timer
	revokeTimer  Timer
	// timerEpoch and revokeEpoch invalidate fired timers that lost the
	// race with a reset or removal.
	timerEpoch, revokeEpoch uint64
}

// subscribes reports whether the member wants topic t.
func (m *cmember) subscribes(t string) bool {
	for _, x := range m.topics {
		if x == t {
			return true
		}
	}
	// As Kafka's, regexes match internal topics too (a regex that names
	// one means it), but only those the principal may Describe.
	return m.re != nil && m.re.MatchString(t) && (m.mayDescribe == nil || m.mayDescribe(t))
}

// cgroup is the KIP-848 part of a group (group.cg): a group with one is a
// "consumer" group, otherwise a classic one.
type cgroup struct {
	epoch       int32 // group epoch
	targetEpoch int32 // epoch of target
	members     map[string]*cmember
	static      map[string]string // instance id -> member id
	target      map[string]assignment
	// meta is the subscribed topics' metadata the target was computed
	// from: a difference (topic created/deleted, partitions added, regex
	// matching a new topic) bumps the group epoch.
	meta     map[string]TopicMeta
	assignor string // assignor of the current target
	// owner is the member holding each partition (assigned or still
	// revoking): a partition is handed to a new member only once it has
	// none.
	owner map[TopicPartition]string
	// shadow is what __consumer_offsets holds for the group and gone
	// the members whose records need tombstones (consumer_persist.go).
	shadow *cgShadow
	gone   []string
	// dirty: the shadow is not known to match the log (a write failed),
	// so the next write rewrites every record. seq counts writes
	// (consumer_rollback.go).
	dirty bool
	seq   uint64
}

func newCGroup() *cgroup {
	return &cgroup{
		members: map[string]*cmember{},
		static:  map[string]string{},
		target:  map[string]assignment{},
		meta:    map[string]TopicMeta{},
		owner:   map[TopicPartition]string{},
	}
}

// stateName is the group's state as Kafka names consumer group states.
func (cg *cgroup) stateName() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	if cg.targetEpoch < cg.epoch {
		return "Assigning"
	}
	for _, m := range cg.members {
		if !m.left && (m.epoch != cg.targetEpoch || m.state != memberStable) {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (cg *cgroup) sortedMembers() []*cmember {
	out := make([]*cmember, 0, len(cg.members))
	for _, m := range cg.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// subscribedTopics is the union of the members' subscriptions that exist.
func (cg *cgroup) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	for t := range cg.meta {
		out[t] = true
	}
	for _, m := range cg.members {
		for _, t := range m.topics {
			out[t] = true
		}
	}
	return out
}

// subscribedMeta is the metadata of every existing topic some member
// subscribes to, with its partitions' racks from racks (may be nil).
func (cg *cgroup) subscribedMeta(topics map[string]TopicMeta, racks func(topic string) [][]string) map[string]TopicMeta {
	out := map[string]TopicMeta{}
	for name, t := range topics {
		if t.Partitions <= 0 {
			continue
		}
		for _, m := range cg.members {
			if m.subscribes(name) {
				if racks != nil {
					t.Racks = racks(name)
				}
				out[name] = t
				break
			}
		}
	}
	return out
}

func sameMeta(a, b map[string]TopicMeta) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !sameTopicMeta(v, w) {
			return false
		}
	}
	return true
}

// chooseAssignor: the assignor most members ask for (ties by name), else
// uniform, as Kafka's default.
func (cg *cgroup) chooseAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := ""
	for a, n := range votes {
		if best == "" || n > votes[best] || (n == votes[best] && a < best) {
			best = a
		}
	}
	if best == "" {
		best = AssignorUniform
	}
	return best
}

// computeTarget recomputes the target assignment at the group epoch.
func (cg *cgroup) computeTarget() {
	var subs []memberSub
	for _, m := range cg.sortedMembers() {
		s := memberSub{id: m.id, topics: map[string]bool{}}
		for t := range cg.meta {
			if m.subscribes(t) {
				s.topics[t] = true
			}
		}
		subs = append(subs, s)
	}
	parts := map[string]int32{}
	for t, tm := range cg.meta {
		parts[t] = tm.Partitions
	}
	cg.assignor = cg.chooseAssignor()
	ri := cg.rackInfo()
	if cg.assignor == AssignorRange {
		cg.target = assignRangeWithRacks(subs, parts, ri)
	} else {
		cg.target = assignUniformRacks(subs, parts, cg.target, ri)
	}
	cg.targetEpoch = cg.epoch
}

// memberSub is a member's subscription as the assignors see it.
type memberSub struct {
	id     string
	topics map[string]bool
}

// ConsumerTopic is a topic's partitions by topic id (owned partitions in a
// heartbeat, an assignment in its response).
type ConsumerTopic struct {
	TopicID    [16]byte
	Topic      string // set in descriptions and responses
	Partitions []int32
}

// ConsumerHeartbeatRequest is a ConsumerGroupHeartbeat. Nil fields are
// "unchanged since the last heartbeat".
type ConsumerHeartbeatRequest struct {
	GroupID          string
	MemberID         string
	MemberEpoch      int32
	InstanceID       *string
	RackID           *string
	RebalanceTimeout time.Duration // negative: unchanged
	TopicNames       []string
	TopicRegex       *string
	ServerAssignor   *string
	Owned            []ConsumerTopic
	ClientID         string
	ClientHost       string
	// MayDescribe filters what TopicRegex matches by the sender's right
	// to Describe each topic (nil: no filter). Named topics are checked
	// by the caller before the request gets here.
	MayDescribe func(topic string) bool
}

// MaxTopicRegexLen bounds a subscription regex: RE2 matches in linear
// time, but compiling a huge pattern still costs memory. The protocol
// edge refuses longer ones before they get here; a stored one that is
// longer is not compiled at load.
const MaxTopicRegexLen = 4096

var errRegexTooLong = fmt.Errorf("the subscribed topic regex is longer than %d bytes", MaxTopicRegexLen)

// MaxSubscribedTopicNames and maxSubscribedNameBytes bound a member's
// subscription list, which the coordinator keeps per member and writes in
// the member's record on __consumer_offsets: without a bound one heartbeat
// of the largest request could hold a hundred megabytes of names, and a
// record larger than the topic's max.message.bytes (1 MiB) fails to append.
// Kafka has no explicit bound; a consumer of more topics than this
// subscribes by regex. Repeated names count once in the number of topics
// (and are stored once), every time in the bytes.
const (
	MaxSubscribedTopicNames = 10_000
	maxSubscribedNameBytes  = 512 << 10
	maxTopicNameLen         = 249 // longer names cannot exist
)

// CheckSubscription returns why a subscription list is refused, or "".
// The protocol edge calls it before authorizing each name (a check per
// name off the wire); ConsumerHeartbeat checks again for other callers.
func CheckSubscription(names []string) string {
	// Bytes first, over the list as sent (linear): that bounds how many
	// names the sort below may have to order.
	total := 0
	for _, n := range names {
		if n == "" || len(n) > maxTopicNameLen {
			return fmt.Sprintf("SubscribedTopicNames holds a name of %d bytes; topic names are 1 to %d", len(n), maxTopicNameLen)
		}
		total += len(n)
	}
	if total > maxSubscribedNameBytes {
		return fmt.Sprintf("SubscribedTopicNames totals %d bytes of names; at most %d are accepted (subscribe by regex instead)", total, maxSubscribedNameBytes)
	}
	if len(names) > MaxSubscribedTopicNames {
		if distinct := len(uniqueSorted(names)); distinct > MaxSubscribedTopicNames {
			return fmt.Sprintf("SubscribedTopicNames lists %d topics; at most %d are accepted (subscribe by regex instead)", distinct, MaxSubscribedTopicNames)
		}
	}
	return ""
}

// uniqueSorted returns names sorted, each once (a copy).
func uniqueSorted(names []string) []string {
	out := append([]string(nil), names...)
	sort.Strings(out)
	return slices.Compact(out)
}

// ConsumerHeartbeatResult is a ConsumerGroupHeartbeat response.
type ConsumerHeartbeatResult struct {
	ErrorCode         int16
	ErrorMessage      string
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	// Assignment is the member's full assignment; nil when unchanged.
	Assignment []ConsumerTopic
}

func validAssignor(a string) bool { return a == AssignorUniform || a == AssignorRange }

// topicMap lists the topics (empty without a source).
func (c *Coordinator) topicMap() map[string]TopicMeta {
	out := map[string]TopicMeta{}
	if c.cfg.Topics == nil {
		return out
	}
	for _, t := range c.cfg.Topics() {
		out[t.Name] = t
	}
	return out
}

// ConsumerHeartbeat handles ConsumerGroupHeartbeat. As Kafka's, it is
// answered once what it changed is committed to __consumer_offsets
// (replicated in cluster mode), so a coordinator taking over knows every
// epoch a member was told. A heartbeat whose records can't be written
// changes nothing and is answered NOT_COORDINATOR or
// COORDINATOR_NOT_AVAILABLE (consumer_rollback.go).
func (c *Coordinator) ConsumerHeartbeat(req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	var w cgWrite
	res := c.consumerHeartbeat(req, &w)
	if w.ok {
		if err := w.w.wait(); err != nil {
			c.logger.Error("persist consumer group", "group", req.GroupID, "member", req.MemberID, "err", err)
			c.cgWriteFailed(w)
			code := persistErrorCode(err)
			return ConsumerHeartbeatResult{ErrorCode: code, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
		}
	}
	return res
}

func (c *Coordinator) consumerHeartbeat(req ConsumerHeartbeatRequest, out *cgWrite) (res ConsumerHeartbeatResult) {
	res = ConsumerHeartbeatResult{MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	fail := func(code int16, msg string) ConsumerHeartbeatResult {
		return ConsumerHeartbeatResult{ErrorCode: code, ErrorMessage: msg, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	}
	switch {
	case req.GroupID == "":
		return fail(kerr.InvalidRequest.Code, "GroupId can't be empty")
	case req.MemberID == "":
		return fail(kerr.InvalidRequest.Code, "MemberId can't be empty")
	case req.MemberEpoch < staticLeaveEpoch:
		return fail(kerr.InvalidRequest.Code, "MemberEpoch is invalid")
	case req.MemberEpoch == staticLeaveEpoch && req.InstanceID == nil:
		return fail(kerr.InvalidRequest.Code, "InstanceId can't be null when leaving as a static member")
	case req.ServerAssignor != nil && *req.ServerAssignor != "" && !validAssignor(*req.ServerAssignor):
		return fail(kerr.UnsupportedAssignor.Code, "ServerAssignor "+*req.ServerAssignor+" is not supported; supported assignors: uniform, range")
	}
	if req.MemberEpoch == 0 {
		switch {
		case req.RebalanceTimeout < 0:
			return fail(kerr.InvalidRequest.Code, "RebalanceTimeoutMs must be provided in the first request")
		case len(req.Owned) > 0:
			return fail(kerr.InvalidRequest.Code, "TopicPartitions must be empty when (re-)joining")
		case req.TopicNames == nil && req.TopicRegex == nil:
			return fail(kerr.InvalidRequest.Code, "SubscribedTopicNames or SubscribedTopicRegex must be set in the first request")
		}
	}
	if req.TopicNames != nil {
		if why := CheckSubscription(req.TopicNames); why != "" {
			return fail(kerr.InvalidRequest.Code, why)
		}
	}
	var re *regexp.Regexp
	if req.TopicRegex != nil && *req.TopicRegex != "" {
		var err error
		// Kafka matches the whole topic name (RE2/J matches()). RE2 is
		// linear in time, but a huge pattern still costs memory to compile.
		if len(*req.TopicRegex) > MaxTopicRegexLen {
			return fail(kerr.InvalidRegularExpression.Code, errRegexTooLong.Error())
		}
		if re, err = regexp.Compile("^(?:" + *req.TopicRegex + ")$"); err != nil {
			return fail(kerr.InvalidRegularExpression.Code, err.Error())
		}
	}
	if !c.owns(req.GroupID) {
		return fail(kerr.NotCoordinator.Code, "")
	}
	topics := c.topicMap()
	g := c.group(req.GroupID, req.MemberEpoch == 0)
	if g == nil {
		if req.MemberEpoch == 0 {
			return fail(kerr.CoordinatorNotAvailable.Code, "")
		}
		return fail(kerr.UnknownMemberID.Code, "")
	}
	g.lock()
	defer g.unlock()
	var m *cmember
	// The group as it was: what the heartbeat changes is undone if its
	// records can't be appended (or committed, ConsumerHeartbeat). A
	// keepalive changes nothing and takes none (cgKeepalive).
	var snap *cgSnap
	if g.cg == nil || req.MemberEpoch <= 0 {
		snap = c.cgSnapshot(g)
	}
	// Whatever the heartbeat changed is appended to the log before the
	// group is unlocked (deferred calls run last in, first out).
	defer func() {
		w := c.cgAppend(g, m)
		if w.ok && w.w.err != nil {
			c.logger.Error("persist consumer group", "group", g.id, "member", req.MemberID, "err", w.w.err)
			if snap != nil {
				c.cgRevert(g, snap, false)
			} else if g.cg != nil {
				g.cg.invalidateShadow() // a rewrite after an earlier failure
			}
			res = fail(persistErrorCode(w.w.err), "")
			return
		}
		w.snap = snap
		*out = w
	}()
	if g.state == Dead {
		return fail(kerr.CoordinatorNotAvailable.Code, "")
	}
	if g.cg == nil {
		if len(g.members) > 0 || g.state != Empty {
			return fail(kerr.GroupIDNotFound.Code, "Group "+g.id+" is not a consumer group")
		}
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		if (g.protocolType != "" || g.generation > 0) && !c.upgradeAllowed() {
			// A classic group that had members stays classic.
			return fail(kerr.GroupIDNotFound.Code, "Group "+g.id+" is a classic group and the migration policy is "+c.migrationPolicy())
		}
		// An empty classic group (or one only holding offsets)
		// becomes a consumer group: its offsets stay.
		c.logger.Info("group becomes a consumer (KIP-848) group", "group", g.id, "classic_generation", g.generation)
		g.cg = newCGroup()
		g.protocolType, g.protocol, g.leader = "consumer", "", ""
	}
	cg := g.cg

	m = cg.members[req.MemberID]
	if m != nil && req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
		return fail(kerr.FencedInstanceID.Code, "")
	}
	switch {
	case req.MemberEpoch == leaveEpoch || req.MemberEpoch == staticLeaveEpoch:
		if m == nil {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		if req.MemberEpoch == staticLeaveEpoch && m.instanceID != nil {
			// The instance keeps its assignment until it rejoins or
			// its session times out.
			c.logger.Info("static member left consumer group", "group", g.id, "member", m.id, "instance", *m.instanceID)
			m.left = true
			c.cgArmSession(g, m)
			return res
		}
		c.logger.Info("member left consumer group", "group", g.id, "member", m.id)
		c.cgRemove(g, m, topics, "member "+m.id+" left")
		res.MemberEpoch = leaveEpoch
		return res
	case req.MemberEpoch == 0:
		replaced := false
		if req.InstanceID != nil {
			if oldID, ok := cg.static[*req.InstanceID]; ok && oldID != req.MemberID {
				old := cg.members[oldID]
				if old != nil && !old.left {
					return fail(kerr.UnreleasedInstanceID.Code, "instance "+*req.InstanceID+" is still in use by member "+oldID)
				}
				if old != nil {
					m, replaced = c.cgReplaceStatic(g, old, req.MemberID), true
				}
			}
		}
		if m != nil && !replaced && !m.left && m.epoch != 0 {
			// The member lost its state and starts over (epoch 0,
			// owning nothing): its partitions are free now.
			c.logger.Info("consumer group member rejoins with epoch 0", "group", g.id, "member", m.id)
			c.cgRemove(g, m, topics, "member "+m.id+" rejoined")
			m = nil
		}
		if m == nil {
			if max := c.maxSize(); len(cg.members) >= max {
				return fail(kerr.GroupMaxSizeReached.Code, consumerFullMessage(max))
			}
			m = &cmember{id: req.MemberID, instanceID: req.InstanceID, assigned: assignment{}, revoking: assignment{}, since: map[TopicPartition]int32{}}
			cg.members[m.id] = m
			if m.instanceID != nil {
				cg.static[*m.instanceID] = m.id
			}
			c.logger.Info("member joined consumer group", "group", g.id, "member", m.id)
			g.state = Stable
		}
		m.left = false
	default:
		if m == nil || m.left {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		if code := m.checkEpoch(req.MemberEpoch, req.Owned, topics); code != 0 {
			return fail(code, "")
		}
		if !c.cgKeepalive(g, m, req, topics) {
			snap = c.cgSnapshot(g)
		}
	}

	// Apply what changed.
	changed := false
	if req.MemberEpoch == 0 && m.epoch == 0 {
		changed = true // a new member
	}
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	if req.InstanceID != nil {
		m.instanceID = req.InstanceID
	}
	if req.RackID != nil {
		m.rackID = req.RackID
	}
	if req.RebalanceTimeout >= 0 {
		m.rebalanceTimeout = req.RebalanceTimeout
	}
	if req.TopicNames != nil {
		names := uniqueSorted(req.TopicNames)
		if !equalStrings(names, m.topics) {
			m.topics, changed = names, true
		}
	}
	if req.TopicRegex != nil && *req.TopicRegex != m.regex {
		m.regex, m.re, changed = *req.TopicRegex, re, true
	}
	if req.MayDescribe != nil {
		m.mayDescribe = req.MayDescribe
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	c.cgArmSession(g, m)
	c.cgRefresh(g, topics, changed, "member "+m.id+" changed")

	var owned assignment
	if req.Owned != nil {
		owned = resolveOwned(req.Owned, topics)
	}
	before := m.assigned.normalize()
	beforeEpoch := m.epoch
	c.cgReconcile(g, m, owned)

	res.MemberEpoch = m.epoch
	res.HeartbeatInterval = c.cfg.ConsumerHeartbeatInterval
	full := req.RebalanceTimeout >= 0 && (req.TopicNames != nil || req.TopicRegex != nil) && req.Owned != nil
	if req.MemberEpoch == 0 || full || beforeEpoch != m.epoch || !before.equal(m.assigned) {
		res.Assignment = toConsumerTopics(m.assigned, topics)
	}
	return res
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkEpoch validates a heartbeat's member epoch as Kafka does: a newer
// epoch than ours is fenced; an older one only passes when it is the
// previous epoch and the member owns nothing it may not (it missed our
// last response).
func (m *cmember) checkEpoch(epoch int32, owned []ConsumerTopic, topics map[string]TopicMeta) int16 {
	if epoch == m.epoch {
		return 0
	}
	if epoch > m.epoch || epoch != m.prevEpoch || owned == nil {
		return kerr.FencedMemberEpoch.Code
	}
	for _, tp := range resolveOwned(owned, topics).list() {
		if !m.assigned.has(tp) {
			return kerr.FencedMemberEpoch.Code
		}
	}
	return 0
}

func resolveOwned(owned []ConsumerTopic, topics map[string]TopicMeta) assignment {
	byID := make(map[[16]byte]string, len(topics))
	for n, t := range topics {
		byID[t.ID] = n
	}
	out := assignment{}
	for _, t := range owned {
		name, ok := byID[t.TopicID]
		if !ok {
			continue // a deleted topic: nothing to wait for
		}
		for _, p := range t.Partitions {
			tp := TopicPartition{name, p}
			if !out.has(tp) {
				out.add(tp)
			}
		}
	}
	return out
}

func toConsumerTopics(a assignment, topics map[string]TopicMeta) []ConsumerTopic {
	out := []ConsumerTopic{}
	names := make([]string, 0, len(a))
	for t := range a {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		tm, ok := topics[t]
		if !ok || len(a[t]) == 0 {
			continue
		}
		ps := append([]int32(nil), a[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		out = append(out, ConsumerTopic{TopicID: tm.ID, Topic: t, Partitions: ps})
	}
	return out
}

// cgRefresh bumps the group epoch and recomputes the target when
// membership or subscriptions changed (force) or the subscribed topics'
// metadata did. g locked.
func (c *Coordinator) cgRefresh(g *group, topics map[string]TopicMeta, force bool, reason string) {
	cg := g.cg
	meta := cg.subscribedMeta(topics, c.cfg.PartitionRacks)
	if !sameMeta(meta, cg.meta) {
		force = true
		reason = "subscribed topics' metadata changed"
	}
	if !force {
		return
	}
	cg.meta = meta
	cg.epoch++
	cg.computeTarget()
	c.logger.Info("consumer group epoch bumped", "group", g.id, "epoch", cg.epoch, "reason", reason, "members", len(cg.members), "assignor", cg.assignor)
}

// cgReconcile moves member m toward its target given the partitions it
// reports owning (nil: unknown, as last time). g locked.
func (c *Coordinator) cgReconcile(g *group, m *cmember, owned assignment) {
	cg := g.cg
	if m.state == memberUnrevoked {
		if owned == nil {
			return
		}
		for _, tp := range m.revoking.list() {
			if owned.has(tp) {
				return // still revoking
			}
		}
		for _, tp := range m.revoking.list() {
			c.release(cg, m, tp)
		}
		m.revoking = assignment{}
		m.state = memberStable
		m.stopRevoke()
	}
	if m.epoch == cg.targetEpoch && m.state == memberStable {
		return
	}
	target := cg.target[m.id]
	keep, revoke := assignment{}, assignment{}
	for _, tp := range m.assigned.list() {
		if target.has(tp) {
			keep.add(tp)
		} else {
			revoke.add(tp)
		}
	}
	if len(revoke) > 0 {
		m.assigned, m.revoking, m.state = keep, revoke, memberUnrevoked
		c.cgArmRevoke(g, m)
		return
	}
	newEpoch := cg.targetEpoch
	unreleased := false
	for _, tp := range target.list() {
		if m.assigned.has(tp) {
			continue
		}
		if o, ok := cg.owner[tp]; ok && o != m.id {
			unreleased = true
			continue
		}
		m.assigned.add(tp)
		cg.owner[tp] = m.id
		m.since[tp] = newEpoch
	}
	if m.epoch != newEpoch {
		m.prevEpoch, m.epoch = m.epoch, newEpoch
	}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
}

// release frees partition tp held by m. cg locked.
func (c *Coordinator) release(cg *cgroup, m *cmember, tp TopicPartition) {
	if cg.owner[tp] == m.id {
		delete(cg.owner, tp)
	}
	delete(m.since, tp)
}

// cgRemove removes member m (left, fenced or timed out): its partitions
// are free at once. g locked.
func (c *Coordinator) cgRemove(g *group, m *cmember, topics map[string]TopicMeta, reason string) {
	cg := g.cg
	for _, tp := range m.assigned.list() {
		c.release(cg, m, tp)
	}
	for _, tp := range m.revoking.list() {
		c.release(cg, m, tp)
	}
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	cg.gone = append(cg.gone, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	c.cgStopTimers(m)
	if len(cg.members) == 0 {
		g.state = Empty
		g.emptyNow(c.cfg.Clock.Now())
	}
	if topics == nil {
		topics = c.topicMap()
	}
	c.cgRefresh(g, topics, true, reason)
}

// cgReplaceStatic gives the assignment of static member old (which left
// with epoch -2) to its instance's new member id. g locked.
func (c *Coordinator) cgReplaceStatic(g *group, old *cmember, newID string) *cmember {
	cg := g.cg
	c.cgStopTimers(old)
	m := *old
	m.id, m.left = newID, false
	m.sessionTimer, m.revokeTimer = nil, nil
	delete(cg.members, old.id)
	cg.gone = append(cg.gone, old.id)
	cg.members[newID] = &m
	cg.static[*m.instanceID] = newID
	if t, ok := cg.target[old.id]; ok {
		cg.target[newID] = t
		delete(cg.target, old.id)
	}
	for tp, o := range cg.owner {
		if o == old.id {
			cg.owner[tp] = newID
		}
	}
	c.logger.Info("static member rejoined consumer group", "group", g.id, "instance", *m.instanceID, "member", newID, "old_member", old.id)
	return &m
}

func (c *Coordinator) cgStopTimers(m *cmember) {
	m.timerEpoch++
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
	}
	m.stopRevoke()
}

func (m *cmember) stopRevoke() {
	m.revokeEpoch++
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
		m.revokeTimer = nil
	}
}

// cgArmSession (re)arms m's session timeout: a member missing heartbeats
// for group.consumer.session.timeout.ms is fenced. g locked.
func (c *Coordinator) cgArmSession(g *group, m *cmember) {
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
	}
	m.timerEpoch++
	epoch := m.timerEpoch
	m.sessionTimer = c.cfg.Clock.AfterFunc(c.cfg.ConsumerSessionTimeout, func() {
		g.lock()
		defer g.unlock()
		if g.cg == nil || g.cg.members[m.id] != m || m.timerEpoch != epoch {
			return
		}
		c.logger.Info("consumer group member session expired", "group", g.id, "member", m.id)
		c.cgRemove(g, m, nil, "session timeout of "+m.id)
		c.cgPersist(g, nil)
	})
	if m.state == memberUnrevoked {
		c.cgArmRevoke(g, m)
	}
}

// cgArmRevoke arms m's rebalance timeout: a member that does not give up
// revoked partitions in time is fenced. g locked.
func (c *Coordinator) cgArmRevoke(g *group, m *cmember) {
	if m.revokeTimer != nil {
		return
	}
	m.revokeEpoch++
	epoch := m.revokeEpoch
	d := m.rebalanceTimeout
	if d <= 0 {
		d = c.cfg.ConsumerSessionTimeout
	}
	m.revokeTimer = c.cfg.Clock.AfterFunc(d, func() {
		g.lock()
		defer g.unlock()
		if g.cg == nil || g.cg.members[m.id] != m || m.revokeEpoch != epoch || m.state != memberUnrevoked {
			return
		}
		m.revokeTimer = nil
		c.logger.Info("consumer group member did not revoke in time", "group", g.id, "member", m.id)
		c.cgRemove(g, m, nil, "rebalance timeout of "+m.id)
		c.cgPersist(g, nil)
	})
}

// cgTopicsChanged re-evaluates consumer groups after a topic was created,
// deleted or got partitions (regexes may match it now).
func (c *Coordinator) cgTopicsChanged() {
	topics := c.topicMap()
	for _, g := range c.snapshot() {
		g.lock()
		if g.cg != nil && len(g.cg.members) > 0 {
			c.cgRefresh(g, topics, false, "")
			c.cgPersist(g, nil)
		}
		g.unlock()
	}
}

// TopicsChanged tells the coordinator that topics were created or deleted
// (consumer groups' regex subscriptions are re-evaluated).
func (c *Coordinator) TopicsChanged() { c.cgTopicsChanged() }

// checkConsumerCommit validates an OffsetCommit for a consumer group: the
// member must exist, and its epoch is checked as KIP-848 (and KIP-1251)
// say: newer than the member's is FENCED_MEMBER_EPOCH; older is
// STALE_MEMBER_EPOCH unless every committed partition was assigned to the
// member at that epoch already. g locked.
func (g *group) checkConsumerCommit(memberID string, epoch int32, tps []TopicPartition) int16 {
	cg := g.cg
	if memberID == "" && epoch < 0 {
		if len(cg.members) > 0 {
			return kerr.UnknownMemberID.Code
		}
		return 0
	}
	m := cg.members[memberID]
	if m == nil || m.left {
		return kerr.UnknownMemberID.Code
	}
	switch {
	case epoch > m.epoch:
		return kerr.FencedMemberEpoch.Code
	case epoch < m.epoch:
		for _, tp := range tps {
			if s, ok := m.since[tp]; !ok || s > epoch {
				return kerr.StaleMemberEpoch.Code
			}
		}
	}
	return 0
}

// CheckConsumerFetch validates an OffsetFetch v9+ carrying a member id and
// epoch for a consumer group (STALE_MEMBER_EPOCH for an old epoch).
func (c *Coordinator) CheckConsumerFetch(groupID, memberID string, epoch int32) int16 {
	if memberID == "" && epoch < 0 {
		return 0
	}
	g := c.group(groupID, false)
	if g == nil {
		return 0
	}
	g.lock()
	defer g.unlock()
	if g.cg == nil {
		return 0
	}
	m := g.cg.members[memberID]
	switch {
	case m == nil || m.left:
		return kerr.UnknownMemberID.Code
	case epoch > m.epoch:
		return kerr.FencedMemberEpoch.Code
	case epoch < m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// IsConsumerGroup reports whether groupID is a consumer (KIP-848) group
// with members (classic protocol requests to it are refused).
func (c *Coordinator) IsConsumerGroup(groupID string) bool {
	g := c.group(groupID, false)
	if g == nil {
		return false
	}
	g.lock()
	defer g.unlock()
	return g.cg != nil && len(g.cg.members) > 0
}

// consumerJoinRefused answers a classic JoinGroup to a consumer group:
// refused while it has members (or when the migration policy allows no
// downgrade), else the group turns classic again (the downgrade path,
// consumer_migration.go). g locked.
func (c *Coordinator) consumerJoinRefused(g *group) bool {
	if g.cg == nil {
		return false
	}
	if len(g.cg.members) > 0 || !c.downgradeAllowed() {
		return true
	}
	g.cg = nil
	return false
}

// ConsumerMemberDescription is one member in ConsumerGroupDescribe.
type ConsumerMemberDescription struct {
	MemberID, ClientID, ClientHost string
	InstanceID, RackID             *string
	MemberEpoch                    int32
	State                          string
	SubscribedTopicNames           []string
	SubscribedTopicRegex           string
	Assignment, TargetAssignment   []ConsumerTopic
}

// ConsumerGroupDescription is a group in ConsumerGroupDescribe.
type ConsumerGroupDescription struct {
	ErrorCode          int16
	ErrorMessage       string
	GroupID            string
	State              string
	Epoch, TargetEpoch int32
	Assignor           string
	Members            []ConsumerMemberDescription
}

// DescribeConsumer handles ConsumerGroupDescribe for one group.
func (c *Coordinator) DescribeConsumer(groupID string) ConsumerGroupDescription {
	d := ConsumerGroupDescription{GroupID: groupID}
	if !c.owns(groupID) {
		d.ErrorCode = kerr.NotCoordinator.Code
		return d
	}
	g := c.group(groupID, false)
	if g == nil {
		d.ErrorCode, d.ErrorMessage = kerr.GroupIDNotFound.Code, "Group "+groupID+" not found"
		return d
	}
	topics := c.topicMap()
	g.lock()
	defer g.unlock()
	if g.state == Dead || g.cg == nil {
		d.ErrorCode, d.ErrorMessage = kerr.GroupIDNotFound.Code, "Group "+groupID+" is not a consumer group"
		return d
	}
	cg := g.cg
	d.State, d.Epoch, d.TargetEpoch, d.Assignor = cg.stateName(), cg.epoch, cg.targetEpoch, cg.assignor
	if d.Assignor == "" {
		d.Assignor = AssignorUniform
	}
	for _, m := range cg.sortedMembers() {
		md := ConsumerMemberDescription{
			MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost, InstanceID: m.instanceID, RackID: m.rackID,
			MemberEpoch: m.epoch, State: m.state.String(), SubscribedTopicNames: append([]string{}, m.topics...),
			SubscribedTopicRegex: m.regex,
			Assignment:           toConsumerTopics(m.assigned, topics), TargetAssignment: toConsumerTopics(cg.target[m.id], topics),
		}
		if m.left {
			md.MemberEpoch = staticLeaveEpoch
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// consumerGroupKey is Kafka's ConsumerGroupMetadataKey (version 3).
func consumerGroupKey(group string) []byte {
	return cgKey{Type: recConsumerGroup, Group: group}.encode()
}

// replayConsumerGroup applies a ConsumerGroupMetadata record: the group
// comes back an Empty consumer group at its epoch (nil value: deleted).
func (c *Coordinator) replayConsumerGroup(key, value []byte) {
	if len(key) < 4 {
		return
	}
	n := int(binary.BigEndian.Uint16(key[2:]))
	if len(key) < 4+n {
		return
	}
	id := string(key[4 : 4+n])
	g := c.groups[id]
	if value == nil {
		if g != nil && g.cg != nil {
			g.cg = nil
			g.protocolType = ""
		}
		return
	}
	var v consumerGroupMetadataValue
	if v.decode(value) != nil {
		return
	}
	if g == nil {
		g = newGroup(id)
		c.groups[id] = g
	}
	if g.cg == nil {
		g.cg = newCGroup()
	}
	g.protocolType = "consumer"
	g.cg.epoch = max(g.cg.epoch, v.Epoch)
	g.cg.targetEpoch = g.cg.epoch
}

// describeConsumerClassic describes a consumer group for DescribeGroups
// (classic tools): protocol type "consumer", the assignor as protocol,
// members with their subscription and assignment in the classic consumer
// encodings. g locked.
func (c *Coordinator) describeConsumerClassic(g *group) Description {
	cg := g.cg
	d := Description{GroupID: g.id, State: cg.stateName(), ProtocolType: "consumer", Found: true}
	if len(cg.members) > 0 {
		d.Protocol = cg.assignor
	}
	for _, m := range cg.sortedMembers() {
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Version = 0
		meta.Topics = append([]string{}, m.topics...)
		asg := kmsg.NewConsumerMemberAssignment()
		asg.Version = 0
		for _, t := range m.assigned.normalize().list() {
			n := len(asg.Topics)
			if n == 0 || asg.Topics[n-1].Topic != t.Topic {
				at := kmsg.NewConsumerMemberAssignmentTopic()
				at.Topic = t.Topic
				asg.Topics = append(asg.Topics, at)
				n++
			}
			asg.Topics[n-1].Partitions = append(asg.Topics[n-1].Partitions, t.Partition)
		}
		d.Members = append(d.Members, MemberDescription{
			MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost, InstanceID: m.instanceID,
			Metadata: meta.AppendTo(nil), Assignment: asg.AppendTo(nil),
		})
	}
	return d
}

// cgClose stops a consumer group's timers (the coordinator closes or
// gives the group up). g locked.
func (g *group) cgClose() {
	if g.cg == nil {
		return
	}
	for _, m := range g.cg.members {
		m.timerEpoch++
		if m.sessionTimer != nil {
			m.sessionTimer.Stop()
		}
		m.stopRevoke()
	}
}
