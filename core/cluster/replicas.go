package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// Config tunes replication.
type Config struct {
	BrokerID int32
	// LagMax: a follower that has not caught up for this long leaves the
	// ISR (replica.lag.time.max.ms). Default 30s.
	LagMax time.Duration
	// FetchWait is a follower fetch's long-poll time
	// (replica.fetch.wait.max.ms). Default 100ms: shorter than Kafka's
	// 500ms, which measurably slowed acks=all in the replication bench.
	FetchWait time.Duration
	Logger    *slog.Logger

	// Fetchers is how many fetchers (each with its own connection) a
	// follower runs per leader, partitions spread over them
	// (num.replica.fetchers). One connection answers fetches in order,
	// so with one fetcher every partition's round waits for the
	// whole response; with several, one partition's records are
	// appended while another's are on the wire, and each answer is
	// smaller. Default 2: in the replication bench (3 brokers on a
	// shared, loaded 2-core machine) RF=3 acks=all medians with 2 or 4
	// fetchers were ~1.1x those with one (139k vs 123k records/s over
	// interleaved runs), within the run-to-run spread.
	Fetchers int

	// DataDir is where the high-watermark checkpoint lives
	// (HWCheckpointFile); "" keeps none.
	DataDir string
	// CheckpointInterval is how often it is written
	// (replica.high.watermark.checkpoint.interval.ms). Default 5s; Close
	// writes it too.
	CheckpointInterval time.Duration

	// ClientOpts are added to the replica fetchers' client: SASL and TLS
	// so that followers authenticate to leaders.
	ClientOpts []kgo.Opt

	// FollowerThrottle limits fetching the replicas a topic's
	// follower.replication.throttled.replicas names (throttle.go); nil:
	// unlimited.
	FollowerThrottle *Throttle
}

func (c Config) withDefaults() Config {
	if c.LagMax <= 0 {
		c.LagMax = 30 * time.Second
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Fetchers <= 0 {
		c.Fetchers = 2
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 5 * time.Second
	}
	return c
}

// ReplicaManager applies partition states to the partitions this broker
// hosts (it is the broker's RoleHandler in cluster mode), runs one fetcher
// per leader broker for the partitions it follows, and persists the ISR
// changes of the partitions it leads.
type ReplicaManager struct {
	cfg    Config
	store  Store
	logger *slog.Logger
	// clients are the fetchers' connections: fetcher slot i talks to
	// every leader through clients[i].
	clients []*kgo.Client

	mu       sync.Mutex
	fetchers map[fetcherKey]*fetcher
	roles    map[*partition.Partition]meta.PartitionState

	// OnLeadership, if set, is told when this broker gains or loses the
	// leadership of a partition (the group coordinator follows
	// __consumer_offsets leadership).
	OnLeadership func(p *partition.Partition, leader bool)

	isrWake chan struct{} // see wakeISR

	// restored holds the checkpointed high watermarks of partitions not
	// applied yet since start (mu); restoredFile says a checkpoint
	// existed. lastCheckpoint is the content last written.
	restored       map[tp]int64
	restoredFile   bool
	lastCheckpoint []byte

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewReplicaManager creates the manager; seeds are Kafka addresses of any
// brokers (its own listener suffices: Metadata lists the others).
func NewReplicaManager(cfg Config, store Store, seeds []string) (*ReplicaManager, error) {
	m, err := newReplicaManager(cfg, store, seeds)
	if err != nil {
		return nil, err
	}
	m.wg.Add(2)
	go m.isrLoop()
	go m.checkpointLoop()
	return m, nil
}

// newReplicaManager is NewReplicaManager without the ISR loop (tests
// drive maintainISR themselves).
func newReplicaManager(cfg Config, store Store, seeds []string) (*ReplicaManager, error) {
	cfg = cfg.withDefaults()
	// Replica fetches name topics (Fetch v12): from v13 on, requests and
	// answers carry topic ids instead, which the fetcher does not set, so
	// the client must never upgrade them.
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(1, 12)
	opts := append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("sluice-replica-" + itoa(cfg.BrokerID)),
		kgo.RetryTimeout(5 * time.Second), kgo.RequestTimeoutOverhead(5 * time.Second), kgo.MaxVersions(versions)}, cfg.ClientOpts...)
	var clients []*kgo.Client
	for range cfg.Fetchers {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			for _, c := range clients {
				c.Close()
			}
			return nil, err
		}
		clients = append(clients, cl)
	}
	m := &ReplicaManager{
		cfg:      cfg,
		store:    store,
		logger:   cfg.Logger.With("component", "replicas"),
		clients:  clients,
		fetchers: map[fetcherKey]*fetcher{},
		roles:    map[*partition.Partition]meta.PartitionState{},
		isrWake:  make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	m.loadCheckpoint()
	return m, nil
}

