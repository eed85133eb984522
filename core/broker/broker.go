// Package broker is the broker core: it owns the cluster metadata store and
// the partitions this broker hosts, creates/deletes/alters topics, and runs
// the background flusher and retention tasks. It knows nothing of the wire
// protocol; core/kafka translates requests into calls here.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sluicemq/sluice/core/group"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
	"github.com/sluicemq/sluice/internal/atomicfile"
)

// cleanShutdownFile marks a data dir whose last shutdown flushed and closed
// every log; without it the next start runs recovery.
const cleanShutdownFile = ".sluice_clean_shutdown"

// inUseFile marks a data dir a broker has opened, so that a missing
// clean-shutdown marker means a crash (in cluster mode, which has no
// meta.json, too).
const inUseFile = ".sluice_data_dir"

// maxTopicNameLen is Kafka's limit (249, so that "<topic>-<partition>"
// directory names fit in 255 bytes).
const maxTopicNameLen = 249

var legalTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// topic is a topic's metadata plus the partitions this broker hosts
// (nil entries for partitions hosted elsewhere).
type topic struct {
	meta  meta.Topic
	parts []*partition.Partition
}

// RoleHandler applies partition states from the metadata store (leader,
// epoch, ISR) to the partitions this broker hosts. Single-node mode uses
// soleLeader; cluster mode's replica manager also starts and stops
// followers' fetchers.
type RoleHandler interface {
	ApplyState(p *partition.Partition, ps meta.PartitionState)
	Forget(p *partition.Partition)
}

// soleLeader is the single-node role handler: this broker leads every
// partition it hosts.
type soleLeader struct{ self int32 }

func (s soleLeader) ApplyState(p *partition.Partition, ps meta.PartitionState) {
	leader, _, epoch, isr := p.Role()
	switch {
	case ps.Leader != s.self:
		return
	case !leader || epoch != ps.LeaderEpoch:
		p.BecomeLeader(ps.LeaderEpoch, ps.Replicas, ps.ISR)
	case !slices.Equal(isr, ps.ISR):
		p.SetISR(ps.ISR)
	default:
		p.SetLeaderEpoch(ps.LeaderEpoch) // records the epoch in the cache once
	}
}

func (soleLeader) Forget(*partition.Partition) {}

// Broker hosts partitions and applies metadata changes.
type Broker struct {
	cfg     Config
	logger  *slog.Logger
	store   meta.Store
	local   *meta.Local // the embedded store in single-node mode; nil in a cluster
	recover bool
	pids    *producerIDs
	roles   RoleHandler

	// reconcileMu serializes reconcile: the partitions this broker hosts
	// follow the metadata store.
	reconcileMu sync.Mutex

	mu     sync.RWMutex // guards topics and byID; never held during I/O waits
	topics map[string]*topic
	byID   map[[16]byte]string

	// adminMu serializes topic creation, deletion and alteration so the
	// store and the partition map change together.
	adminMu sync.Mutex

	groups *group.Coordinator

	traffic trafficRegistry // client traffic per topic partition (traffic.go)

	stop chan struct{}
	wg   sync.WaitGroup
}

