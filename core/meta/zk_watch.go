package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"
)

// The cache is fed by one goroutine per watched znode (see runWatch):
// /brokers/ids (children), /controller (data or existence),
// /brokers/topics (children), and per topic its assignment node, its
// config node and each partition's state node (data). ZooKeeper watches
// fire once, so each loop re-reads its node and re-arms the watch; after a
// session expiry every watch fires with EventNotWatching and the re-read
// arms it on the new session.

// zkTopicEntry is one cached topic. Its fields are guarded by ZK.mu, except
// stop, kicks and cfgKick, which only the topic's own loops touch.
type zkTopicEntry struct {
	name          string
	id            [16]byte
	replicas      [][]int32 // by partition
	states        []zkStateEntry
	configs       map[string]string
	assignVersion int32 // znode version of the assignment
	configMzxid   int64 // zxid of the config's last change seen

	stop    chan struct{}   // closed when the topic leaves the cache
	kicks   []chan struct{} // per partition loop: re-read now
	cfgKick chan struct{}   // the config loop: re-read now
}

type zkStateEntry struct {
	loaded  bool
	st      zkPartitionState
	version int32
	mzxid   int64
}

// topic builds the public view. ZK.mu must be held.
func (e *zkTopicEntry) topic() Topic {
	t := Topic{Name: e.name, ID: e.id, Partitions: make([]PartitionState, len(e.replicas)), Configs: make(map[string]string, len(e.configs))}
	for p, r := range e.replicas {
		ps := PartitionState{Replicas: append([]int32(nil), r...), Leader: -1}
		if p < len(e.states) && e.states[p].loaded {
			s := e.states[p].st
			ps.ISR = append([]int32(nil), s.ISR...)
			ps.Leader = s.Leader
			ps.LeaderEpoch = s.LeaderEpoch
			ps.Version = e.states[p].version
		}
		t.Partitions[p] = ps
	}
	for k, v := range e.configs {
		t.Configs[k] = v
	}
	return t
}

// errStopWatch ends a watch loop without a retry.
var errStopWatch = errors.New("meta: stop watching")

// refreshFunc re-reads a watched znode. pending is the loop's watch that
// has not fired yet, or nil; refresh must arm a new watch only when pending
// is nil (two watches on one node would double every later re-read) and
// returns the watch now armed.
type refreshFunc func(pending <-chan zk.Event) (<-chan zk.Event, error)

// runWatch re-runs refresh each time the watch wch fires or kick delivers,
// retrying with backoff while ZooKeeper is unreachable, until stop or the
// store closes or refresh returns errStopWatch.
func (z *ZK) runWatch(what string, wch <-chan zk.Event, kick, stop <-chan struct{}, refresh refreshFunc) {
	defer z.wg.Done()
	for {
		select {
		case <-wch:
			wch = nil
		case <-kick:
		case <-stop:
			return
		case <-z.done:
			return
		}
		var backoff time.Duration
		for {
			var err error
			wch, err = refresh(wch)
			if err == nil {
				break
			}
			if errors.Is(err, errStopWatch) || z.closed() {
				return
			}
			backoff = nextBackoff(backoff)
			// Debug while it is a blip (a reconnect fails a few reads); a
			// refresh failing at the longest backoff keeps this broker's
			// view stale, which an operator must see.
			level := slog.LevelDebug
			if backoff == zkRetryMax {
				level = slog.LevelWarn
			}
			z.log.Log(context.Background(), level, "zookeeper watch refresh failed; retrying", "watch", what, "err", err, "backoff", backoff)
			if !z.sleep(backoff) {
				return
			}
		}
	}
}

// spawnWatch starts runWatch in a goroutine tracked by z.wg.
func (z *ZK) spawnWatch(what string, wch <-chan zk.Event, kick, stop <-chan struct{}, refresh refreshFunc) {
	z.wg.Add(1)
	go z.runWatch(what, wch, kick, stop, refresh)
}

