// Package group is the classic consumer group coordinator: membership,
// rebalances (Empty → PreparingRebalance → CompletingRebalance → Stable,
// and Dead), session and rebalance timeouts, static membership, and
// committed offsets persisted in the compacted internal topic
// __consumer_offsets using Kafka's own key/value schemas.
//
// Lock discipline: Coordinator.mu guards the groups map only; each group's
// mu guards everything in the group. Callbacks (join/sync responses) are
// invoked with the group's lock held and must not block: the protocol
// handlers' callbacks just fill a response and close a channel.
package group

import (
	"sync"
	"time"
)

// State is a group's rebalance state.
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	}
	return "Dead"
}

// Protocol is one assignment protocol a member supports.
type Protocol struct {
	Name     string
	Metadata []byte
}

// member is one group member.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocols        []Protocol
	assignment       []byte

	joinCb func(JoinResult) // pending JoinGroup response
	syncCb func(SyncResult) // pending SyncGroup response

	sessionTimer Timer
	// sessionEpoch invalidates fired timers that lost the race with a
	// reset or removal.
	sessionEpoch uint64
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func sameProtocols(a, b []Protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || string(a[i].Metadata) != string(b[i].Metadata) {
			return false
		}
	}
	return true
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offset is a committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	CommitTime  int64 // ms
}

// group is one consumer group.
type group struct {
	mu           sync.Mutex
	id           string
	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	order        []string          // member ids in join order (leader choice, stable listings)
	static       map[string]string // group.instance.id -> member id
	pending      map[string]bool   // ids handed out with MEMBER_ID_REQUIRED

	rebalanceTimer Timer
	rebalanceEpoch uint64
	// initialDelayUntil holds a new group's first rebalance open so that
	// members starting together land in one generation
	// (group.initial.rebalance.delay.ms).
	initialDelayUntil time.Time
	rebalanceDeadline time.Time

	offsets map[TopicPartition]Offset
	// offsetPos is the log position of the record behind each entry of
	// offsets: commits are appended under the lock but applied after
	// their (unlocked) commit wait, so a slower older write must not
	// overwrite a newer one.
	offsetPos map[TopicPartition]int64
	// txnOffsets are transactional commits waiting for their producer's
	// marker (txn.go), by producer id.
	txnOffsets map[int64]map[TopicPartition]pendingTxnOffset
	// inflight counts offset commits appended but not yet applied, per
	// partition: retention must not tombstone an offset being replaced.
	inflight map[TopicPartition]int
	// emptySince is when the group last became Empty (ms; 0 unknown):
	// its offsets' retention counts from it (retention.go).
	emptySince int64
	// persistingGen is the generation whose leader assignments are being
	// persisted (-1 when none): a repeated leader SyncGroup waits for it.
	persistingGen int32
	// cg makes the group a consumer (KIP-848) group (consumer.go).
	cg *cgroup
	// cgl holds its KIP-848 member records during a replay.
	cgl *cgLoad
}

func newGroup(id string) *group {
	return &group{
		id:      id,
		members: map[string]*member{},
		static:  map[string]string{},
		pending: map[string]bool{},
		offsets: map[TopicPartition]Offset{},

		offsetPos:     map[TopicPartition]int64{},
		inflight:      map[TopicPartition]int{},
		persistingGen: -1,
	}
}

func (g *group) addMember(m *member) {
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
}

func (g *group) dropMember(m *member) {
	delete(g.members, m.id)
	for i, id := range g.order {
		if id == m.id {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
	}
	m.sessionEpoch++
	if g.leader == m.id {
		g.leader = ""
	}
}

// supportsProtocols reports whether a joining member fits the group:
// same protocol type, and (for a non-empty group) at least one protocol
// every member supports.
func (g *group) supportsProtocols(protocolType string, protos []Protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protos) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protos {
		all := true
		for _, m := range g.members {
			if m.metadataFor(p.Name) == nil && !hasProtocol(m.protocols, p.Name) {
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

func hasProtocol(ps []Protocol, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol all members support that has the
// most votes, each member voting for its most preferred candidate.
func (g *group) selectProtocol() string {
	var candidates []string
	first := g.members[g.order[0]]
	for _, p := range first.protocols {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	votes := map[string]int{}
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := candidates[0]
	for _, c := range candidates {
		if votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

func (g *group) allJoined() bool {
	for _, m := range g.members {
		if m.joinCb == nil {
			return false
		}
	}
	return true
}

// lock/unlock guard the group. A separate mutex type keeps the zero group
// usable and lets tests check lock discipline in one place.
func (g *group) lock()   { g.mu.Lock() }
func (g *group) unlock() { g.mu.Unlock() }
