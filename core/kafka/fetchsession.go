package kafka

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// Fetch sessions (KIP-227), as Kafka's FetchSession.scala serves them.
//
// A Fetch v7+ with SessionID 0 and SessionEpoch 0 is a full fetch that asks
// for a session: when the cache has a slot (or can evict one, see evictLocked),
// the response carries the new session's id and the broker remembers the
// request's partitions with what it last told the client about each (high
// watermark, last stable offset, log start offset). The client then sends
// incremental fetches (that id, epoch 1, 2, ...) listing only partitions
// whose fetch state changed, plus ForgottenTopics to drop; the broker
// checks every partition of the session (reading only those that may have
// news, see quiet; the long poll waits on all) and answers only those with
// records, a changed high watermark, last stable offset or log start
// offset, or an error. SessionEpoch -1 is a sessionless full fetch (with a session id it
// also closes that session); a full fetch naming a session id closes it.
// Fetches older than v7 (no session fields) are always sessionless.
//
// As in Kafka, a session is not tied to a connection or principal: any
// connection may continue it with the right id and epoch (clients move a
// session to a new connection after a reconnect). Every fetch authorizes
// every topic of the session, so a session gives nothing a principal
// could not read anyway.
//
// FETCH_SESSION_TOPIC_ID_ERROR and INCONSISTENT_TOPIC_ID are Fetch v13+
// (topic ids), which is not served: sessions key partitions by topic name.

// DefaultFetchSessionCacheSlots is Kafka's
// max.incremental.fetch.session.cache.slots default.
const DefaultFetchSessionCacheSlots = 1000

// fetchSessionMinEvictable is how long a session is protected from
// eviction by an ordinary (consumer) session after its creation, and how
// long an unused session stays before any new session may take its slot
// (Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS).
const fetchSessionMinEvictable = 120 * time.Second

// maxFetchSessionPartitions bounds one session's partitions, so the
// cache's memory is bounded by slots × this (about 5 MB per full
// session). A full fetch for more partitions gets no session; an
// incremental fetch that would grow a session past it ends the session
// (FETCH_SESSION_ID_NOT_FOUND), and the client's next full fetch then runs
// without one.
const maxFetchSessionPartitions = 50_000

// fetchSessionKey names a partition of a session.
type fetchSessionKey struct {
	topic     string
	partition int32
}

// sessionPartition is one partition of a session: the client's latest
// fetch state and what the broker last told it.
type sessionPartition struct {
	key fetchSessionKey
	// req is the partition's fetch as the client last sent it (offset,
	// max bytes, leader epoch...); incremental fetches read with it.
	req kmsg.FetchRequestTopicPartition
	// hw, lso and logStart are the values last sent; a change makes the
	// partition part of the next response. hw -1 (new partition, or after
	// an error) always does.
	hw, lso, logStart int64
	// moved marks the partition during trim (it returned records).
	moved bool
}

// fetchSession is one cached session.
type fetchSession struct {
	id         int32
	privileged bool // a follower's (ReplicaID >= 0): harder to evict
	created    time.Time

	// lastUsed and size are guarded by fetchSessionCache.mu: the cache
	// chooses what to evict from them.
	lastUsed time.Time
	size     int

	// mu guards what follows; taken after fetchSessionCache.mu when both.
	mu sync.Mutex
	// epoch is the SessionEpoch the next incremental fetch must carry.
	epoch int32
	// order is the order partitions are read in; partitions that
	// returned records move to the end, so a response size limit does
	// not starve the later ones (as Kafka does).
	order []*sessionPartition
	parts map[fetchSessionKey]*sessionPartition
}

// fetchSessionCache is the server's bounded session cache.
type fetchSessionCache struct {
	slots int // 0: sessions disabled (every full fetch stays sessionless)
	// minEvictable is fetchSessionMinEvictable; tests shorten it.
	minEvictable time.Duration
	now          func() time.Time // time.Now; tests step it

	mu         sync.Mutex
	sessions   map[int32]*fetchSession
	partitions int // sum of sessions' sizes

	// Counts for tests and logs; the same figures go to prometheus
	// process-wide (fetchSessionMetrics).
	stats struct {
		full, incremental, sessionless, evictions, errors atomic.Int64
	}
}

func newFetchSessionCache(slots int) *fetchSessionCache {
	if slots == 0 {
		slots = DefaultFetchSessionCacheSlots
	}
	return &fetchSessionCache{slots: max(slots, 0), minEvictable: fetchSessionMinEvictable, now: time.Now,
		sessions: map[int32]*fetchSession{}}
}