// startWatches loads the cache and starts the loops that keep it current.
// The first loads run here so OpenZK returns with a complete view.
func (z *ZK) startWatches() error {
	bw, err := z.refreshBrokers(nil)
	if err != nil {
		return err
	}
	cw, err := z.refreshController(nil)
	if err != nil {
		return err
	}
	tw, err := z.refreshTopics(nil)
	if err != nil {
		return err
	}
	z.spawnWatch("brokers", bw, z.periodicKick(brokerRelist), nil, z.refreshBrokers)
	z.spawnWatch("controller", cw, nil, nil, z.refreshController)
	z.spawnWatch("topics", tw, z.rescanTopics, nil, z.refreshTopics)
	return nil
}

// brokerRelist is how often the broker list is re-read besides its
// watch: it bounds how long a view can stay stale if a watch is ever lost
// (around a reconnect, say) and how long a deleted registration of this
// broker stays missing (see reregisterIfLost), for a few reads a period.
const brokerRelist = 5 * time.Second

// periodicKick returns a channel that delivers every d until the store
// closes (a runWatch kick; a kick already pending is not doubled).
func (z *ZK) periodicKick(d time.Duration) <-chan struct{} {
	kick := make(chan struct{}, 1)
	z.wg.Add(1)
	go func() {
		defer z.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				select {
				case kick <- struct{}{}:
				default:
				}
			case <-z.done:
				return
			}
		}
	}()
	return kick
}

func (z *ZK) refreshBrokers(pending <-chan zk.Event) (<-chan zk.Event, error) {
	path := z.abs(zkBrokerIDsPath)
	var ids []string
	var err error
	wch := pending
	if pending == nil {
		ids, _, wch, err = z.conn.ChildrenW(path)
	} else {
		ids, _, err = z.conn.Children(path)
	}
	if err != nil {
		return wch, fmt.Errorf("meta: list %s: %w", path, err)
	}
	brokers := make(map[int32]Broker, len(ids))
	sessions := make(map[int32]int64, len(ids))
	epochs := make(map[int32]int64, len(ids))
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			z.log.Warn("ignoring malformed broker registration", "node", s)
			continue
		}
		data, stat, err := z.conn.Get(z.abs(zkBrokerPath(int32(id))))
		if errors.Is(err, zk.ErrNoNode) {
			continue // went away since the listing; the watch fires again
		}
		if err != nil {
			return wch, fmt.Errorf("meta: read broker %d: %w", id, err)
		}
		b, err := decodeBroker(int32(id), data)
		if err != nil {
			z.log.Warn("ignoring malformed broker registration", "node", s, "err", err)
			continue
		}
		brokers[b.ID] = b
		sessions[b.ID] = stat.EphemeralOwner
		epochs[b.ID] = stat.Czxid
	}
	self := z.Self().ID
	if _, ok := brokers[self]; !ok {
		z.reregisterIfLost(ids)
	}
	z.mu.Lock()
	// A new registration is a restarted broker (a new broker epoch) even
	// when its endpoint is the same: the controller must hear of it.
	if !sameBrokers(z.brokers, brokers) || !maps.Equal(z.brokerEpoch, epochs) {
		z.brokers = brokers
		z.brokerSess = sessions
		z.brokerEpoch = epochs
		z.changedLocked()
	}
	z.mu.Unlock()
	return wch, nil
}