// New opens a broker on cfg.DataDir over the given metadata store,
// recovering logs if the last shutdown was not clean, and starts the
// background tasks. The caller decides the run mode by the store it opens
// (node does: meta.Local for a single node, meta.ZK for a cluster member);
// a *meta.Local store makes this broker the whole cluster (it creates
// __consumer_offsets at once and coordinates every group). roles applies
// partition states: nil means this broker leads every partition it hosts
// (single node), a cluster member passes its replica manager. On success
// the broker owns store and closes it in Close; on error the caller
// still does.
func New(cfg Config, store meta.Store, roles RoleHandler) (*Broker, error) {
	if store == nil {
		return nil, errors.New("broker: no metadata store")
	}
	cfg = cfg.Defaults()
	// Segment files are a per-process budget (fds), shared by all logs.
	storage.DefaultFileCache().SetBudget(cfg.MaxOpenSegments)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	b := &Broker{
		cfg:    cfg,
		logger: cfg.Logger,
		topics: map[string]*topic{},
		byID:   map[[16]byte]string{},
		stop:   make(chan struct{}),
	}
	b.local, _ = store.(*meta.Local)
	marker := filepath.Join(cfg.DataDir, cleanShutdownFile)
	_, statErr := os.Stat(marker)
	// A data dir that was used before (it has the in-use marker, or the
	// metadata of a single node from before the marker existed) but lacks
	// the clean-shutdown marker was not shut down cleanly. A local store
	// opened on this directory for the first time has just written its
	// metadata: that file is no sign of an earlier run.
	_, inUseErr := os.Stat(filepath.Join(cfg.DataDir, inUseFile))
	_, metaErr := os.Stat(filepath.Join(cfg.DataDir, "meta.json"))
	earlierMeta := metaErr == nil && !(b.local != nil && b.local.Created())
	b.recover = statErr != nil && (inUseErr == nil || earlierMeta)
	if inUseErr != nil {
		if err := atomicfile.Write(filepath.Join(cfg.DataDir, inUseFile), []byte("sluice data directory\n")); err != nil {
			return nil, fmt.Errorf("broker: mark data dir: %w", err)
		}
	}
	if statErr == nil {
		if err := os.Remove(marker); err != nil {
			return nil, fmt.Errorf("broker: remove clean-shutdown marker: %w", err)
		}
		if err := syncDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	b.store = store
	b.roles = roles
	if b.roles == nil {
		b.roles = soleLeader{self: cfg.BrokerID}
	}
	var err error
	if b.pids, err = openProducerIDs(cfg.DataDir); err != nil {
		return nil, err
	}
	if b.recover {
		b.logger.Warn("previous shutdown was not clean; recovering logs", "data_dir", cfg.DataDir)
	}
	start := time.Now()
	changes := store.Changes() // before the first reconcile reads the store
	if err := b.reconcile(); err != nil {
		b.closePartitions()
		return nil, err
	}
	// After the metadata is applied and before changes are watched:
	// what this broker was removed from while it was down.
	b.removeStrayPartitions() // stray.go
	if err := b.openGroups(); err != nil {
		b.closePartitions()
		return nil, err
	}
	b.logger.Info("broker opened", "data_dir", cfg.DataDir, "topics", len(b.topics),
		"recovered", b.recover, "took", time.Since(start).Round(time.Millisecond))
	b.wg.Add(1)
	go b.watchMetadata(changes)
	b.every(cfg.FlushInterval, b.FlushAll)
	b.every(cfg.RetentionCheckInterval, b.EnforceRetention)
	b.every(cfg.CleanerInterval, b.CompactAll) // Kafka's log cleaner, one thread
	return b, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Config is the broker's effective configuration.
func (b *Broker) Config() Config { return b.cfg }

// SetAdvertised records the endpoint clients are told to use (the
// embedded store; a cluster store registers it when it connects).
func (b *Broker) SetAdvertised(host string, port int32) {
	if b.local != nil {
		b.local.SetSelf(meta.Broker{ID: b.cfg.BrokerID, Host: host, Port: port, Rack: b.cfg.Rack()})
	}
}

// ID is this broker's node id.
func (b *Broker) ID() int32 { return b.cfg.BrokerID }

// Store exposes cluster metadata (brokers, controller, cluster id).
func (b *Broker) Store() meta.Store { return b.store }

func partitionDir(dataDir, topic string, p int32) string {
	return filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(p)))
}

// Topic returns a topic's metadata.
func (b *Broker) Topic(name string) (meta.Topic, bool) { return b.store.Topic(name) }

// TopicName resolves a topic id (Fetch v13+, Metadata v12+).
func (b *Broker) TopicName(id [16]byte) (string, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n, ok := b.byID[id]
	return n, ok
}

// Topics lists all topics' metadata.
func (b *Broker) Topics() []meta.Topic { return b.store.Topics() }

// Partition returns a hosted partition: ErrUnknownTopic if it does not
// exist, ErrNotHosted if another broker hosts it.
func (b *Broker) Partition(topicName string, idx int32) (*partition.Partition, error) {
	if p, ok := b.localPartition(topicName, idx); ok {
		if p == nil {
			return nil, b.notHostedError(topicName, idx)
		}
		return p, nil
	}
	mt, known := b.store.Topic(topicName)
	if !known || idx < 0 || int(idx) >= len(mt.Partitions) {
		return nil, ErrUnknownTopic
	}
	// The metadata has it but this broker has not applied the change yet
	// (a topic another broker just created; clients see it in Metadata at
	// once): apply it now rather than send the client away.
	if err := b.reconcile(); err != nil {
		b.logger.Warn("applying metadata change", "err", err)
	}
	if p, ok := b.localPartition(topicName, idx); ok && p != nil {
		return p, nil
	}
	return nil, b.notHostedError(topicName, idx)
}

