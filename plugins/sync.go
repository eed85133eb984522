package plugins

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeploymentsTopic is the compacted, replicated topic that makes plugin
// deployments cluster-wide: the admin API of any broker publishes deploys
// and removals there (record.go), and every broker applies the topic, from
// its start, to its own registry.
const DeploymentsTopic = "__sluice_plugins"

// topicPollInterval is how often a broker looks for the deployments topic
// before the first deploy anywhere creates it.
const topicPollInterval = 500 * time.Millisecond

// syncer publishes to and applies the deployments topic for one registry.
type syncer struct {
	reg     *Registry
	brokers []string
	extra   []kgo.Opt   // added to both clients (the in-process dialer)
	client  *kgo.Client // producer and admin requests
	admin   *kadm.Client
	cancel  context.CancelFunc
	done    chan struct{}

	topicReady chan struct{} // wakes the consumer once this broker created the topic

	createMu sync.Mutex // one topic creation at a time
	created  bool       // guarded by createMu

	mu       sync.Mutex
	next     int64         // offset after the last record applied; guarded by mu
	advanced chan struct{} // closed (and replaced) when next grows; guarded by mu
}

// StartSync makes this registry follow the cluster-wide deployments topic
// through brokers (bootstrap addresses, normally the node's own listener)
// and routes the admin API's deploys and removals through it. It returns
// at once: the registry keeps serving what it loaded from disk and
// converges as it reads the topic. Stop it with StopSync (Close does too).
//
// extra options are added to its Kafka clients (node gives the
// broker's in-process dialer, so deployments are written by the broker
// itself, not by an anonymous client).
func (r *Registry) StartSync(ctx context.Context, brokers []string, extra ...kgo.Opt) error {
	if len(brokers) == 0 {
		return errors.New("plugins: StartSync needs at least one broker address")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.sync != nil {
		return errors.New("plugins: StartSync called twice")
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(maxDeploymentRecord),
		kgo.MaxBufferedBytes(2 * maxDeploymentRecord),
	}, extra...)...)
	if err != nil {
		return fmt.Errorf("plugins: deployments producer: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &syncer{
		reg: r, brokers: brokers, extra: extra, client: cl, admin: kadm.NewClient(cl),
		cancel: cancel, done: make(chan struct{}),
		topicReady: make(chan struct{}, 1), advanced: make(chan struct{}),
	}
	r.sync = s
	go s.run(sctx)
	return nil
}

// StopSync stops following the deployments topic; the admin API then
// changes this registry only again. Safe to call more than once.
func (r *Registry) StopSync() error {
	r.mu.Lock()
	s := r.sync
	r.sync = nil
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	s.cancel()
	<-s.done
	s.client.Close()
	return nil
}

// syncing is the running syncer, or nil.
func (r *Registry) syncing() *syncer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sync
}

// run waits for the topic, then applies its records forever.
func (s *syncer) run(ctx context.Context) {
	defer close(s.done)
	log := s.reg.logger
	for {
		ok, err := s.topicExists(ctx)
		if ok {
			break
		}
		if err != nil && ctx.Err() == nil {
			log.Debug("plugins: looking for the deployments topic", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.topicReady:
		case <-time.After(topicPollInterval):
		}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(s.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{DeploymentsTopic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxPartitionBytes(maxDeploymentRecord),
		kgo.FetchMaxBytes(2 * maxDeploymentRecord),
		kgo.FetchMaxWait(time.Second),
	}, s.extra...)...)
	if err != nil {
		log.Error("plugins: deployments consumer", "err", err)
		return
	}
	defer cl.Close()
	log.Info("plugins: following the deployments topic", "topic", DeploymentsTopic)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			log.Warn("plugins: reading the deployments topic", "err", err)
		})
		fetches.EachRecord(func(rec *kgo.Record) {
			s.apply(ctx, rec)
			s.advance(rec.Offset + 1)
		})
	}
}

// apply applies one record, logging (not stopping on) failures: a record
// every broker rejects the same way must not wedge the topic.
func (s *syncer) apply(ctx context.Context, rec *kgo.Record) {
	log := s.reg.logger.With("plugin", string(rec.Key), "offset", rec.Offset)
	// Key NAME is the live version, NAME@shadow its shadow (shadow.go).
	name, shadow := strings.CutSuffix(string(rec.Key), shadowSuffix)
	var (
		applied bool
		err     error
	)
	if rec.Value == nil {
		var version int
		version, err = tombstoneVersion(rec)
		switch {
		case err != nil:
		case shadow:
			applied, err = s.reg.applyRemoveShadow(name, version)
		default:
			applied, err = s.reg.applyRemove(name, version)
		}
	} else {
		var (
			dep  Deployment
			code []byte
		)
		dep, code, err = decodeDeployment(name, rec.Value)
		switch {
		case err != nil:
		case shadow:
			applied, err = s.reg.applyShadow(ctx, dep, code)
		default:
			applied, err = s.reg.applyDeploy(ctx, dep, code)
		}
	}
	switch {
	case err != nil && !errors.Is(err, ErrClosed):
		log.Error("plugins: deployment record not applied", "err", err)
	case applied:
		log.Debug("plugins: deployment record applied")
	}
}

