package meta

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/nats-io/nuid"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/internal/atomicfile"
)

// localFile is the embedded store's file inside the data dir.
const localFile = "meta.json"

// Local is the embedded single-node store: a cluster of one broker whose
// metadata lives in <data-dir>/meta.json, rewritten atomically (tmp file,
// fsync, rename, fsync dir) on every change.
type Local struct {
	path    string
	self    Broker
	created bool // OpenLocal initialised the store: there was no file

	mu      sync.RWMutex // guards state and changed
	state   localState
	changed chan struct{}

	usersMu sync.Mutex // guards users (local_users.go)
	users   map[string]map[string]auth.ScramCredential
	acls    localACLs // see local_acls.go
}

type localState struct {
	ClusterID string           `json:"cluster_id"`
	Topics    map[string]Topic `json:"topics"`
	// BrokerConfigs are the dynamic broker configs by entity
	// (local_brokerconfigs.go).
	BrokerConfigs map[string]map[string]string `json:"broker_configs,omitempty"`
}

// OpenLocal loads (or initialises) the store in dir; self is this broker.
func OpenLocal(dir string, self Broker) (*Local, error) {
	l := &Local{path: filepath.Join(dir, localFile), self: self, changed: make(chan struct{})}
	b, err := os.ReadFile(l.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.state = localState{ClusterID: nuid.Next(), Topics: map[string]Topic{}}
		if err := l.persistLocked(); err != nil {
			return nil, err
		}
		l.created = true
	case err != nil:
		return nil, fmt.Errorf("meta: read %s: %w", l.path, err)
	default:
		if err := json.Unmarshal(b, &l.state); err != nil {
			return nil, fmt.Errorf("meta: parse %s: %w", l.path, err)
		}
		if l.state.Topics == nil {
			l.state.Topics = map[string]Topic{}
		}
	}
	return l, nil
}

// Created reports whether OpenLocal initialised a new store (no metadata
// file was in the directory): the broker then does not take the file for
// a sign of an earlier run.
func (l *Local) Created() bool { return l.created }

// SetSelf updates this broker's advertised endpoint (known after binding).
func (l *Local) SetSelf(b Broker) {
	l.mu.Lock()
	l.self = b
	l.mu.Unlock()
}

func (l *Local) ClusterID() string   { return l.state.ClusterID }
func (l *Local) ControllerID() int32 { return l.self.ID }

func (l *Local) Brokers() []Broker {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return []Broker{l.self}
}

func (l *Local) Topics() []Topic {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Topic, 0, len(l.state.Topics))
	for _, t := range l.state.Topics {
		out = append(out, t.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (l *Local) Topic(name string) (Topic, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.state.Topics[name]
	if !ok {
		return Topic{}, false
	}
	return t.Clone(), true
}

// CreateTopic validates t as ZK.CreateTopic does (Kafka's name rules,
// distinct replicas, a leader in its ISR or -1), so both stores refuse
// the same topics with ErrInvalid.
func (l *Local) CreateTopic(t Topic) (Topic, error) {
	if err := validTopicName(t.Name); err != nil {
		return Topic{}, err
	}
	if err := validPartitions(t.Partitions); err != nil {
		return Topic{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.state.Topics[t.Name]; ok {
		return Topic{}, ErrTopicExists
	}
	if t.ID == ([16]byte{}) {
		if _, err := rand.Read(t.ID[:]); err != nil {
			return Topic{}, err
		}
	}
	t = t.Clone()
	l.state.Topics[t.Name] = t
	if err := l.commitLocked(); err != nil {
		delete(l.state.Topics, t.Name)
		return Topic{}, err
	}
	return t.Clone(), nil
}

func (l *Local) DeleteTopic(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.state.Topics[name]
	if !ok {
		return ErrUnknownTopic
	}
	delete(l.state.Topics, name)
	if err := l.commitLocked(); err != nil {
		l.state.Topics[name] = t
		return err
	}
	return nil
}

func (l *Local) AddPartitions(name string, parts []PartitionState) (Topic, error) {
	if err := validPartitions(parts); err != nil {
		return Topic{}, err
	}
	return l.update(name, func(t *Topic) { t.Partitions = append(t.Partitions, parts...) })
}

func (l *Local) SetTopicConfigs(name string, configs map[string]string) (Topic, error) {
	return l.update(name, func(t *Topic) {
		t.Configs = make(map[string]string, len(configs))
		for k, v := range configs {
			t.Configs[k] = v
		}
	})
}

// UpdateTopicConfigs implements Store: the read, edit and write happen
// under the store's lock.
func (l *Local) UpdateTopicConfigs(name string, edit ConfigEdit) (Topic, error) {
	return l.updateErr(name, func(t *Topic) error {
		next, err := edit(cloneConfigs(t.Configs))
		if err != nil {
			return err
		}
		t.Configs = cloneConfigs(next)
		return nil
	})
}

func (l *Local) update(name string, fn func(*Topic)) (Topic, error) {
	return l.updateErr(name, func(t *Topic) error { fn(t); return nil })
}

// updateErr applies fn to a copy of the topic under the lock and commits
// it unless fn fails.
func (l *Local) updateErr(name string, fn func(*Topic) error) (Topic, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.state.Topics[name]
	if !ok {
		return Topic{}, ErrUnknownTopic
	}
	t := old.Clone()
	if err := fn(&t); err != nil {
		return Topic{}, err
	}
	l.state.Topics[name] = t
	if err := l.commitLocked(); err != nil {
		l.state.Topics[name] = old
		return Topic{}, err
	}
	return t.Clone(), nil
}

func (l *Local) Changes() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changed
}

func (l *Local) Close() error { return nil }

// commitLocked persists and announces a change. l.mu must be held.
func (l *Local) commitLocked() error {
	if err := l.persistLocked(); err != nil {
		return err
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return nil
}

func (l *Local) persistLocked() error {
	b, err := json.MarshalIndent(l.state, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(l.path, b)
}
