package meta

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"

	"github.com/go-zookeeper/zk"
)

// zkWriteAttempts bounds read-modify-write retries that lost a race.
const zkWriteAttempts = 5

// zkConfigWriteAttempts bounds config read-modify-writes: every lost race
// is another alter of the same configs that landed, and a tool may send
// many at once (one per key), so allow more than zkWriteAttempts.
const zkConfigWriteAttempts = 64

// maxTopicNameLen is Kafka's limit.
const maxTopicNameLen = 249

// validTopicName applies Kafka's rules, which also keep a name a single,
// safe znode path component.
func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxTopicNameLen {
		return fmt.Errorf("%w: topic name %q", ErrInvalid, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: topic name %q has illegal character %q", ErrInvalid, name, c)
		}
	}
	return nil
}

func validPartitions(parts []PartitionState) error {
	if len(parts) == 0 {
		return fmt.Errorf("%w: no partitions", ErrInvalid)
	}
	for i, p := range parts {
		seen := map[int32]bool{}
		for _, r := range p.Replicas {
			if r < 0 || seen[r] {
				return fmt.Errorf("%w: partition %d replicas %v must be distinct broker ids", ErrInvalid, i, p.Replicas)
			}
			seen[r] = true
		}
		if len(p.Replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalid, i)
		}
		if err := validateState(p, p.Replicas); err != nil {
			return fmt.Errorf("partition %d: %w", i, err)
		}
	}
	return nil
}

// partitionOps creates partition nodes first..first+len(parts)-1 with their
// initial states.
func (z *ZK) partitionOps(topic string, first int, parts []PartitionState) []any {
	_, epoch := z.Controller()
	ops := make([]any, 0, 2*len(parts))
	for i, p := range parts {
		n := int32(first + i)
		ops = append(ops,
			z.createRequest(z.abs(zkPartitionPath(topic, n)), nil, 0),
			z.createRequest(z.abs(zkPartitionStatePath(topic, n)), encodePartitionState(p, epoch), 0),
		)
	}
	return ops
}

// CreateTopic writes the topic's assignment, its config and every
// partition's initial state (leader, leader epoch and ISR taken from
// t.Partitions) in one transaction, so other brokers see all of it or
// nothing. It fills t.ID when zero and fails with ErrTopicExists if the
// name is taken. Each partition needs distinct replicas and a leader that
// is in its ISR, or Leader -1 (offline, for the controller to elect; note
// that the zero PartitionState means leader 0, not offline).
func (z *ZK) CreateTopic(t Topic) (Topic, error) {
	if err := validTopicName(t.Name); err != nil {
		return Topic{}, err
	}
	if err := validPartitions(t.Partitions); err != nil {
		return Topic{}, err
	}
	if t.ID == ([16]byte{}) {
		if _, err := rand.Read(t.ID[:]); err != nil {
			return Topic{}, err
		}
	}
	ops := []any{
		z.createRequest(z.abs(zkTopicPath(t.Name)), encodeAssignment(t.ID, t.Partitions), 0),
		z.createRequest(z.abs(zkPartitionsPath(t.Name)), nil, 0),
	}
	ops = append(ops, z.partitionOps(t.Name, 0, t.Partitions)...)
	// A config node can outlive its topic (written by other tools, or a
	// deletion that predates this store); overwrite it rather than fail.
	cfgPath := z.abs(zkTopicConfigPath(t.Name))
	cfgExists, _, err := z.conn.Exists(cfgPath)
	if err != nil {
		return Topic{}, fmt.Errorf("meta: create topic %s: %w", t.Name, err)
	}
	if cfgExists {
		ops = append(ops, &zk.SetDataRequest{Path: cfgPath, Data: encodeTopicConfig(t.Configs), Version: -1})
	} else {
		ops = append(ops, z.createRequest(cfgPath, encodeTopicConfig(t.Configs), 0))
	}
	res, err := z.conn.Multi(ops...)
	if err != nil {
		idx, ferr := firstMultiError(res, err)
		if idx == 0 && errors.Is(ferr, zk.ErrNodeExists) {
			return Topic{}, ErrTopicExists
		}
		return Topic{}, fmt.Errorf("meta: create topic %s: %w", t.Name, ferr)
	}
	id, n := t.ID, len(t.Partitions)
	z.awaitCache("create topic", func() bool {
		e, ok := z.topics[t.Name]
		return ok && e.id == id && len(e.replicas) >= n
	})
	if got, ok := z.Topic(t.Name); ok && got.ID == id {
		return got, nil
	}
	return t.Clone(), nil
}