// fetchSessionMetrics are the cache's prometheus figures, process-wide
// (summed over the servers of a process), next to handlerPanics.
var fetchSessionMetrics = struct {
	sessions, partitions prometheus.Gauge
	evictions            prometheus.Counter
	requests             *prometheus.CounterVec
	errors               *prometheus.CounterVec
}{
	sessions: registerCollector(prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sluice_kafka_fetch_sessions",
		Help: "Incremental fetch sessions (KIP-227) in the session cache.",
	})),
	partitions: registerCollector(prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sluice_kafka_fetch_session_partitions",
		Help: "Partitions held by the cached fetch sessions.",
	})),
	evictions: registerCollector(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_kafka_fetch_session_evictions_total",
		Help: "Fetch sessions evicted from the cache to make room for a new one.",
	})),
	requests: registerCollector(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_kafka_fetch_requests_total",
		Help: "Fetch requests by kind: full (asks for a session), incremental (within a session), sessionless (v0-6, SessionEpoch -1, replicas).",
	}, []string{"kind"})),
	errors: registerCollector(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_kafka_fetch_session_errors_total",
		Help: "Incremental fetches refused: FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH.",
	}, []string{"error"})),
}

// registerCollector registers c on the registry /metrics serves, or
// returns the one already there (several servers in one process, tests).
func registerCollector[C prometheus.Collector](c C) C {
	if err := prometheus.DefaultRegisterer.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// fetchSessionKind says how a fetch relates to the session cache.
type fetchSessionKind uint8

const (
	fetchSessionless fetchSessionKind = iota
	fetchFull                         // full fetch that opens a session if it can
	fetchIncremental
)

// fetchSessionCtx is one fetch's session state between begin and finish.
type fetchSessionCtx struct {
	cache *fetchSessionCache
	kind  fetchSessionKind
	req   *kmsg.FetchRequest // the client's request (fetchFull builds the session from it)
	sess  *fetchSession      // fetchIncremental
	// read is the session's partitions in the order of the last request
	// read (active), to match the response without map lookups.
	read []*sessionPartition
}

// begin resolves a fetch's session: it returns the request to read with
// sessionFetchOnce (for an incremental fetch, its settings without
// partitions: they come from the session on every read) and the context
// to finish the response with, or a response refusing the fetch with a
// session error.
func (fc *fetchSessionCache) begin(req *kmsg.FetchRequest) (*kmsg.FetchRequest, *fetchSessionCtx, *kmsg.FetchResponse) {
	ctx := &fetchSessionCtx{cache: fc, req: req}
	if req.Version < 7 || fc == nil {
		ctx.kind = fetchSessionless
		ctx.count()
		return req, ctx, nil
	}
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		if req.SessionID != 0 {
			// A full fetch naming a session closes it.
			fc.mu.Lock()
			if s := fc.sessions[req.SessionID]; s != nil {
				fc.removeLocked(s)
			}
			fc.mu.Unlock()
		}
		ctx.kind = fetchFull
		if req.SessionEpoch == -1 {
			ctx.kind = fetchSessionless
		}
		ctx.count()
		return req, ctx, nil
	}

	fc.mu.Lock()
	defer fc.mu.Unlock()
	s := fc.sessions[req.SessionID]
	if s == nil {
		return nil, nil, fc.refuse(req, kerr.FetchSessionIDNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != req.SessionEpoch {
		return nil, nil, fc.refuse(req, kerr.InvalidFetchSessionEpoch)
	}
	if !s.update(req) {
		fc.removeLocked(s)
		return nil, nil, fc.refuse(req, kerr.FetchSessionIDNotFound)
	}
	if len(s.order) == 0 {
		// Everything forgotten: Kafka drops the session and answers
		// sessionlessly (the request then has no partitions).
		fc.removeLocked(s)
		ctx.kind = fetchSessionless
		ctx.count()
		return req, ctx, nil
	}
	s.epoch = nextFetchEpoch(s.epoch)
	fc.touchLocked(s)
	ctx.kind, ctx.sess = fetchIncremental, s
	ctx.count()
	// The partitions to read are chosen on every read (sessionFetchOnce).
	eff := *req
	eff.Topics, eff.ForgottenTopics = nil, nil
	return &eff, ctx, nil
}

func (ctx *fetchSessionCtx) count() {
	var kind string
	switch ctx.kind {
	case fetchFull:
		kind = "full"
		ctx.cache.statsAdd(&ctx.cache.stats.full)
	case fetchIncremental:
		kind = "incremental"
		ctx.cache.statsAdd(&ctx.cache.stats.incremental)
	default:
		kind = "sessionless"
		ctx.cache.statsAdd(&ctx.cache.stats.sessionless)
	}
	fetchSessionMetrics.requests.WithLabelValues(kind).Inc()
}

func (fc *fetchSessionCache) statsAdd(c *atomic.Int64) {
	if fc != nil {
		c.Add(1)
	}
}

// refuse answers a fetch with a session error: the top-level code, no
// partitions, session id 0 (Kafka's SessionErrorContext).
func (fc *fetchSessionCache) refuse(req *kmsg.FetchRequest, err *kerr.Error) *kmsg.FetchResponse {
	fc.stats.errors.Add(1)
	fetchSessionMetrics.errors.WithLabelValues(err.Message).Inc()
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.ErrorCode = err.Code
	return resp
}

// nextFetchEpoch is Kafka's FetchMetadata.nextEpoch: epochs wrap from
// MaxInt32 back to 1 (0 and -1 mean full fetches).
func nextFetchEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

// update applies an incremental fetch's partitions (added or changed) and
// forgotten partitions to the session. It reports false when the session
// would grow past maxFetchSessionPartitions.
func (s *fetchSession) update(req *kmsg.FetchRequest) bool {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := fetchSessionKey{rt.Topic, rp.Partition}
			if sp := s.parts[k]; sp != nil {
				sp.req = rp
				continue
			}
			if len(s.order) >= maxFetchSessionPartitions {
				return false
			}
			// New partitions are always answered (hw -1).
			sp := &sessionPartition{key: k, req: rp, hw: -1, lso: -1, logStart: -1}
			s.parts[k] = sp
			s.order = append(s.order, sp)
		}
	}
	forgot := false
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := fetchSessionKey{ft.Topic, p}
			if s.parts[k] != nil {
				delete(s.parts, k)
				forgot = true
			}
		}
	}
	if forgot {
		s.order = compactSession(s.order, s.parts)
	}
	return true
}