// notHostedError is the error for a partition that has no open replica
// here: ErrNotHosted when another broker hosts it, and
// ErrReplicaOffline when it is assigned to this broker but failed to
// open (the next reconcile retries). Sending clients to look for another
// leader would be wrong there: the metadata names this broker.
func (b *Broker) notHostedError(topicName string, idx int32) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[topicName]
	if ok && idx >= 0 && int(idx) < len(t.meta.Partitions) && slices.Contains(t.meta.Partitions[idx].Replicas, b.cfg.BrokerID) {
		return ErrReplicaOffline
	}
	return ErrNotHosted
}

// localPartition looks a partition up in what this broker has applied:
// ok is false when the topic or partition is unknown here; a nil
// partition means another broker hosts it.
func (b *Broker) localPartition(topicName string, idx int32) (*partition.Partition, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[topicName]
	if !ok || idx < 0 || int(idx) >= len(t.parts) {
		return nil, false
	}
	return t.parts[idx], true
}

// EnsureTopic makes sure a topic exists, creating it with the defaults when
// auto-creation is on (Metadata and Produce of unknown topics).
func (b *Broker) EnsureTopic(name string) error {
	if _, ok := b.Topic(name); ok {
		return nil
	}
	if !b.cfg.AutoCreateTopics {
		return ErrUnknownTopic
	}
	_, err := b.CreateTopic(TopicSpec{Name: name, Partitions: -1, ReplicationFactor: -1}, false)
	if errors.Is(err, ErrTopicExists) {
		return nil
	}
	if err == nil {
		b.logger.Info("auto-created topic", "topic", name, "partitions", b.cfg.DefaultPartitions)
	}
	return err
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32 // -1: broker default
	ReplicationFactor int16 // -1: broker default
	Configs           map[string]string
}

// ValidateTopicName applies Kafka's naming rules.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return errf(ErrInvalidTopicName, "topic name is empty")
	case name == "." || name == "..":
		return errf(ErrInvalidTopicName, "topic name cannot be %q", name)
	case len(name) > maxTopicNameLen:
		return errf(ErrInvalidTopicName, "topic name is longer than %d characters", maxTopicNameLen)
	case !legalTopicName.MatchString(name):
		return errf(ErrInvalidTopicName, "topic name %q contains characters other than ASCII alphanumerics, '.', '_' and '-'", name)
	}
	return nil
}

// checkPartitionLimit refuses adding n partitions past max.partitions,
// before any of them is assigned (allocated). Callers hold adminMu.
func (b *Broker) checkPartitionLimit(n int64) error {
	var have int64
	for _, t := range b.store.Topics() {
		have += int64(len(t.Partitions))
	}
	if have+n > int64(b.cfg.MaxPartitions) {
		return errf(ErrInvalidPartitions, "adding %d partitions to the %d there are would pass max.partitions (%d)", n, have, b.cfg.MaxPartitions)
	}
	return nil
}

// CreateTopic validates and creates a topic. With validateOnly nothing is
// created.
func (b *Broker) CreateTopic(spec TopicSpec, validateOnly bool) (meta.Topic, error) {
	if err := ValidateTopicName(spec.Name); err != nil {
		return meta.Topic{}, err
	}
	if spec.Partitions == -1 {
		spec.Partitions = b.cfg.DefaultPartitions
	}
	if spec.Partitions <= 0 {
		return meta.Topic{}, errf(ErrInvalidPartitions, "number of partitions must be positive, got %d", spec.Partitions)
	}
	if spec.ReplicationFactor == -1 {
		spec.ReplicationFactor = 1
	}
	brokers := b.store.Brokers()
	if spec.ReplicationFactor <= 0 || int(spec.ReplicationFactor) > len(brokers) {
		return meta.Topic{}, errf(ErrInvalidReplicationFactor,
			"replication factor %d is invalid: %d broker(s) available", spec.ReplicationFactor, len(brokers))
	}
	for k, v := range spec.Configs {
		if err := ValidateTopicConfig(k, v); err != nil {
			return meta.Topic{}, err
		}
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if _, ok := b.Topic(spec.Name); ok {
		return meta.Topic{}, errf(ErrTopicExists, "topic %q already exists", spec.Name)
	}
	if err := b.checkPartitionLimit(int64(spec.Partitions)); err != nil {
		return meta.Topic{}, err
	}
	t := meta.Topic{Name: spec.Name, Configs: spec.Configs}
	t.Partitions = b.assign(0, spec.Partitions, spec.ReplicationFactor, brokers)
	if validateOnly {
		return t, nil
	}
	t, err := b.store.CreateTopic(t)
	if errors.Is(err, meta.ErrTopicExists) {
		return meta.Topic{}, errf(ErrTopicExists, "topic %q already exists", spec.Name)
	}
	if err != nil {
		return meta.Topic{}, storeError(err)
	}
	if err := b.reconcile(); err != nil {
		b.logger.Error("open new topic", "topic", t.Name, "err", err)
		return meta.Topic{}, errf(ErrStorage, "creating partitions: %v", err)
	}
	return t, nil
}

// assign places partitions [from, from+n) with the seed algorithm: sort
// brokers; partition i's j-th replica goes to broker (i+j) mod len.
func (b *Broker) assign(from, n int32, rf int16, brokers []meta.Broker) []meta.PartitionState {
	ids := make([]int32, len(brokers))
	for i, br := range brokers {
		ids[i] = br.ID
	}
	sortInt32s(ids)
	out := make([]meta.PartitionState, 0, n)
	for i := from; i < from+n; i++ {
		replicas := make([]int32, rf)
		for j := range replicas {
			replicas[j] = ids[(int(i)+j)%len(ids)]
		}
		out = append(out, meta.PartitionState{
			Replicas: replicas,
			ISR:      append([]int32(nil), replicas...),
			Leader:   replicas[0],
		})
	}
	return out
}

func sortInt32s(s []int32) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// DeleteTopic removes a topic and its data.
func (b *Broker) DeleteTopic(name string) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if err := b.store.DeleteTopic(name); err != nil {
		if errors.Is(err, meta.ErrUnknownTopic) {
			return ErrUnknownTopic
		}
		return storeError(err)
	}
	b.logger.Info("deleted topic", "topic", name)
	return b.reconcile()
}