// DeleteTopic removes the topic's assignment, partition states and config
// in one transaction and leaves a deletion marker
// /admin/delete_topics/<topic> holding the topic id. Brokers drop the
// topic when it leaves their cache; one that was down meanwhile finds the
// marker with PendingDeletions and deletes its logs, and the controller
// removes markers with ClearDeletion once every broker has.
func (z *ZK) DeleteTopic(name string) error {
	if err := validTopicName(name); err != nil {
		return ErrUnknownTopic
	}
	var id [16]byte
	var err error
	for range zkWriteAttempts {
		id, err = z.deleteTopicOnce(name)
		if !errors.Is(err, errRetryWrite) {
			break
		}
	}
	if err != nil {
		return err
	}
	z.awaitCache("delete topic", func() bool {
		e, ok := z.topics[name]
		return !ok || e.id != id
	})
	return nil
}

// errRetryWrite marks a transaction that lost a race and may be retried.
var errRetryWrite = errors.New("meta: concurrent change; retry")

func (z *ZK) deleteTopicOnce(name string) ([16]byte, error) {
	topicPath := z.abs(zkTopicPath(name))
	data, stat, err := z.conn.Get(topicPath)
	if errors.Is(err, zk.ErrNoNode) {
		return [16]byte{}, ErrUnknownTopic
	}
	if err != nil {
		return [16]byte{}, fmt.Errorf("meta: delete topic %s: %w", name, err)
	}
	id, replicas, err := decodeAssignment(data)
	if err != nil {
		return [16]byte{}, err
	}
	var holders []int32
	for _, rs := range replicas {
		holders = append(holders, rs...)
	}
	parts, _, err := z.conn.Children(z.abs(zkPartitionsPath(name)))
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return id, fmt.Errorf("meta: delete topic %s: %w", name, err)
	}
	var ops []any
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return id, fmt.Errorf("meta: delete topic %s: unexpected node %q under partitions", name, p)
		}
		ops = append(ops,
			&zk.DeleteRequest{Path: z.abs(zkPartitionStatePath(name, int32(n))), Version: -1},
			&zk.DeleteRequest{Path: z.abs(zkPartitionPath(name, int32(n))), Version: -1},
		)
	}
	if parts != nil {
		ops = append(ops, &zk.DeleteRequest{Path: z.abs(zkPartitionsPath(name)), Version: -1})
	}
	// The version check makes a concurrent AddPartitions (whose new nodes
	// this delete would miss) fail the transaction instead.
	ops = append(ops, &zk.DeleteRequest{Path: topicPath, Version: stat.Version})
	cfgPath := z.abs(zkTopicConfigPath(name))
	if ok, _, err := z.conn.Exists(cfgPath); err != nil {
		return id, fmt.Errorf("meta: delete topic %s: %w", name, err)
	} else if ok {
		ops = append(ops, &zk.DeleteRequest{Path: cfgPath, Version: -1})
	}
	markerPath := z.abs(zkDeleteTopicPath(name))
	old, mstat, err := z.conn.Get(markerPath)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		ops = append(ops, z.createRequest(markerPath, mustJSON(zkDeletion{Version: 1, TopicID: TopicIDString(id), Pending: brokerSet(holders)}), 0))
	case err != nil:
		return id, fmt.Errorf("meta: delete topic %s: %w", name, err)
	default:
		// An earlier incarnation's copies may still be out there: its
		// brokers stay pending. The version check makes a concurrent
		// acknowledgement retry this transaction instead of being lost.
		var prev zkDeletion
		if len(old) > 0 && json.Unmarshal(old, &prev) == nil {
			holders = append(holders, prev.Pending...)
		}
		marker := mustJSON(zkDeletion{Version: 1, TopicID: TopicIDString(id), Pending: brokerSet(holders)})
		ops = append(ops, &zk.SetDataRequest{Path: markerPath, Data: marker, Version: mstat.Version})
	}
	res, err := z.conn.Multi(ops...)
	if err == nil {
		return id, nil
	}
	_, ferr := firstMultiError(res, err)
	if errors.Is(ferr, zk.ErrBadVersion) || errors.Is(ferr, zk.ErrNoNode) ||
		errors.Is(ferr, zk.ErrNotEmpty) || errors.Is(ferr, zk.ErrNodeExists) {
		return id, fmt.Errorf("%w: delete topic %s: %v", errRetryWrite, name, ferr)
	}
	return id, fmt.Errorf("meta: delete topic %s: %w", name, ferr)
}