// compactSession drops from order the partitions no longer in parts.
func compactSession(order []*sessionPartition, parts map[fetchSessionKey]*sessionPartition) []*sessionPartition {
	kept := order[:0]
	for _, sp := range order {
		if parts[sp.key] == sp {
			kept = append(kept, sp)
		}
	}
	clear(order[len(kept):])
	return kept
}

// sessionFetchOnce is fetchOnce for any fetch. An incremental fetch reads
// only its session's partitions that may have something to answer (see
// quiet); it waits on the others too, so a long poll wakes when any
// partition of the session gets records.
func (c *conn) sessionFetchOnce(ctx *fetchSessionCtx, req *kmsg.FetchRequest, clientID string) fetchResult {
	if ctx == nil || ctx.kind != fetchIncremental {
		return c.fetchOnce(req, clientID)
	}
	eff := *req
	var quiet []<-chan struct{}
	eff.Topics, quiet = ctx.active(c, req.ReplicaID >= 0)
	res := c.fetchOnce(&eff, clientID)
	res.waits = append(res.waits, quiet...)
	return res
}

// active returns the session's partitions to read now as fetch topics in
// read order (consecutive partitions of one topic share an entry; a topic
// may appear more than once, as in Kafka's own session fetches), and the
// wait channels of the quiet ones. It sets ctx.read to the partitions
// read, in order, for trim.
func (ctx *fetchSessionCtx) active(c *conn, replica bool) ([]kmsg.FetchRequestTopic, []<-chan struct{}) {
	s := ctx.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx.read = ctx.read[:0]
	var waits []<-chan struct{}
	lastTopic, readable := "", false
	for i, sp := range s.order {
		if i == 0 || sp.key.topic != lastTopic {
			lastTopic = sp.key.topic
			readable = c.mayTopic(auth.OpRead, lastTopic)
		}
		// Unreadable topics are read to answer their error; followers'
		// sessions read every partition (they wait on the log end).
		if !replica && readable {
			if w := sp.quiet(c); w != nil {
				waits = append(waits, w)
				continue
			}
		}
		ctx.read = append(ctx.read, sp)
	}
	parts := make([]kmsg.FetchRequestTopicPartition, len(ctx.read))
	var topics []kmsg.FetchRequestTopic
	start := 0
	for i, sp := range ctx.read {
		parts[i] = sp.req
		if i+1 == len(ctx.read) || ctx.read[i+1].key.topic != sp.key.topic {
			topics = append(topics, kmsg.FetchRequestTopic{Topic: sp.key.topic, Partitions: parts[start : i+1 : i+1]})
			start = i + 1
		}
	}
	return topics, waits
}

