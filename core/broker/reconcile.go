package broker

import (
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// reconcile makes the partitions this broker hosts follow the metadata
// store: it opens local replicas of new topics and partitions, applies
// config and role changes, and deletes the data of deleted topics. It is
// the one path for changes made here (called synchronously, so a created
// topic is usable when CreateTopics answers) and for changes made by
// other brokers (called by watchMetadata).
func (b *Broker) reconcile() error {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()
	self := b.cfg.BrokerID
	seen := map[string]bool{}
	var errs []error
	for _, t := range b.store.Topics() {
		seen[t.Name] = true
		b.mu.RLock()
		ts := b.topics[t.Name]
		b.mu.RUnlock()
		if ts != nil && ts.meta.ID != t.ID {
			// Deleted and re-created while we weren't looking.
			b.dropTopic(ts)
			ts = nil
		}
		grew := ts != nil && len(t.Partitions) > len(ts.meta.Partitions)
		created := ts == nil
		var parts []*partition.Partition
		configChanged := true
		if ts != nil {
			parts = slices.Clone(ts.parts)
			configChanged = !maps.Equal(ts.meta.Configs, t.Configs)
		}
		pcfg := b.partitionConfig(t.Configs)
		var toOpen []int // partitions of t to open here, in order
		for i, ps := range t.Partitions {
			if i < len(parts) && parts[i] != nil && !slices.Contains(ps.Replicas, self) {
				// Reassigned away from this broker: drop the copy.
				b.removeReplica(parts[i])
				parts[i] = nil
				continue
			}
			if i < len(parts) && parts[i] != nil {
				if configChanged {
					parts[i].SetConfig(pcfg)
				}
				b.roles.ApplyState(parts[i], ps)
				continue
			}
			for len(parts) <= i {
				parts = append(parts, nil)
			}
			if !slices.Contains(ps.Replicas, self) {
				continue
			}
			toOpen = append(toOpen, i)
		}
		opened, openErrs := b.openPartitions(t, toOpen, pcfg)
		errs = append(errs, openErrs...)
		for k, i := range toOpen {
			parts[i] = opened[k]
		}
		b.mu.Lock()
		if ts == nil {
			ts = &topic{}
		}
		ts.meta, ts.parts = t, parts
		b.topics[t.Name] = ts
		b.byID[t.ID] = t.Name
		b.mu.Unlock()
		if grew && b.groups != nil {
			// Consumer groups subscribed to the topic rebalance so the
			// new partitions get consumed.
			go b.groups.TopicChanged(t.Name)
		} else if created && b.groups != nil {
			// Consumer groups' regex subscriptions may match it.
			go b.groups.TopicsChanged()
		}
	}
	b.mu.RLock()
	var gone []*topic
	for name, ts := range b.topics {
		if !seen[name] {
			gone = append(gone, ts)
		}
	}
	b.mu.RUnlock()
	for _, ts := range gone {
		b.dropTopic(ts)
	}
	return errors.Join(errs...)
}

// partitionIOParallelism bounds how many partitions are opened or closed
// at once. Opening a new partition is a few file creations and an epoch
// checkpoint fsync, recovering one reads its tail, closing one flushes
// it; done one by one, creating a topic of 1,000 partitions took 2 s on
// an idle disk and over 25 s on a busy one (past a client's request
// timeout, whose retry then found the topic existing). Disks serve
// parallel fsyncs far better than a queue of one; 8 keeps a burst's file
// descriptors and memory small.
const partitionIOParallelism = 8

// inParallel calls fn(0..n-1), up to partitionIOParallelism at a time,
// and returns when all calls have.
func inParallel(n int, fn func(k int)) {
	sem := make(chan struct{}, partitionIOParallelism)
	var wg sync.WaitGroup
	for k := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(k)
		}()
	}
	wg.Wait()
}

// openPartitions opens the given partitions of a topic and applies their
// state (a new leader's first epoch is a checkpoint write and fsync too),
// in parallel. opened[k] is partition idx[k], nil when it failed (its
// error is in errs).
func (b *Broker) openPartitions(t meta.Topic, idx []int, pcfg partition.Config) (opened []*partition.Partition, errs []error) {
	opened = make([]*partition.Partition, len(idx))
	failed := make([]error, len(idx))
	inParallel(len(idx), func(k int) {
		i := int32(idx[k])
		dir := partitionDir(b.cfg.DataDir, t.Name, i)
		if err := b.claimPartitionDir(dir, t, i); err != nil { // topicid.go
			failed[k] = err
			return
		}
		p, err := partition.Open(t.Name, i, dir, pcfg, b.recover, b.logger)
		if err != nil {
			failed[k] = err
			return
		}
		p.UseTraffic(b.traffic.get(t.Name, i))
		b.roles.ApplyState(p, t.Partitions[i])
		opened[k] = p
	})
	for _, err := range failed {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return opened, errs
}

// dropTopic forgets a deleted topic and removes its local data.
func (b *Broker) dropTopic(ts *topic) {
	b.mu.Lock()
	if cur := b.topics[ts.meta.Name]; cur == ts {
		delete(b.topics, ts.meta.Name)
	}
	delete(b.byID, ts.meta.ID)
	b.mu.Unlock()
	b.traffic.drop(ts.meta.Name)
	deleted := true
	for _, p := range ts.parts {
		if p == nil {
			continue
		}
		b.roles.Forget(p)
		if err := p.Delete(); err != nil {
			deleted = false
			b.logger.Error("delete partition data", "topic", p.Topic, "partition", p.Index, "err", err)
		}
	}
	if b.groups != nil {
		b.groups.TopicDeleted(ts.meta.Name)
		b.groups.TopicsChanged()
	}
	if deleted {
		// Else the marker stays and the stray scan of the next start
		// finds what is left.
		b.ackDeletion(ts.meta.Name) // stray.go
	}
}

// watchMetadata reconciles whenever the store reports a change (topics
// created, deleted or altered by other brokers, leader and ISR changes).
// The next change channel is taken before reconciling: a change that
// lands while reconcile runs (after it read the store) closes that
// channel and is applied by another pass. Taking it afterwards lost such
// changes until some unrelated change came along, which in a quiet
// cluster can be never (a leader that missed its new epoch wedged every
// follower fetching from it).
// ch is the change channel taken before the broker's first reconcile.
func (b *Broker) watchMetadata(ch <-chan struct{}) {
	defer b.wg.Done()
	for {
		select {
		case <-b.stop:
			return
		case <-ch:
			ch = b.store.Changes()
			if err := b.reconcile(); err != nil {
				b.logger.Error("applying metadata change", "err", err)
			}
		}
	}
}

var _ RoleHandler = soleLeader{}
var _ meta.Store = (*meta.Local)(nil)