// reregisterIfLost registers this broker again when a listing of
// /brokers/ids lacks it while the session that registered it is still
// connected. ZooKeeper keeps the node for the session's life, so only
// someone deleting it (an operator cleaning up by hand, a tool) removes
// it; a broker no peer lists gets no replicas and clients never learn of
// it, with nothing to say why. Healing on the next re-list bounds that to
// a few seconds and the warning says it happened. Not while the session
// is down or being replaced: the session loop registers then.
func (z *ZK) reregisterIfLost(listed []string) {
	if z.closed() {
		return
	}
	z.sess.mu.Lock()
	connected, sid, registered := z.sess.connected, z.sess.id, z.sess.registered
	z.sess.mu.Unlock()
	if !connected || sid != registered || sid != z.conn.SessionID() {
		return
	}
	// The listing may predate the registration (a re-registration after
	// expiry races this re-list): only a node absent now is lost.
	if exists, _, err := z.conn.Exists(z.abs(zkBrokerPath(z.Self().ID))); err != nil || exists {
		return
	}
	z.log.Warn("own registration missing from the broker list; registering again", "listed", listed, "session", fmt.Sprintf("0x%x", sid))
	if err := z.register(0); err != nil {
		z.log.Error("re-registering a missing broker registration failed", "err", err)
	}
}

func sameBrokers(a, b map[int32]Broker) bool {
	if len(a) != len(b) {
		return false
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok || x.Host != y.Host || x.Port != y.Port || (x.Rack == nil) != (y.Rack == nil) || (x.Rack != nil && *x.Rack != *y.Rack) {
			return false
		}
	}
	return true
}

// refreshController reads /controller, watching its data while it exists
// and its creation while it does not.
func (z *ZK) refreshController(pending <-chan zk.Event) (<-chan zk.Event, error) {
	path := z.abs(zkControllerPath)
	var data []byte
	var err error
	wch := pending
	if pending == nil {
		data, _, wch, err = z.conn.GetW(path)
		if errors.Is(err, zk.ErrNoNode) {
			var exists bool
			exists, _, wch, err = z.conn.ExistsW(path)
			if err == nil && exists {
				// Created in between; wch now watches its data.
				data, _, err = z.conn.Get(path)
			} else if err == nil {
				err = zk.ErrNoNode
			}
		}
	} else {
		data, _, err = z.conn.Get(path)
	}
	id := int32(-1)
	switch {
	case errors.Is(err, zk.ErrNoNode):
	case err != nil:
		return wch, fmt.Errorf("meta: read %s: %w", path, err)
	default:
		var c zkController
		if jerr := json.Unmarshal(data, &c); jerr != nil {
			z.log.Warn("malformed controller node", "data", string(data), "err", jerr)
		} else {
			id = c.BrokerID
		}
	}
	epochData, _, err := z.conn.Get(z.abs(zkControllerEpochPath))
	if err != nil {
		return wch, fmt.Errorf("meta: read controller epoch: %w", err)
	}
	epoch, err := decodeInt32(epochData)
	if err != nil {
		return wch, err
	}
	z.mu.Lock()
	if z.controllerID != id || z.ctrlEpoch != epoch {
		z.controllerID, z.ctrlEpoch = id, epoch
		z.changedLocked()
	}
	z.mu.Unlock()
	return wch, nil
}

// refreshTopics lists /brokers/topics and starts watching topics not yet
// cached. A topic's own loop drops it when its node goes away.
func (z *ZK) refreshTopics(pending <-chan zk.Event) (<-chan zk.Event, error) {
	path := z.abs(zkTopicsPath)
	var names []string
	var err error
	wch := pending
	if pending == nil {
		names, _, wch, err = z.conn.ChildrenW(path)
	} else {
		names, _, err = z.conn.Children(path)
	}
	if err != nil {
		return wch, fmt.Errorf("meta: list %s: %w", path, err)
	}
	for _, name := range names {
		z.mu.RLock()
		_, known := z.topics[name]
		z.mu.RUnlock()
		if known {
			continue
		}
		if err := z.startTopic(name); err != nil {
			return wch, err
		}
	}
	return wch, nil
}