// quiet returns the partition's wait channel when reading it now could
// not answer anything (Kafka's rules, mustAnswer): this broker leads it
// in the client's leader epoch, its high watermark and log start are
// what the client was last told and the client has read up to the high
// watermark, and nothing was wrong last time. Reading and answering
// every partition of a large session is most of a fetch's cost; a quiet
// one costs one lock. Otherwise it returns nil.
func (sp *sessionPartition) quiet(c *conn) <-chan struct{} {
	if sp.hw < 0 || sp.req.FetchOffset != sp.hw || sp.lso != sp.hw {
		return nil
	}
	p, err := c.s.b.Partition(sp.key.topic, sp.key.partition)
	if err != nil {
		return nil
	}
	leader, epoch, hw, notify := p.FetchState()
	if !leader || hw != sp.hw || checkLeaderEpoch(sp.req.CurrentLeaderEpoch, epoch) != 0 ||
		p.LogStartOffset() != sp.logStart || p.Offline() != nil {
		return nil
	}
	return notify
}

// finish completes a fetch's final response: a full fetch opens its
// session (if the cache has or can make room) and returns its id; an
// incremental fetch's response keeps only the partitions Kafka's rules
// say the client must see. Call it once, with the response that is sent.
func (ctx *fetchSessionCtx) finish(resp *kmsg.FetchResponse) {
	if ctx == nil || resp == nil {
		return
	}
	switch ctx.kind {
	case fetchFull:
		resp.SessionID = ctx.cache.create(ctx.req, resp)
	case fetchIncremental:
		ctx.trim(resp)
	default:
		resp.SessionID = 0
	}
}

// mustAnswer applies Kafka's CachedPartition.maybeUpdateResponseData to
// one partition of an incremental response: it reports whether the client
// must see the partition and records what it was told. The last stable
// offset counts too, so read_committed consumers learn that it moved.
func (sp *sessionPartition) mustAnswer(rp *kmsg.FetchResponseTopicPartition) bool {
	must := len(rp.RecordBatches) > 0
	if sp.hw != rp.HighWatermark || sp.lso != rp.LastStableOffset || sp.logStart != rp.LogStartOffset {
		must = true
		sp.hw, sp.lso, sp.logStart = rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset
	}
	if rp.PreferredReadReplica >= 0 || rp.DivergingEpoch.Epoch >= 0 {
		must = true
	}
	if rp.ErrorCode != 0 {
		// Errors are always answered; hw -1 makes the partition answered
		// again once the error is gone.
		sp.hw = -1
		must = true
	}
	return must
}

// trim keeps the partitions of an incremental response the client must
// see and moves those that returned records to the end of the session's
// read order.
func (ctx *fetchSessionCtx) trim(resp *kmsg.FetchResponse) {
	s := ctx.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	resp.SessionID = s.id
	i := 0 // position in ctx.read
	var moved []*sessionPartition
	topics := resp.Topics[:0]
	for _, rt := range resp.Topics {
		parts := rt.Partitions[:0]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			var sp *sessionPartition
			if i < len(ctx.read) && ctx.read[i].key.partition == rp.Partition && ctx.read[i].key.topic == rt.Topic {
				sp = ctx.read[i]
			} else {
				sp = s.parts[fetchSessionKey{rt.Topic, rp.Partition}]
			}
			i++
			if sp == nil || s.parts[sp.key] != sp {
				// Forgotten meanwhile (a racing fetch of the session):
				// answer it, nothing to remember.
				parts = append(parts, *rp)
				continue
			}
			if !sp.mustAnswer(rp) {
				continue
			}
			if len(rp.RecordBatches) > 0 && !sp.moved {
				sp.moved = true
				moved = append(moved, sp)
			}
			parts = append(parts, *rp)
		}
		if len(parts) > 0 {
			rt.Partitions = parts
			topics = append(topics, rt)
		}
	}
	resp.Topics = topics
	if len(moved) > 0 {
		kept := s.order[:0]
		for _, sp := range s.order {
			if !sp.moved {
				kept = append(kept, sp)
			}
		}
		for _, sp := range moved {
			sp.moved = false
			kept = append(kept, sp)
		}
		s.order = kept
	}
}