// Close stops fetchers and the ISR loop, then writes the high-watermark
// checkpoint (the partitions are still open: the broker closes them
// after).
func (m *ReplicaManager) Close() {
	select {
	case <-m.stop:
		return
	default:
	}
	close(m.stop)
	m.mu.Lock()
	for _, f := range m.fetchers {
		f.close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	for _, cl := range m.clients {
		cl.Close()
	}
	if err := m.writeCheckpoint(); err != nil {
		m.logger.Warn("high-watermark checkpoint not written at shutdown", "err", err)
	}
}

// ApplyState implements broker.RoleHandler.
func (m *ReplicaManager) ApplyState(p *partition.Partition, ps meta.PartitionState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applyLocked(p, ps)
}

// older reports whether ps is older than prev: states of a partition are
// ordered by leader epoch, then by store version. The watch cache and the
// direct reads of writeISR both deliver states, and a stale one must never
// undo a newer one (an ISR the leader already replaced, or an old epoch).
func older(ps, prev meta.PartitionState) bool {
	return ps.LeaderEpoch < prev.LeaderEpoch || (ps.LeaderEpoch == prev.LeaderEpoch && ps.Version < prev.Version)
}

// applyLocked makes p leader or follower as ps says. m.mu held.
func (m *ReplicaManager) applyLocked(p *partition.Partition, ps meta.PartitionState) {
	prev, known := m.roles[p]
	if known && older(ps, prev) {
		return
	}
	m.roles[p] = ps
	if known && !slices.Equal(prev.Replicas, ps.Replicas) {
		p.SetReplicas(ps.Replicas) // a reassignment grew or shrank the set
	}
	self := m.cfg.BrokerID
	leader, _, epoch, isr := p.Role()
	if !known {
		// First role since start: from the checkpointed high
		// watermark, not Open's log end (read before, so the role
		// change below sees the partition as Open left it).
		m.restoreLocked(p)
	}
	switch {
	case ps.Leader == self:
		if !known || !leader || epoch != ps.LeaderEpoch || prev.Leader != self {
			m.unfollowLocked(p)
			p.SetISRWaker(m.wakeISR)
			p.BecomeLeader(ps.LeaderEpoch, ps.Replicas, ps.ISR)
			if m.OnLeadership != nil {
				m.OnLeadership(p, true)
			}
			// Followers that are already caught up join at once.
			m.wakeISR()
		} else if !slices.Equal(isr, ps.ISR) {
			p.SetISR(ps.ISR)
		}
	default:
		if known && prev.Leader == ps.Leader && prev.LeaderEpoch == ps.LeaderEpoch && !leader {
			return // already following this leader at this epoch
		}
		wasLeader := leader
		p.BecomeFollower(ps.LeaderEpoch, ps.Leader, ps.Replicas)
		if wasLeader && m.OnLeadership != nil {
			m.OnLeadership(p, false)
		}
		m.unfollowLocked(p)
		if ps.Leader >= 0 {
			m.followLocked(p, ps.Leader, ps.LeaderEpoch)
		}
	}
}

// Forget implements broker.RoleHandler.
func (m *ReplicaManager) Forget(p *partition.Partition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ps, ok := m.roles[p]; ok && ps.Leader == m.cfg.BrokerID && m.OnLeadership != nil {
		m.OnLeadership(p, false)
	}
	delete(m.roles, p)
	m.unfollowLocked(p)
}

// fetcherKey names a fetcher: the leader it fetches from and its slot.
type fetcherKey struct {
	leader int32
	slot   int
}

// fetcherSlot spreads partitions over the fetchers of a leader.
func (m *ReplicaManager) fetcherSlot(p *partition.Partition) int {
	h := fnv.New32a()
	h.Write([]byte(p.Topic))
	return int((h.Sum32() + uint32(p.Index)) % uint32(len(m.clients)))
}

func (m *ReplicaManager) followLocked(p *partition.Partition, leader, epoch int32) {
	k := fetcherKey{leader, m.fetcherSlot(p)}
	f := m.fetchers[k]
	if f == nil {
		f = newFetcher(m, leader, m.clients[k.slot])
		m.fetchers[k] = f
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			f.run()
		}()
	}
	f.add(p, epoch)
}

func (m *ReplicaManager) unfollowLocked(p *partition.Partition) {
	for _, f := range m.fetchers {
		f.remove(p)
	}
}

// brokerAddr is broker id's Kafka address as the store lists it.
func (m *ReplicaManager) brokerAddr(id int32) (string, bool) {
	for _, b := range m.store.Brokers() {
		if b.ID == id {
			return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), true
		}
	}
	return "", false
}

// wakeISR has the ISR loop look at the partitions this broker leads now
// (a follower caught up, or leadership was gained). Never blocks.
func (m *ReplicaManager) wakeISR() {
	select {
	case m.isrWake <- struct{}{}:
	default:
	}
}