// AddPartitions appends partitions (with their initial states) to a topic:
// one transaction updates the assignment, conditional on its version, and
// creates the new state nodes.
func (z *ZK) AddPartitions(name string, parts []PartitionState) (Topic, error) {
	if err := validPartitions(parts); err != nil {
		return Topic{}, err
	}
	path := z.abs(zkTopicPath(name))
	for range zkWriteAttempts {
		data, stat, err := z.conn.Get(path)
		if errors.Is(err, zk.ErrNoNode) {
			return Topic{}, ErrUnknownTopic
		}
		if err != nil {
			return Topic{}, fmt.Errorf("meta: add partitions to %s: %w", name, err)
		}
		id, replicas, err := decodeAssignment(data)
		if err != nil {
			return Topic{}, err
		}
		all := make([]PartitionState, 0, len(replicas)+len(parts))
		for _, r := range replicas {
			all = append(all, PartitionState{Replicas: r})
		}
		all = append(all, parts...)
		ops := []any{&zk.SetDataRequest{Path: path, Data: encodeAssignment(id, all), Version: stat.Version}}
		ops = append(ops, z.partitionOps(name, len(replicas), parts)...)
		res, err := z.conn.Multi(ops...)
		if err != nil {
			if _, ferr := firstMultiError(res, err); errors.Is(ferr, zk.ErrBadVersion) {
				continue // another change to the assignment won; redo on top of it
			} else {
				return Topic{}, fmt.Errorf("meta: add partitions to %s: %w", name, ferr)
			}
		}
		n := len(all)
		z.awaitCache("add partitions", func() bool {
			e, ok := z.topics[name]
			return !ok || e.id != id || len(e.replicas) >= n
		})
		t, ok := z.Topic(name)
		if !ok {
			return Topic{}, ErrUnknownTopic
		}
		return t, nil
	}
	return Topic{}, fmt.Errorf("%w: add partitions to %s: assignment kept changing", ErrBadVersion, name)
}

// SetTopicConfigs replaces the topic's dynamic configs in
// /config/topics/<topic>.
func (z *ZK) SetTopicConfigs(name string, configs map[string]string) (Topic, error) {
	return z.UpdateTopicConfigs(name, func(map[string]string) (map[string]string, error) { return configs, nil })
}

// UpdateTopicConfigs implements Store: it reads /config/topics/<topic>
// with its version, edits, and writes conditional on that version (as
// Kafka's AdminZkClient does with its znode versions), re-reading and
// editing again when another broker's write got in between. Brokers
// answer alters from their own caches, which may lag each other, so only
// the znode version orders concurrent alters of one topic.
func (z *ZK) UpdateTopicConfigs(name string, edit ConfigEdit) (Topic, error) {
	topicPath, cfgPath := z.abs(zkTopicPath(name)), z.abs(zkTopicConfigPath(name))
	var mzxid int64
	var want map[string]string
	done := false
	for attempt := 0; attempt < zkConfigWriteAttempts && !done; attempt++ {
		cur := map[string]string{}
		data, stat, err := z.conn.Get(cfgPath)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			stat = nil
		case err != nil:
			return Topic{}, fmt.Errorf("meta: read configs of %s: %w", name, err)
		default:
			if cur, err = decodeTopicConfig(data); err != nil {
				return Topic{}, err
			}
		}
		next, err := edit(cur)
		if err != nil {
			return Topic{}, err
		}
		want = next
		enc := encodeTopicConfig(next)
		if stat != nil {
			// The check keeps configs from being written for a topic
			// deleted meanwhile.
			res, err := z.conn.Multi(
				&zk.CheckVersionRequest{Path: topicPath, Version: -1},
				&zk.SetDataRequest{Path: cfgPath, Data: enc, Version: stat.Version},
			)
			idx, ferr := firstMultiError(res, err)
			switch {
			case err == nil:
				mzxid, done = res[1].Stat.Mzxid, true
			case idx == 0 && errors.Is(ferr, zk.ErrNoNode):
				return Topic{}, ErrUnknownTopic
			case idx == 1 && (errors.Is(ferr, zk.ErrBadVersion) || errors.Is(ferr, zk.ErrNoNode)):
				// Another write won (or the node went away): redo the
				// edit on what is stored now.
			default:
				return Topic{}, fmt.Errorf("meta: set configs of %s: %w", name, ferr)
			}
			continue
		}
		// No config node yet. Creating it changes nothing other brokers
		// watch, so also rewrite the assignment unchanged: its watch fires
		// and their topic loops re-read the config.
		adata, astat, err := z.conn.Get(topicPath)
		if errors.Is(err, zk.ErrNoNode) {
			return Topic{}, ErrUnknownTopic
		}
		if err != nil {
			return Topic{}, fmt.Errorf("meta: set configs of %s: %w", name, err)
		}
		res, err := z.conn.Multi(
			&zk.SetDataRequest{Path: topicPath, Data: adata, Version: astat.Version},
			z.createRequest(cfgPath, enc, 0),
		)
		_, ferr := firstMultiError(res, err)
		switch {
		case err == nil:
			// One transaction: the created node's mzxid is the
			// assignment's.
			mzxid, done = res[0].Stat.Mzxid, true
		case errors.Is(ferr, zk.ErrNodeExists) || errors.Is(ferr, zk.ErrBadVersion):
			// Created by another broker, or the assignment changed:
			// start over from the stored state.
		case errors.Is(ferr, zk.ErrNoNode):
			return Topic{}, ErrUnknownTopic
		default:
			return Topic{}, fmt.Errorf("meta: set configs of %s: %w", name, ferr)
		}
	}
	if !done {
		return Topic{}, fmt.Errorf("%w: set configs of %s: they kept changing", ErrBadVersion, name)
	}
	z.awaitCache("set topic configs", func() bool {
		e, ok := z.topics[name]
		if !ok {
			return true
		}
		if mzxid != 0 {
			return e.configMzxid >= mzxid
		}
		return maps.Equal(e.configs, want) || (len(want) == 0 && len(e.configs) == 0)
	})
	t, ok := z.Topic(name)
	if !ok {
		return Topic{}, ErrUnknownTopic
	}
	return t, nil
}

