package cluster

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicemq/sluice/core/partition"
)

// Throttle is a token bucket over bytes per second: the replication
// throttle (Kafka's follower.replication.throttled.rate). It holds at
// most one second of tokens, so a quiet period allows a burst of one
// second's worth, and may go into debt by one fetch: a caller asks Allow
// before a fetch and charges Take with what arrived.
type Throttle struct {
	// rate is bytes per second, <= 0: unlimited. It is atomic because
	// a dynamic broker config (SetRate) changes it while fetches read it.
	rate   atomic.Int64
	static int64 // the rate it was made with (the serve flag)
	mu     sync.Mutex
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewThrottle returns a bucket for rate bytes per second (<= 0:
// unlimited), full.
func NewThrottle(rate int64) *Throttle {
	t := &Throttle{static: rate, tokens: float64(rate), now: time.Now}
	t.rate.Store(rate)
	t.last = t.now()
	return t
}

// Limited reports whether the throttle limits anything.
func (t *Throttle) Limited() bool { return t != nil && t.rate.Load() > 0 }

// Rate is the current rate in bytes per second, <= 0 when unlimited.
func (t *Throttle) Rate() int64 {
	if t == nil {
		return 0
	}
	return t.rate.Load()
}

// StaticRate is the rate the throttle was made with (`sluice serve`'s
// flag), which dynamic broker configs override.
func (t *Throttle) StaticRate() int64 {
	if t == nil {
		return 0
	}
	return t.static
}

// SetRate changes the rate (<= 0: unlimited) at once; the bucket keeps
// its debt but never holds more than a second of the new rate.
func (t *Throttle) SetRate(rate int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refillLocked()
	if t.rate.Load() <= 0 {
		t.tokens = float64(rate) // from unlimited: start full, as NewThrottle
	}
	t.rate.Store(rate)
	t.tokens = min(t.tokens, float64(max(rate, 0)))
}

func (t *Throttle) refillLocked() {
	now := t.now()
	rate := float64(t.rate.Load())
	t.tokens = min(t.tokens+now.Sub(t.last).Seconds()*rate, rate)
	t.last = now
}

// Allow reports whether throttled traffic may be fetched now: the bucket
// is not in debt.
func (t *Throttle) Allow() bool {
	if !t.Limited() {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refillLocked()
	return t.tokens > 0
}

// Take charges n bytes.
func (t *Throttle) Take(n int) {
	if !t.Limited() || n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refillLocked()
	t.tokens -= float64(n)
}

// ChunkBytes is the most one throttled partition should fetch at once: a
// quarter second's worth (between 16 KiB and 4 MiB), so the debt one fetch
// leaves is short and the rate stays smooth.
func (t *Throttle) ChunkBytes() int32 {
	if !t.Limited() {
		return 4 << 20
	}
	return int32(min(max(float64(t.rate.Load())/4, 16<<10), 4<<20))
}

// ThrottledReplica reports whether a topic's throttled-replicas config
// (Kafka's "*" or a list of partition:broker) names broker's replica of
// partition.
func ThrottledReplica(config string, part, broker int32) bool {
	config = strings.TrimSpace(config)
	if config == "" {
		return false
	}
	if config == "*" {
		return true
	}
	for _, e := range strings.Split(config, ",") {
		ps, bs, ok := strings.Cut(strings.TrimSpace(e), ":")
		if !ok {
			continue
		}
		p, err1 := strconv.ParseInt(strings.TrimSpace(ps), 10, 32)
		b, err2 := strconv.ParseInt(strings.TrimSpace(bs), 10, 32)
		if err1 == nil && err2 == nil && int32(p) == part && int32(b) == broker {
			return true
		}
	}
	return false
}

// followerThrottled reports whether this broker's fetches of p count
// against the follower throttle: the topic's
// follower.replication.throttled.replicas names this replica and it is
// not in the ISR. As in Kafka, an in-sync replica is never throttled: it
// would hold back acks=all produces.
func (m *ReplicaManager) followerThrottled(p *partition.Partition) bool {
	if !m.cfg.FollowerThrottle.Limited() {
		return false
	}
	t, ok := m.store.Topic(p.Topic)
	if !ok || int(p.Index) >= len(t.Partitions) || slices.Contains(t.Partitions[p.Index].ISR, m.cfg.BrokerID) {
		return false
	}
	return ThrottledReplica(t.Configs["follower.replication.throttled.replicas"], p.Index, m.cfg.BrokerID)
}

// throttleAdmit is the fetcher's hook before adding p to a fetch: false
// leaves a throttled partition out while the bucket is in debt (the
// others are fetched as usual, like Kafka's follower quota), and a
// throttled one is fetched in small chunks.
func (m *ReplicaManager) throttleAdmit(p *partition.Partition, maxBytes *int32) bool {
	if !m.followerThrottled(p) {
		return true
	}
	if !m.cfg.FollowerThrottle.Allow() {
		return false
	}
	*maxBytes = min(*maxBytes, m.cfg.FollowerThrottle.ChunkBytes())
	return true
}

// throttleCharge is the fetcher's hook after appending n fetched bytes of p.
func (m *ReplicaManager) throttleCharge(p *partition.Partition, n int) {
	if m.followerThrottled(p) {
		m.cfg.FollowerThrottle.Take(n)
	}
}