// isrLoop persists ISR changes of the partitions this broker leads:
// followers that fell behind for LagMax leave (checked every LagMax/4),
// caught-up ones join as soon as a fetch shows it (wakeISR).
func (m *ReplicaManager) isrLoop() {
	defer m.wg.Done()
	t := time.NewTicker(max(m.cfg.LagMax/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		case <-m.isrWake:
		}
		m.mu.Lock()
		var leading []*partition.Partition
		for p, ps := range m.roles {
			if ps.Leader == m.cfg.BrokerID {
				leading = append(leading, p)
			}
		}
		m.mu.Unlock()
		for _, p := range leading {
			if err := m.maintainISR(p); err != nil {
				m.logger.Warn("ISR change not persisted", "topic", p.Topic, "partition", p.Index, "err", err)
			}
		}
	}
}

// isrAttempts bounds the compare-and-set retries of one ISR change; each
// retry starts from the freshly read state, so only a store that keeps
// changing under us exhausts them (the next wake or tick tries again).
const isrAttempts = 5

// errRetryISR: the stored state differed from our view; it has been
// applied and the change is to be proposed again from it.
var errRetryISR = errors.New("cluster: partition state changed; retrying with the stored state")

// maintainISR proposes and persists p's ISR change, if any, retrying
// compare-and-set conflicts at once with the fresh state.
func (m *ReplicaManager) maintainISR(p *partition.Partition) error {
	live := map[int32]bool{}
	for _, b := range m.store.Brokers() {
		live[b.ID] = true
	}
	// A broker in controlled shutdown is leaving: the controller took it
	// out of the ISR, and letting it back in would have acks=all wait for
	// it again right before it stops.
	if ss, ok := m.store.(meta.ShutdownStore); ok {
		for id := range ss.ShuttingDown() {
			delete(live, id)
		}
	}
	var err error
	for range isrAttempts {
		isr, change := p.ISRProposal(m.cfg.LagMax)
		if !change {
			return nil
		}
		// Only registered brokers join: one that fetches while its
		// ZooKeeper session is being re-established would be taken out
		// again at once by the controller ("in-sync replica offline"),
		// and the two would flap at the fetch rate until it registers.
		_, _, _, cur := p.Role()
		isr = slices.DeleteFunc(isr, func(id int32) bool { return !live[id] && !slices.Contains(cur, id) })
		if sameSet(isr, cur) {
			return nil
		}
		if err = m.writeISR(p, isr); !errors.Is(err, errRetryISR) {
			return err
		}
	}
	return err
}

// writeISR stores a new ISR with compare-and-set; the leader applies it
// only once it is stored, so the store never has a smaller ISR than the
// leader uses to advance the high watermark. When the stored state is not
// what this leader believes (another leader epoch or leader, or an ISR the
// controller changed), the stored state is applied right away: this
// broker becomes a follower, or the leader of the stored epoch and ISR,
// and errRetryISR has the caller propose again. Nothing waits for the
// watch cache to notice.
func (m *ReplicaManager) writeISR(p *partition.Partition, isr []int32) error {
	st, ver, err := m.store.PartitionStateVersion(p.Topic, p.Index)
	if err != nil {
		return err
	}
	leader, _, epoch, cur := p.Role()
	if !leader {
		return nil // stepped down meanwhile
	}
	if st.Leader != m.cfg.BrokerID || st.LeaderEpoch != epoch || !sameSet(st.ISR, cur) {
		m.logger.Info("leader view differs from the stored partition state; applying the stored state",
			"topic", p.Topic, "partition", p.Index, "epoch", epoch, "isr", cur,
			"stored_leader", st.Leader, "stored_epoch", st.LeaderEpoch, "stored_isr", st.ISR)
		m.mu.Lock()
		prev, known := m.roles[p]
		stale := known && older(st, prev)
		if !stale {
			m.applyLocked(p, st)
		}
		m.mu.Unlock()
		if stale {
			return fmt.Errorf("cluster: stored state of %s-%d (epoch %d, version %d) is older than the applied one (epoch %d, version %d)",
				p.Topic, p.Index, st.LeaderEpoch, st.Version, prev.LeaderEpoch, prev.Version)
		}
		return errRetryISR
	}
	next := st
	next.ISR = isr
	nv, err := m.store.SetPartitionState(p.Topic, p.Index, next, -1, ver)
	if errors.Is(err, meta.ErrBadVersion) {
		return errRetryISR // re-read and decide again now, not on the next tick
	}
	if err != nil {
		return err
	}
	m.logger.Info("ISR changed", "topic", p.Topic, "partition", p.Index, "isr", isr)
	next.Version = nv
	m.mu.Lock()
	m.applyLocked(p, next)
	m.mu.Unlock()
	return nil
}

// sameSet reports whether a and b hold the same replicas.
func sameSet(a, b []int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func itoa(i int32) string {
	return string(appendInt(nil, int64(i)))
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

var _ = context.Background