// create opens a session for a full fetch once its response is final,
// with the request's partitions and what the response tells the client
// about each. It returns the session id, or 0 when the cache has no room
// (the client then goes on with full fetches).
func (fc *fetchSessionCache) create(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) int32 {
	if fc.slots == 0 {
		return 0
	}
	n := 0
	for _, rt := range req.Topics {
		n += len(rt.Partitions)
	}
	if n > maxFetchSessionPartitions {
		return 0
	}
	s := &fetchSession{privileged: req.ReplicaID >= 0, epoch: 1,
		order: make([]*sessionPartition, 0, n), parts: make(map[fetchSessionKey]*sessionPartition, n)}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := fetchSessionKey{rt.Topic, rp.Partition}
			if s.parts[k] != nil {
				continue
			}
			sp := &sessionPartition{key: k, req: rp, hw: -1, lso: -1, logStart: -1}
			s.parts[k] = sp
			s.order = append(s.order, sp)
		}
	}
	// Remember what the response tells the client; it lists the
	// partitions in request order, so the map is only a fallback.
	i := 0
	for _, rt := range resp.Topics {
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			var sp *sessionPartition
			if i < len(s.order) && s.order[i].key.partition == rp.Partition && s.order[i].key.topic == rt.Topic {
				sp = s.order[i]
			} else {
				sp = s.parts[fetchSessionKey{rt.Topic, rp.Partition}]
			}
			i++
			if sp != nil {
				sp.mustAnswer(rp)
			}
		}
	}

	fc.mu.Lock()
	defer fc.mu.Unlock()
	now := fc.now()
	if len(fc.sessions) >= fc.slots && !fc.evictLocked(s.privileged, len(s.order), now) {
		return 0
	}
	for s.id == 0 || fc.sessions[s.id] != nil {
		s.id = rand.Int32N(math.MaxInt32-1) + 1
	}
	s.created = now
	fc.sessions[s.id] = s
	fetchSessionMetrics.sessions.Inc()
	fc.touchLocked(s)
	return s.id
}

// touchLocked marks s used now and updates the partition count from its
// size. Callers hold fc.mu (and s.mu, or s is not shared yet).
func (fc *fetchSessionCache) touchLocked(s *fetchSession) {
	s.lastUsed = fc.now()
	d := len(s.order) - s.size
	s.size = len(s.order)
	fc.partitions += d
	fetchSessionMetrics.partitions.Add(float64(d))
}

func (fc *fetchSessionCache) removeLocked(s *fetchSession) {
	if fc.sessions[s.id] != s {
		return
	}
	delete(fc.sessions, s.id)
	fc.partitions -= s.size
	fetchSessionMetrics.sessions.Dec()
	fetchSessionMetrics.partitions.Sub(float64(s.size))
}

// evictLocked makes room for a new session of size partitions, as
// Kafka's FetchSessionCache.tryEvict: first the least recently used
// session if unused for minEvictable; else the least valuable evictable
// session, if the new one is worth at least as much. Value orders
// followers' sessions above consumers', then by size, then by id (so of
// two equal sessions the old one stays). A consumer's new session may
// only evict sessions created more than minEvictable ago (a session must
// get a chance to pay off); a follower's may also evict any consumer's.
func (fc *fetchSessionCache) evictLocked(privileged bool, size int, now time.Time) bool {
	var lru *fetchSession
	for _, s := range fc.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) {
			lru = s
		}
	}
	if lru == nil {
		return false
	}
	if now.Sub(lru.lastUsed) > fc.minEvictable {
		fc.evictedLocked(lru)
		return true
	}
	less := func(ap bool, as int, aid int32, b *fetchSession) bool {
		if ap != b.privileged {
			return !ap
		}
		if as != b.size {
			return as < b.size
		}
		return aid < b.id
	}
	var low *fetchSession
	for _, s := range fc.sessions {
		if now.Sub(s.created) <= fc.minEvictable && !(privileged && !s.privileged) {
			continue
		}
		if low == nil || less(s.privileged, s.size, s.id, low) {
			low = s
		}
	}
	if low == nil || less(privileged, size, 0, low) {
		return false
	}
	fc.evictedLocked(low)
	return true
}

func (fc *fetchSessionCache) evictedLocked(s *fetchSession) {
	fc.removeLocked(s)
	fc.stats.evictions.Add(1)
	fetchSessionMetrics.evictions.Inc()
}

// len is the number of cached sessions.
func (fc *fetchSessionCache) len() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.sessions)
}