// startTopic loads a topic (assignment, partition states, config), arming
// their watches, publishes it to the cache and starts its loops. Only the
// topics loop calls it, so a topic is never started twice.
func (z *ZK) startTopic(name string) error {
	path := z.abs(zkTopicPath(name))
	data, stat, wch, err := z.conn.GetW(path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil // deleted since the listing
	}
	if err != nil {
		return fmt.Errorf("meta: read %s: %w", path, err)
	}
	id, replicas, err := decodeAssignment(data)
	if err != nil {
		// Leave it out; a later change to /brokers/topics retries.
		z.log.Error("ignoring topic with malformed assignment", "topic", name, "err", err)
		return nil
	}
	e := &zkTopicEntry{name: name, id: id, assignVersion: stat.Version, configs: map[string]string{},
		stop: make(chan struct{}), cfgKick: make(chan struct{}, 1)}
	z.growTopic(e, replicas)
	cfgRefresh := z.refreshConfig(e)
	cw, err := cfgRefresh(nil)
	if err != nil {
		e.cfgKick <- struct{}{} // the loop retries at once
	}

	z.mu.Lock()
	z.topics[name] = e
	z.changedLocked()
	z.mu.Unlock()

	z.spawnWatch("config "+name, cw, e.cfgKick, e.stop, cfgRefresh)
	z.spawnWatch("topic "+name, wch, nil, e.stop, z.refreshAssignment(e))
	return nil
}

// growTopic extends e to replicas, loading and watching the state of each
// new partition first, so the new partitions appear with their states.
// Only e's topic loop (or startTopic before it) calls it.
func (z *ZK) growTopic(e *zkTopicEntry, replicas [][]int32) {
	z.mu.Lock()
	old := len(e.states)
	for len(e.states) < len(replicas) {
		e.states = append(e.states, zkStateEntry{})
	}
	z.mu.Unlock()
	defer func() {
		z.mu.Lock()
		e.replicas = replicas
		z.changedIfCachedLocked(e)
		z.mu.Unlock()
	}()
	for p := old; p < len(replicas); p++ {
		kick := make(chan struct{}, 1)
		refresh := z.refreshState(e, int32(p))
		wch, err := refresh(nil)
		if err != nil {
			kick <- struct{}{} // the loop retries at once
		}
		e.kicks = append(e.kicks, kick)
		z.spawnWatch(fmt.Sprintf("state %s-%d", e.name, p), wch, kick, e.stop, refresh)
	}
}

// refreshAssignment follows a topic's assignment node: partitions added,
// or the topic deleted (possibly re-created under the same name, which
// counts as a new topic).
func (z *ZK) refreshAssignment(e *zkTopicEntry) refreshFunc {
	path := z.abs(zkTopicPath(e.name))
	return func(pending <-chan zk.Event) (<-chan zk.Event, error) {
		var data []byte
		var stat *zk.Stat
		var err error
		wch := pending
		if pending == nil {
			data, stat, wch, err = z.conn.GetW(path)
		} else {
			data, stat, err = z.conn.Get(path)
		}
		if errors.Is(err, zk.ErrNoNode) {
			z.dropTopic(e)
			return nil, errStopWatch
		}
		if err != nil {
			return wch, fmt.Errorf("meta: read %s: %w", path, err)
		}
		id, replicas, err := decodeAssignment(data)
		if err != nil {
			z.log.Error("malformed topic assignment; keeping the previous one", "topic", e.name, "err", err)
			return wch, nil
		}
		if id != e.id {
			// Deleted and re-created between two reads: start afresh.
			z.dropTopic(e)
			return nil, errStopWatch
		}
		z.mu.Lock()
		e.assignVersion = stat.Version
		z.mu.Unlock()
		if len(replicas) > len(e.states) {
			z.growTopic(e, replicas)
		} else {
			z.mu.Lock()
			e.replicas = replicas
			z.mu.Unlock()
		}
		z.publishTopic(e)
		// Nodes that were missing (a config created later) get re-read.
		for _, k := range e.kicks {
			kickLoop(k)
		}
		kickLoop(e.cfgKick)
		return wch, nil
	}
}