func tombstoneVersion(rec *kgo.Record) (int, error) {
	for _, h := range rec.Headers {
		if h.Key == tombstoneVersionKey {
			return parseVersion(h.Value)
		}
	}
	return 0, fmt.Errorf("%w: tombstone without %s header", errBadRecord, tombstoneVersionKey)
}

func (s *syncer) advance(next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if next > s.next {
		s.next = next
		close(s.advanced)
		s.advanced = make(chan struct{})
	}
}

// waitApplied returns once this broker applied the record at offset.
func (s *syncer) waitApplied(ctx context.Context, offset int64) error {
	for {
		s.mu.Lock()
		next, advanced := s.next, s.advanced
		s.mu.Unlock()
		if next > offset {
			return nil
		}
		select {
		case <-advanced:
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("plugins: waiting for this broker to apply the deployment: %w", ctx.Err())
		}
	}
}

func (s *syncer) topicExists(ctx context.Context) (bool, error) {
	topics, err := s.admin.ListTopics(ctx, DeploymentsTopic)
	if err != nil {
		return false, err
	}
	td, ok := topics[DeploymentsTopic]
	if !ok || td.Err != nil {
		return false, nil
	}
	return len(td.Partitions) > 0, nil
}

// ensureTopic creates the deployments topic on first use: one partition
// (a total order of deployments), replicated on up to three brokers,
// compacted (the latest record of each plugin is its state).
func (s *syncer) ensureTopic(ctx context.Context) error {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if s.created {
		return nil
	}
	if ok, err := s.topicExists(ctx); err != nil {
		return fmt.Errorf("plugins: deployments topic: %w", err)
	} else if !ok {
		brokers, err := s.admin.ListBrokers(ctx)
		if err != nil {
			return fmt.Errorf("plugins: deployments topic: %w", err)
		}
		rf := int16(min(3, max(1, len(brokers))))
		maxBytes := strconv.Itoa(maxDeploymentRecord)
		policy := "compact"
		resp, err := s.admin.CreateTopic(ctx, 1, rf, map[string]*string{
			"cleanup.policy":    &policy,
			"max.message.bytes": &maxBytes,
		}, DeploymentsTopic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("plugins: creating the deployments topic: %w", err)
		}
		if err == nil {
			s.reg.logger.Info("plugins: created the deployments topic", "topic", DeploymentsTopic, "replication_factor", rf)
		}
	}
	s.created = true
	select {
	case s.topicReady <- struct{}{}:
	default:
	}
	return nil
}

// produce publishes rec (acks=all) and waits until this broker applied it,
// so the caller's next read sees the change.
func (s *syncer) produce(ctx context.Context, rec *kgo.Record) error {
	if err := s.ensureTopic(ctx); err != nil {
		return err
	}
	res := s.client.ProduceSync(ctx, rec)
	out, err := res.First()
	if err != nil {
		return fmt.Errorf("plugins: publishing to %s: %w", DeploymentsTopic, err)
	}
	return s.waitApplied(ctx, out.Offset)
}

// catchUpWait bounds how long a cluster-wide change waits for this broker
// to apply what other brokers published before it.
const catchUpWait = 5 * time.Second

// catchUp waits (at most catchUpWait) until this broker applied every
// record already in the deployments topic, so a change made through it
// sees what was published through other brokers: a shadow deployed right
// after its live version, a promote right after the shadow, and version
// numbers drawn from the latest state. A record this broker never sees
// (compacted away) only costs the wait; the change then proceeds on what
// this broker has.
func (s *syncer) catchUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	// Right after another broker created the topic, this broker may not
	// know it yet: ask again until it answers (or the wait is over).
	var end int64
	for {
		ends, err := s.admin.ListEndOffsets(ctx, DeploymentsTopic)
		if err == nil {
			o, ok := ends.Lookup(DeploymentsTopic, 0)
			if ok && o.Err == nil {
				end = o.Offset
				break
			}
			// kadm lists a topic the broker does not know as partition
			// -1 with UNKNOWN_TOPIC_OR_PARTITION (and no partition 0):
			// without this check a first deployment waited catchUpWait.
			if u, unknown := ends.Lookup(DeploymentsTopic, -1); unknown && errors.Is(u.Err, kerr.UnknownTopicOrPartition) ||
				ok && errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				if exists, _ := s.topicExists(ctx); !exists {
					return // no deployment anywhere yet
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	if end <= 0 {
		return
	}
	if err := s.waitApplied(ctx, end-1); err != nil {
		s.reg.logger.Debug("plugins: not caught up with the deployments topic", "end", end, "err", err)
	}
}