// DeletedTopic is a deletion marker: a topic removed from the metadata
// whose logs brokers may still hold.
type DeletedTopic struct {
	Name string
	ID   [16]byte
	// Pending: the brokers that have not acknowledged deleting their
	// copies (AckDeletion). Empty for markers that do not say (Kafka's).
	Pending []int32
}

// brokerSet sorts ids and drops repeats.
func brokerSet(ids []int32) []int32 {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// PendingDeletions lists the deletion markers by name.
func (z *ZK) PendingDeletions() ([]DeletedTopic, error) {
	names, _, err := z.conn.Children(z.abs(zkDeleteTopicsPath))
	if err != nil {
		return nil, fmt.Errorf("meta: list deletions: %w", err)
	}
	sort.Strings(names)
	out := make([]DeletedTopic, 0, len(names))
	for _, name := range names {
		data, _, err := z.conn.Get(z.abs(zkDeleteTopicPath(name)))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("meta: read deletion of %s: %w", name, err)
		}
		d := DeletedTopic{Name: name}
		var m zkDeletion
		// Kafka's markers are empty: such a deletion has no known id.
		if len(data) > 0 && json.Unmarshal(data, &m) == nil && m.TopicID != "" {
			if id, err := ParseTopicID(m.TopicID); err == nil {
				d.ID = id
			}
			d.Pending = m.Pending
		}
		out = append(out, d)
	}
	return out, nil
}

// AckDeletion records that broker holds no copy of the deleted topic
// name any more: it leaves the marker's pending list, and the marker goes
// with the last one. A missing marker, or one that does not list the
// broker, is fine.
func (z *ZK) AckDeletion(name string, broker int32) error {
	if err := validTopicName(name); err != nil {
		return err
	}
	path := z.abs(zkDeleteTopicPath(name))
	for range zkWriteAttempts {
		data, stat, err := z.conn.Get(path)
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("meta: acknowledge deletion of %s: %w", name, err)
		}
		var m zkDeletion
		if json.Unmarshal(data, &m) != nil || !slices.Contains(m.Pending, broker) {
			return nil
		}
		m.Pending = slices.DeleteFunc(m.Pending, func(id int32) bool { return id == broker })
		if len(m.Pending) == 0 {
			err = z.conn.Delete(path, stat.Version)
		} else {
			_, err = z.conn.Set(path, mustJSON(m), stat.Version)
		}
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			continue // a concurrent deletion or acknowledgement: read again
		}
		if err != nil {
			return fmt.Errorf("meta: acknowledge deletion of %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("meta: acknowledge deletion of %s: %w", name, errRetryWrite)
}

// ClearDeletion removes a topic's deletion marker; a missing one is fine.
func (z *ZK) ClearDeletion(name string) error {
	if err := validTopicName(name); err != nil {
		return err
	}
	err := z.conn.Delete(z.abs(zkDeleteTopicPath(name)), -1)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("meta: clear deletion of %s: %w", name, err)
	}
	return nil
}
