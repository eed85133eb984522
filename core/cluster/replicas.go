package cluster

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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

	// ClientOpts are added to the replica fetchers' client: SASL and TLS
	// so that followers authenticate to leaders.
	ClientOpts []kgo.Opt
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
	client *kgo.Client

	mu       sync.Mutex
	fetchers map[int32]*fetcher // by leader id
	roles    map[*partition.Partition]meta.PartitionState

	// OnLeadership, if set, is told when this broker gains or loses the
	// leadership of a partition (the group coordinator follows
	// __consumer_offsets leadership).
	OnLeadership func(p *partition.Partition, leader bool)

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewReplicaManager creates the manager; seeds are Kafka addresses of any
// brokers (its own listener suffices: Metadata lists the others).
func NewReplicaManager(cfg Config, store Store, seeds []string) (*ReplicaManager, error) {
	cfg = cfg.withDefaults()
	opts := append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("sluice-replica-" + itoa(cfg.BrokerID)),
		kgo.RetryTimeout(5 * time.Second), kgo.RequestTimeoutOverhead(5 * time.Second)}, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	m := &ReplicaManager{
		cfg:      cfg,
		store:    store,
		logger:   cfg.Logger.With("component", "replicas"),
		client:   cl,
		fetchers: map[int32]*fetcher{},
		roles:    map[*partition.Partition]meta.PartitionState{},
		stop:     make(chan struct{}),
	}
	m.wg.Add(1)
	go m.isrLoop()
	return m, nil
}

// Close stops fetchers and the ISR loop.
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
	m.client.Close()
}

// ApplyState implements broker.RoleHandler.
func (m *ReplicaManager) ApplyState(p *partition.Partition, ps meta.PartitionState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, known := m.roles[p]
	m.roles[p] = ps
	self := m.cfg.BrokerID
	leader, _, epoch, isr := p.Role()
	switch {
	case ps.Leader == self:
		if !known || !leader || epoch != ps.LeaderEpoch || prev.Leader != self {
			m.unfollowLocked(p)
			p.BecomeLeader(ps.LeaderEpoch, ps.Replicas, ps.ISR)
			if m.OnLeadership != nil {
				m.OnLeadership(p, true)
			}
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

func (m *ReplicaManager) followLocked(p *partition.Partition, leader, epoch int32) {
	f := m.fetchers[leader]
	if f == nil {
		f = newFetcher(m, leader)
		m.fetchers[leader] = f
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

// isrLoop persists ISR changes of the partitions this broker leads:
// followers that fell behind for LagMax leave, caught-up ones join.
func (m *ReplicaManager) isrLoop() {
	defer m.wg.Done()
	t := time.NewTicker(max(m.cfg.LagMax/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
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
			isr, change := p.ISRProposal(m.cfg.LagMax)
			if !change {
				continue
			}
			if err := m.writeISR(p, isr); err != nil {
				m.logger.Warn("ISR change not persisted", "topic", p.Topic, "partition", p.Index, "isr", isr, "err", err)
			}
		}
	}
}

// writeISR stores a new ISR with compare-and-set; the leader applies it
// only once it is stored, so the store never has a smaller ISR than the
// leader uses to advance the high watermark.
func (m *ReplicaManager) writeISR(p *partition.Partition, isr []int32) error {
	st, ver, err := m.store.PartitionStateVersion(p.Topic, p.Index)
	if err != nil {
		return err
	}
	_, _, epoch, _ := p.Role()
	if st.Leader != m.cfg.BrokerID || st.LeaderEpoch != epoch {
		return errLostRace // leadership moved; the watch will tell us
	}
	st.ISR = isr
	if _, err := m.store.SetPartitionState(p.Topic, p.Index, st, -1, ver); err != nil {
		return err
	}
	m.logger.Info("ISR changed", "topic", p.Topic, "partition", p.Index, "isr", isr)
	p.SetISR(isr)
	return nil
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
