package meta

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// SessionEventKind says what happened to the store's ZooKeeper session.
type SessionEventKind int

const (
	// SessionConnected: a session is established (the first one, or the
	// same one again after a reconnect: ephemeral nodes survived).
	SessionConnected SessionEventKind = iota + 1
	// SessionDisconnected: the connection dropped; the session may still be
	// alive on the server and the client is reconnecting.
	SessionDisconnected
	// SessionLost: disconnected for longer than the session timeout, so the
	// server has most likely expired the session. The store stops acting as
	// controller; replication should stop acting as leader too. Expiry is
	// only confirmed (SessionExpired) once a server is reachable again.
	SessionLost
	// SessionExpired: the server expired the session: this broker's
	// registration and controllership are gone, and every watch was reset.
	SessionExpired
	// SessionRecreated: a new session replaced the expired one and the
	// broker registered again; Err is set if the registration failed.
	SessionRecreated
)

func (k SessionEventKind) String() string {
	switch k {
	case SessionConnected:
		return "connected"
	case SessionDisconnected:
		return "disconnected"
	case SessionLost:
		return "lost"
	case SessionExpired:
		return "expired"
	case SessionRecreated:
		return "recreated"
	}
	return fmt.Sprintf("SessionEventKind(%d)", int(k))
}

// SessionEvent is one change of the store's ZooKeeper session.
type SessionEvent struct {
	Kind      SessionEventKind
	SessionID int64 // the session concerned; 0 when unknown
	Err       error
}

const (
	zkEventQueue    = 256 // client events not yet handled by the session loop
	zkSubscriberBuf = 64  // per SessionEvents subscriber
)

// zkSession tracks the session and fans its events out to subscribers.
type zkSession struct {
	queue        chan zk.Event // session events from the client callback
	firstSession chan struct{} // closed on the first established session
	firstOnce    sync.Once

	mu        sync.Mutex // guards the fields below
	id        int64      // latest session id, 0 before the first
	connected bool
	// registered is the session whose registration succeeded (0 before);
	// a missing registration is healed only on that session.
	registered int64
	subs       []chan SessionEvent
	closed     bool
}

func (s *zkSession) init() {
	s.queue = make(chan zk.Event, zkEventQueue)
	s.firstSession = make(chan struct{})
}

// SessionEvents subscribes to session events. Each call returns a new
// channel that receives every later event and is closed by Close. A
// subscriber that falls more than 64 events behind misses events (logged).
func (z *ZK) SessionEvents() <-chan SessionEvent {
	ch := make(chan SessionEvent, zkSubscriberBuf)
	z.sess.mu.Lock()
	defer z.sess.mu.Unlock()
	if z.sess.closed {
		close(ch)
		return ch
	}
	z.sess.subs = append(z.sess.subs, ch)
	return ch
}

// SessionID is the current ZooKeeper session id (0 before the first).
func (z *ZK) SessionID() int64 { return z.conn.SessionID() }

func (z *ZK) publishSession(ev SessionEvent) {
	z.log.Info("zookeeper session", "event", ev.Kind.String(), "session", fmt.Sprintf("0x%x", ev.SessionID), "err", ev.Err)
	z.sess.mu.Lock()
	defer z.sess.mu.Unlock()
	for _, ch := range z.sess.subs {
		select {
		case ch <- ev:
		default:
			z.log.Warn("session event subscriber is full; event dropped", "event", ev.Kind.String())
		}
	}
}

func (s *zkSession) closeSubscribers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, ch := range s.subs {
		close(ch)
	}
	s.subs = nil
}

// onZKEvent is the client's event callback. It runs on the client's own
// goroutines and must not block, so it only queues session events.
func (z *ZK) onZKEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	select {
	case z.sess.queue <- ev:
	default:
		z.log.Warn("zookeeper session event queue full; event dropped", "state", ev.State.String())
	}
}

// runSession reacts to session state changes: it re-registers the broker
// on a session that replaced an expired one, ends the controllership when
// the session is gone, and publishes SessionEvents.
func (z *ZK) runSession() {
	defer z.wg.Done()
	var lost *time.Timer
	var lostC <-chan time.Time
	stopLost := func() {
		if lost != nil {
			lost.Stop()
			lost, lostC = nil, nil
		}
	}
	defer stopLost()
	for {
		select {
		case <-z.done:
			return
		case <-lostC:
			lost, lostC = nil, nil
			z.endTerm("disconnected longer than the session timeout")
			z.publishSession(SessionEvent{Kind: SessionLost, SessionID: z.currentSessionID()})
		case ev := <-z.sess.queue:
			switch ev.State {
			case zk.StateHasSession:
				stopLost()
				z.onSession()
			case zk.StateDisconnected:
				z.sess.mu.Lock()
				was := z.sess.connected
				z.sess.connected = false
				z.sess.mu.Unlock()
				if was {
					z.publishSession(SessionEvent{Kind: SessionDisconnected, SessionID: z.currentSessionID()})
					stopLost()
					lost = time.NewTimer(z.opts.SessionTimeout)
					lostC = lost.C
				}
			case zk.StateExpired:
				stopLost()
				z.endTerm("session expired")
				z.publishSession(SessionEvent{Kind: SessionExpired, SessionID: z.currentSessionID()})
			}
		}
	}
}