// CreatePartitions grows a topic to count partitions.
func (b *Broker) CreatePartitions(name string, count int32, validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	t, ok := b.Topic(name)
	if !ok {
		return ErrUnknownTopic
	}
	have := int32(len(t.Partitions))
	if count <= have {
		return errf(ErrInvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", name, have, count)
	}
	if err := b.checkPartitionLimit(int64(count) - int64(have)); err != nil {
		return err
	}
	if err := b.checkNotReassigning(name); err != nil { // reassign.go
		return err
	}
	rf := int16(len(t.Partitions[0].Replicas))
	brokers := b.store.Brokers()
	if int(rf) > len(brokers) {
		// assign would repeat brokers within a partition's replicas.
		return errf(ErrInvalidReplicationFactor, "topic %q has replication factor %d but only %d broker(s) are available", name, rf, len(brokers))
	}
	parts := b.assign(have, count-have, rf, brokers)
	if validateOnly {
		return nil
	}
	if _, err := b.store.AddPartitions(name, parts); err != nil {
		return storeError(err)
	}
	return b.reconcile()
}

// SetTopicConfigs replaces a topic's dynamic configs (AlterConfigs).
func (b *Broker) SetTopicConfigs(name string, configs map[string]string, validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if _, ok := b.Topic(name); !ok {
		return ErrUnknownTopic
	}
	return b.setTopicConfigsLocked(name, configs, validateOnly)
}

// setTopicConfigsLocked validates and stores a topic's configs. Callers
// hold adminMu and checked that the topic exists.
func (b *Broker) setTopicConfigsLocked(name string, configs map[string]string, validateOnly bool) error {
	for k, v := range configs {
		if err := ValidateTopicConfig(k, v); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	if _, err := b.store.SetTopicConfigs(name, configs); err != nil {
		if errors.Is(err, meta.ErrUnknownTopic) {
			return ErrUnknownTopic
		}
		return storeError(err)
	}
	return b.reconcile()
}

// ConfigOp is one IncrementalAlterConfigs operation.
type ConfigOp struct {
	Name  string
	Op    int8 // 0 set, 1 delete, 2 append, 3 subtract
	Value *string
}

// AlterTopicConfigs applies incremental operations to a topic's configs.
// The edit runs inside the store's read-modify-write
// (meta.Store.UpdateTopicConfigs) on the stored configs, not this
// broker's cached copy: two concurrent alters of one topic, also through
// different brokers, must not each write back a copy lacking the other's
// change. adminMu still orders this broker's own admin writes.
func (b *Broker) AlterTopicConfigs(name string, ops []ConfigOp, validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	t, ok := b.Topic(name)
	if !ok {
		return ErrUnknownTopic
	}
	edit := func(cur map[string]string) (map[string]string, error) {
		configs := maps.Clone(cur)
		if configs == nil {
			configs = map[string]string{}
		}
		if err := b.applyConfigOps(configs, ops); err != nil {
			return nil, err
		}
		for k, v := range configs {
			if err := ValidateTopicConfig(k, v); err != nil {
				return nil, err
			}
		}
		return configs, nil
	}
	if validateOnly {
		_, err := edit(t.Configs)
		return err
	}
	if _, err := b.store.UpdateTopicConfigs(name, edit); err != nil {
		if errors.Is(err, meta.ErrUnknownTopic) {
			return ErrUnknownTopic
		}
		return storeError(err) // edit's own errors pass through as they are
	}
	return b.reconcile()
}

// applyConfigOps edits configs in place by ops.
func (b *Broker) applyConfigOps(configs map[string]string, ops []ConfigOp) error {
	for _, op := range ops {
		def, known := topicConfigDefs[op.Name]
		if !known {
			return &ConfigError{Name: op.Name, Reason: "unknown topic config"}
		}
		val := ""
		if op.Value != nil {
			val = *op.Value
		}
		switch op.Op {
		case 0:
			configs[op.Name] = val
		case 1:
			delete(configs, op.Name)
		case 2, 3:
			if def.kind != kindList {
				return errf(ErrInvalidConfig, "config %s is not a list: APPEND/SUBTRACT do not apply", op.Name)
			}
			configs[op.Name] = editList(b.topicValue(configs, op.Name), val, op.Op == 2)
		default:
			return errf(ErrUnknownConfigOp, "unknown config operation %d", op.Op)
		}
	}
	return nil
}

// editList appends or subtracts val, itself a list as in Kafka (APPEND
// "delete,compact" adds both), to the list cur.
func editList(cur, val string, add bool) string {
	vals := splitList(val)
	var out []string
	seen := map[string]bool{}
	for _, s := range splitList(cur) {
		if !add && slices.Contains(vals, s) {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	if add {
		for _, v := range vals {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return joinList(out)
}

// partitionsWithPolicy returns the partitions of topics whose
// cleanup.policy contains policy.
func (b *Broker) partitionsWithPolicy(policy string) []*partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []*partition.Partition
	for _, t := range b.topics {
		for _, pol := range splitList(b.topicValue(t.meta.Configs, "cleanup.policy")) {
			if pol == policy {
				for _, p := range t.parts {
					if p != nil {
						out = append(out, p)
					}
				}
				break
			}
		}
	}
	return out
}

// partitions returns a snapshot of every hosted partition.
func (b *Broker) partitions() []*partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []*partition.Partition
	for _, t := range b.topics {
		for _, p := range t.parts {
			if p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// every runs fn every interval until the broker closes (the background
// flusher, retention and cleaner tasks).
func (b *Broker) every(interval time.Duration, fn func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				fn()
			}
		}
	}()
}

// FlushAll fsyncs every partition with unflushed data, like Kafka's log
// flusher, so that page-cache data reaches disk within FlushInterval and
// unclean restarts scan little.
func (b *Broker) FlushAll() {
	for _, p := range b.partitions() {
		if err := p.Flush(); err != nil && !routineStorageError(err) {
			b.logger.Error("flush", "topic", p.Topic, "partition", p.Index, "err", err)
		}
	}
}

// EnforceRetention runs one retention pass over every partition of
// topics whose cleanup.policy includes delete (compacted-only topics keep
// their history, as in Kafka).
func (b *Broker) EnforceRetention() {
	for _, p := range b.partitionsWithPolicy("delete") {
		n, err := p.EnforceRetention()
		if routineStorageError(err) {
			continue
		}
		if err != nil {
			b.logger.Error("retention", "topic", p.Topic, "partition", p.Index, "err", err)
		} else if n > 0 {
			b.logger.Info("retention deleted segments", "topic", p.Topic, "partition", p.Index, "segments", n)
		}
	}
}

// closePartitions flushes and closes every hosted partition, several at a
// time (a shutdown of thousands of partitions is mostly fsync waits).
func (b *Broker) closePartitions() error {
	parts := b.partitions()
	errs := make([]error, len(parts))
	inParallel(len(parts), func(k int) {
		if err := parts[k].Close(); err != nil {
			errs[k] = fmt.Errorf("%s-%d: %w", parts[k].Topic, parts[k].Index, err)
		}
	})
	return errors.Join(errs...)
}

// Close stops background work, flushes and closes every partition, and
// writes the clean-shutdown marker if all of that succeeded.
func (b *Broker) Close() error {
	select {
	case <-b.stop:
		return nil
	default:
	}
	close(b.stop)
	b.wg.Wait()
	if b.groups != nil {
		b.groups.Close()
	}
	err := b.closePartitions()
	if cerr := b.store.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		b.logger.Error("unclean close; next start will recover", "err", err)
		return err
	}
	if err := atomicfile.Write(filepath.Join(b.cfg.DataDir, cleanShutdownFile), []byte("clean\n")); err != nil {
		return err
	}
	b.logger.Info("broker closed cleanly")
	return nil
}
