package meta

import (
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/go-zookeeper/zk"
)

// Dynamic broker configs over ZooKeeper, where Kafka keeps them:
// /config/brokers/<id> for one broker and /config/brokers/<default> for
// the cluster-wide default, each {"version":1,"config":{...}}. A broker
// watches its own node and the default one, so a change made through any
// broker reaches it; other brokers' nodes are read when asked for.

const zkBrokerConfigsPath = "/config/brokers"

func zkBrokerConfigPath(entity string) string { return zkBrokerConfigsPath + "/" + entity }

// zkBrokerConfigs caches the watched entities' configs. The watches start
// on first use, so a store that never serves broker configs pays nothing;
// one that failed to start (ZooKeeper unreachable) is tried again on the
// next use.
type zkBrokerConfigs struct {
	startMu sync.Mutex      // serialises starting watches
	watched map[string]bool // entities whose watch runs; guarded by startMu
	mu      sync.Mutex
	configs map[string]map[string]string // by watched entity
	mzxid   map[string]int64             // last change seen, by watched entity
}

var _ BrokerConfigStore = (*ZK)(nil)

// watchedBrokerEntity reports whether entity is one this broker caches.
func (z *ZK) watchedBrokerEntity(entity string) bool {
	return entity == DefaultBrokerEntity || entity == BrokerEntity(z.Self().ID)
}

// BrokerConfigs implements BrokerConfigStore.
func (z *ZK) BrokerConfigs(entity string) (map[string]string, error) {
	if !validBrokerEntity(entity) {
		return nil, fmt.Errorf("%w: broker config entity %q", ErrInvalid, entity)
	}
	if z.watchedBrokerEntity(entity) {
		if err := z.startBrokerConfigWatch(); err != nil {
			return nil, err
		}
		z.bcfg.mu.Lock()
		defer z.bcfg.mu.Unlock()
		return cloneConfigs(z.bcfg.configs[entity]), nil
	}
	data, _, err := z.conn.Get(z.abs(zkBrokerConfigPath(entity)))
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return map[string]string{}, nil
	case err != nil:
		return nil, fmt.Errorf("meta: read broker configs of %s: %w", entity, err)
	}
	return decodeTopicConfig(data) // the same {"version":1,"config":{}} shape
}

// SetBrokerConfigs implements BrokerConfigStore.
func (z *ZK) SetBrokerConfigs(entity string, configs map[string]string) error {
	return z.UpdateBrokerConfigs(entity, func(map[string]string) (map[string]string, error) { return configs, nil })
}

// UpdateBrokerConfigs implements BrokerConfigStore: the write is
// conditional on the znode version read (a create when there is none),
// and a lost race re-reads and edits again.
func (z *ZK) UpdateBrokerConfigs(entity string, edit ConfigEdit) error {
	if !validBrokerEntity(entity) {
		return fmt.Errorf("%w: broker config entity %q", ErrInvalid, entity)
	}
	path := z.abs(zkBrokerConfigPath(entity))
	var stat *zk.Stat
	var want map[string]string
	done := false
	for attempt := 0; attempt < zkConfigWriteAttempts && !done; attempt++ {
		cur := map[string]string{}
		data, rstat, err := z.conn.Get(path)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			rstat = nil
		case err != nil:
			return fmt.Errorf("meta: read broker configs of %s: %w", entity, err)
		default:
			if cur, err = decodeTopicConfig(data); err != nil {
				return err
			}
		}
		next, err := edit(cur)
		if err != nil {
			return err
		}
		want = next
		enc := encodeTopicConfig(next)
		if rstat != nil {
			stat, err = z.conn.Set(path, enc, rstat.Version)
			if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
				continue // another write won: edit what is stored now
			}
		} else {
			stat = nil // a create tells no zxid: wait for the content instead
			_, err = z.create(path, enc, 0)
			if errors.Is(err, zk.ErrNodeExists) {
				continue // created meanwhile: edit that
			}
		}
		if err != nil {
			return fmt.Errorf("meta: set broker configs of %s: %w", entity, err)
		}
		done = true
	}
	if !done {
		return fmt.Errorf("%w: set broker configs of %s: they kept changing", ErrBadVersion, entity)
	}
	if z.watchedBrokerEntity(entity) {
		if err := z.startBrokerConfigWatch(); err != nil {
			return err
		}
		z.awaitCache("set broker configs", func() bool {
			z.bcfg.mu.Lock()
			defer z.bcfg.mu.Unlock()
			if stat != nil {
				return z.bcfg.mzxid[entity] >= stat.Mzxid
			}
			return maps.Equal(z.bcfg.configs[entity], want) || (len(want) == 0 && len(z.bcfg.configs[entity]) == 0)
		})
	}
	return nil
}

func (z *ZK) startBrokerConfigWatch() error {
	z.bcfg.startMu.Lock()
	defer z.bcfg.startMu.Unlock()
	if z.bcfg.watched == nil {
		z.bcfg.watched = map[string]bool{}
		z.bcfg.mu.Lock()
		z.bcfg.configs = map[string]map[string]string{}
		z.bcfg.mzxid = map[string]int64{}
		z.bcfg.mu.Unlock()
	}
	for _, entity := range []string{DefaultBrokerEntity, BrokerEntity(z.Self().ID)} {
		if z.bcfg.watched[entity] {
			continue
		}
		refresh := z.refreshBrokerConfig(entity)
		w, err := refresh(nil)
		if err != nil {
			return err
		}
		z.bcfg.watched[entity] = true
		// Re-read every brokerRelist besides the watch, as the broker
		// list is: a lost watch must not leave a throttle stale for good.
		z.spawnWatch("broker configs "+entity, w, z.periodicKick(brokerRelist), nil, refresh)
	}
	return nil
}

// refreshBrokerConfig follows one entity's node: its data while it
// exists, its creation while it does not.
func (z *ZK) refreshBrokerConfig(entity string) refreshFunc {
	path := z.abs(zkBrokerConfigPath(entity))
	return func(pending <-chan zk.Event) (<-chan zk.Event, error) {
		var configs map[string]string
		var mzxid int64
		wch := pending
		for {
			data, stat, w, err := z.getMaybeWatch(path, wch)
			if err != nil {
				return w, err
			}
			wch = w
			if data != nil {
				if configs, err = decodeTopicConfig(data); err != nil {
					z.log.Error("malformed broker config; keeping the previous one", "entity", entity, "err", err)
					return wch, nil
				}
				mzxid = stat.Mzxid
				break
			}
			// Missing: GetW armed nothing, so watch for its creation.
			if wch == nil {
				ok, _, ew, err := z.conn.ExistsW(path)
				if err != nil {
					return nil, fmt.Errorf("meta: watch %s: %w", path, err)
				}
				wch = ew
				if ok {
					continue // created meanwhile: read it (the watch stays)
				}
			}
			configs = map[string]string{}
			break
		}
		z.mu.Lock()
		z.bcfg.mu.Lock()
		changed := !maps.Equal(z.bcfg.configs[entity], configs)
		z.bcfg.configs[entity] = configs
		if mzxid > z.bcfg.mzxid[entity] {
			z.bcfg.mzxid[entity] = mzxid
		}
		z.bcfg.mu.Unlock()
		if changed {
			z.changedLocked()
		}
		z.mu.Unlock()
		return wch, nil
	}
}