// refreshState follows one partition's state node. A missing node is not
// watched (that would leak a watch per partition of every deleted topic):
// the topic loop kicks the loop when the assignment changes.
func (z *ZK) refreshState(e *zkTopicEntry, p int32) refreshFunc {
	path := z.abs(zkPartitionStatePath(e.name, p))
	return func(pending <-chan zk.Event) (<-chan zk.Event, error) {
		data, stat, wch, err := z.getMaybeWatch(path, pending)
		if data == nil || err != nil {
			return wch, err
		}
		st, err := decodePartitionState(data)
		if err != nil {
			z.log.Error("malformed partition state; keeping the previous one", "topic", e.name, "partition", p, "err", err)
			return wch, nil
		}
		z.mu.Lock()
		cur := &e.states[p]
		if !cur.loaded || cur.mzxid != stat.Mzxid {
			*cur = zkStateEntry{loaded: true, st: st, version: stat.Version, mzxid: stat.Mzxid}
			z.changedIfCachedLocked(e)
		}
		z.mu.Unlock()
		return wch, nil
	}
}

// refreshConfig follows a topic's config node; like a state node, a
// missing one is re-read on a kick rather than watched.
func (z *ZK) refreshConfig(e *zkTopicEntry) refreshFunc {
	path := z.abs(zkTopicConfigPath(e.name))
	return func(pending <-chan zk.Event) (<-chan zk.Event, error) {
		data, stat, wch, err := z.getMaybeWatch(path, pending)
		if data == nil || err != nil {
			return wch, err
		}
		configs, err := decodeTopicConfig(data)
		if err != nil {
			z.log.Error("malformed topic config; keeping the previous one", "topic", e.name, "err", err)
			return wch, nil
		}
		z.mu.Lock()
		if e.configMzxid != stat.Mzxid {
			e.configs, e.configMzxid = configs, stat.Mzxid
			z.changedIfCachedLocked(e)
		}
		z.mu.Unlock()
		return wch, nil
	}
}

func (z *ZK) publishTopic(e *zkTopicEntry) {
	z.mu.Lock()
	z.changedIfCachedLocked(e)
	z.mu.Unlock()
}

// changedIfCachedLocked announces a change to e if e is the cached entry
// for its name (not one being loaded or already dropped).
func (z *ZK) changedIfCachedLocked(e *zkTopicEntry) {
	if z.topics[e.name] == e {
		z.changedLocked()
	}
}

// dropTopic removes e from the cache, stops its loops and has the topics
// loop re-list, in case the name was re-created meanwhile.
func (z *ZK) dropTopic(e *zkTopicEntry) {
	z.mu.Lock()
	if z.topics[e.name] == e {
		delete(z.topics, e.name)
		z.changedLocked()
	}
	z.mu.Unlock()
	close(e.stop)
	select {
	case z.rescanTopics <- struct{}{}:
	default:
	}
}

// kickLoop asks a loop to re-read; a kick already pending is enough.
func kickLoop(k chan struct{}) {
	select {
	case k <- struct{}{}:
	default:
	}
}

// getMaybeWatch reads path, setting a data watch unless one is already
// pending. A missing node is not an error and is not watched: it yields
// nil data (callers are kicked when the node may have appeared).
func (z *ZK) getMaybeWatch(path string, pending <-chan zk.Event) ([]byte, *zk.Stat, <-chan zk.Event, error) {
	var data []byte
	var stat *zk.Stat
	var err error
	wch := pending
	if pending == nil {
		data, stat, wch, err = z.conn.GetW(path)
	} else {
		data, stat, err = z.conn.Get(path)
	}
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return nil, nil, wch, nil
	case err != nil:
		return nil, nil, wch, fmt.Errorf("meta: read %s: %w", path, err)
	}
	if data == nil {
		data = []byte{} // an empty node is not a missing one
	}
	return data, stat, wch, nil
}