func (z *ZK) currentSessionID() int64 {
	z.sess.mu.Lock()
	defer z.sess.mu.Unlock()
	return z.sess.id
}

// onSession handles an established session: the first, the same one after
// a reconnect, or a new one after expiry (which needs a new registration).
func (z *ZK) onSession() {
	sid := z.conn.SessionID()
	z.sess.mu.Lock()
	prev := z.sess.id
	z.sess.id = sid
	z.sess.connected = true
	z.sess.mu.Unlock()
	z.sess.firstOnce.Do(func() { close(z.sess.firstSession) })
	if prev == 0 || prev == sid {
		if prev == sid {
			if err := z.releaseOrphanController(); err != nil {
				z.log.Warn("releasing an orphaned controller node failed", "err", err)
			}
		}
		z.publishSession(SessionEvent{Kind: SessionConnected, SessionID: sid})
		return
	}
	// The old session's ephemeral nodes are gone once the server reports
	// expiry; waiting up to a session timeout covers a registration that
	// another broker with our id might still be releasing.
	err := z.register(z.opts.SessionTimeout)
	if err != nil {
		z.log.Error("re-registering broker after session expiry failed", "err", err)
	}
	z.publishSession(SessionEvent{Kind: SessionRecreated, SessionID: sid, Err: err})
}

// register creates this broker's ephemeral /brokers/ids/<id>. If another
// session holds the id it waits up to wait for that node to go away, then
// fails with a *BrokerIDTakenError.
func (z *ZK) register(wait time.Duration) error {
	self := z.Self()
	path := z.abs(zkBrokerPath(self.ID))
	deadline := time.Now().Add(wait)
	for {
		_, err := z.create(path, encodeBroker(self), zk.FlagEphemeral)
		if err == nil {
			z.markRegistered()
			return nil
		}
		if !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("meta: register broker %d: %w", self.ID, err)
		}
		exists, stat, wch, err := z.conn.ExistsW(path)
		if err != nil {
			return fmt.Errorf("meta: register broker %d: %w", self.ID, err)
		}
		if !exists {
			continue // released meanwhile; the creation watch is ours and harmless
		}
		if stat.EphemeralOwner == z.conn.SessionID() {
			// Our own node: an earlier create succeeded but its reply was
			// lost to a reconnect. Refresh the endpoint it carries.
			_, err := z.conn.Set(path, encodeBroker(self), -1)
			if err == nil {
				z.markRegistered()
			}
			return err
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return &BrokerIDTakenError{ID: self.ID, OwnerSession: stat.EphemeralOwner}
		}
		z.log.Info("broker id held by another session; waiting for it to expire", "owner", fmt.Sprintf("0x%x", stat.EphemeralOwner), "wait", remaining)
		t := time.NewTimer(remaining)
		select {
		case <-wch:
		case <-t.C:
		case <-z.done:
			t.Stop()
			return ErrClosed
		}
		t.Stop()
	}
}

// markRegistered records that the current session holds the registration.
func (z *ZK) markRegistered() {
	sid := z.conn.SessionID()
	z.sess.mu.Lock()
	z.sess.registered = sid
	z.sess.mu.Unlock()
}

// UpdateRegistration replaces this broker's registered endpoint (known only
// after the listener is bound, for example). The id cannot change.
func (z *ZK) UpdateRegistration(b Broker) error {
	z.selfMu.Lock()
	if b.ID != z.self.ID {
		z.selfMu.Unlock()
		return fmt.Errorf("%w: broker id is fixed at %d", ErrInvalid, z.self.ID)
	}
	z.self = b
	z.selfMu.Unlock()
	path := z.abs(zkBrokerPath(b.ID))
	exists, stat, err := z.conn.Exists(path)
	if err != nil {
		return fmt.Errorf("meta: update registration of broker %d: %w", b.ID, err)
	}
	if !exists {
		// The session expired; its re-creation registers the new endpoint.
		return fmt.Errorf("%w: broker %d is not registered right now", ErrNoSession, b.ID)
	}
	if stat.EphemeralOwner != z.conn.SessionID() {
		return &BrokerIDTakenError{ID: b.ID, OwnerSession: stat.EphemeralOwner}
	}
	// Delete and re-create in one transaction rather than set the data:
	// that fires the /brokers/ids children watch every broker already
	// holds, so nobody needs a watch per broker node.
	_, err = z.conn.Multi(
		&zk.DeleteRequest{Path: path, Version: -1},
		z.createRequest(path, encodeBroker(b), zk.FlagEphemeral),
	)
	if err != nil {
		return fmt.Errorf("meta: update registration of broker %d: %w", b.ID, err)
	}
	z.awaitCache("registration", func() bool {
		got, ok := z.brokers[b.ID]
		return ok && got.Host == b.Host && got.Port == b.Port
	})
	return nil
}

// SetSelf is UpdateRegistration for callers that treat the embedded and
// ZooKeeper stores alike; a failure is logged.
func (z *ZK) SetSelf(b Broker) {
	if err := z.UpdateRegistration(b); err != nil {
		z.log.Error("updating broker registration failed", "err", err)
	}
}
