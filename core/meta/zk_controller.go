package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
)

// controllerTerm is one tenure of this broker as controller.
type controllerTerm struct {
	epoch int32
	// epochVersion is the znode version of /controller_epoch written by the
	// election that started this term. Writes fenced by the term check it,
	// so they fail once any later election has bumped the epoch.
	epochVersion int32
	session      int64         // the session that owns /controller
	lost         chan struct{} // closed when the term ends
}

// Campaign blocks until this broker is the controller, or ctx ends, and
// returns its controller epoch. Winning is one transaction: create the
// ephemeral /controller and bump /controller_epoch from the version just
// read, so two brokers can never both win the same epoch. A loser watches
// /controller and tries again when it goes away (the controller's session
// ended or it resigned). If this broker already is the controller, the
// current epoch is returned at once.
//
// The term ends (LeadershipLost is closed) on Resign, Close, session
// expiry, a disconnection longer than the session timeout, or when
// /controller no longer belongs to this session.
func (z *ZK) Campaign(ctx context.Context) (int32, error) {
	ctrl, epochPath := z.abs(zkControllerPath), z.abs(zkControllerEpochPath)
	self := z.Self().ID
	var backoff time.Duration
	for {
		if t := z.currentTerm(); t != nil {
			return t.epoch, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if z.closed() {
			return 0, ErrClosed
		}
		err := z.tryElection(ctx, self, ctrl, epochPath)
		switch {
		case err == nil:
			backoff = 0
		case errors.Is(err, ErrClosed), ctx.Err() != nil:
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, err
		default:
			backoff = nextBackoff(backoff)
			z.log.Debug("controller election attempt failed; retrying", "err", err, "backoff", backoff)
			if !z.sleep(backoff) {
				return 0, ErrClosed
			}
		}
	}
}

// tryElection makes one attempt: it wins (starting a term), or waits until
// the current controller goes away. A nil error means "look again".
func (z *ZK) tryElection(ctx context.Context, self int32, ctrl, epochPath string) error {
	data, stat, err := z.conn.Get(epochPath)
	if err != nil {
		return fmt.Errorf("meta: read controller epoch: %w", err)
	}
	epoch, err := decodeInt32(data)
	if err != nil {
		return err
	}
	res, err := z.conn.Multi(
		z.createRequest(ctrl, encodeController(self), zk.FlagEphemeral),
		&zk.SetDataRequest{Path: epochPath, Data: encodeInt32(epoch + 1), Version: stat.Version},
	)
	if err == nil {
		z.beginTerm(epoch+1, res[1].Stat.Version, z.conn.SessionID())
		return nil
	}
	_, ferr := firstMultiError(res, err)
	switch {
	case errors.Is(ferr, zk.ErrBadVersion):
		return nil // another election won meanwhile; look again
	case errors.Is(ferr, zk.ErrNodeExists):
		return z.awaitControllerGone(ctx, ctrl)
	default:
		return fmt.Errorf("meta: controller election: %w", err)
	}
}

// awaitControllerGone waits until /controller is deleted.
func (z *ZK) awaitControllerGone(ctx context.Context, ctrl string) error {
	exists, stat, wch, err := z.conn.ExistsW(ctrl)
	if err != nil {
		return fmt.Errorf("meta: watch controller: %w", err)
	}
	if !exists {
		return nil
	}
	if stat.EphemeralOwner == z.conn.SessionID() {
		// Ours, but no term holds it: an election whose reply was lost to
		// a reconnect, or a term ended while disconnected. Release it and
		// run a fresh election, so every term has its own epoch.
		return z.releaseOrphanController()
	}
	select {
	case <-wch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-z.done:
		return ErrClosed
	}
}

// beginTerm records a won election, watches /controller for its loss and
// waits until the cache shows this broker as controller, so ControllerID
// agrees with Campaign's result.
func (z *ZK) beginTerm(epoch, epochVersion int32, session int64) {
	t := &controllerTerm{epoch: epoch, epochVersion: epochVersion, session: session, lost: make(chan struct{})}
	z.termMu.Lock()
	z.term = t
	z.termMu.Unlock()
	z.log.Info("elected controller", "epoch", epoch)
	z.wg.Add(1)
	go z.watchTerm(t)
	self := z.Self().ID
	z.awaitCache("controller", func() bool { return z.controllerID == self && z.ctrlEpoch >= epoch })
}

// watchTerm ends t when /controller is deleted or owned by another session.
func (z *ZK) watchTerm(t *controllerTerm) {
	defer z.wg.Done()
	ctrl := z.abs(zkControllerPath)
	var backoff time.Duration
	for {
		exists, stat, wch, err := z.conn.ExistsW(ctrl)
		if err != nil {
			// Disconnected: the session loop ends the term on expiry or
			// after a session timeout without a connection.
			backoff = nextBackoff(backoff)
			if !z.sleep(backoff) {
				return
			}
			continue
		}
		backoff = 0
		if !exists || stat.EphemeralOwner != t.session {
			z.endTermIf(t, "controller node deleted or taken over")
			return
		}
		select {
		case <-wch:
		case <-t.lost:
			return
		case <-z.done:
			return
		}
	}
}

func (z *ZK) currentTerm() *controllerTerm {
	z.termMu.Lock()
	defer z.termMu.Unlock()
	return z.term
}

// endTerm ends the current term, if any.
func (z *ZK) endTerm(reason string) {
	if t := z.currentTerm(); t != nil {
		z.endTermIf(t, reason)
	}
}

// endTermIf ends t if it is still the current term.
func (z *ZK) endTermIf(t *controllerTerm, reason string) bool {
	z.termMu.Lock()
	if z.term != t {
		z.termMu.Unlock()
		return false
	}
	z.term = nil
	z.termMu.Unlock()
	close(t.lost)
	z.log.Info("controllership ended", "epoch", t.epoch, "reason", reason)
	return true
}

// IsController reports whether this broker currently holds the
// controllership, and with which epoch.
func (z *ZK) IsController() (epoch int32, ok bool) {
	if t := z.currentTerm(); t != nil {
		return t.epoch, true
	}
	return 0, false
}

// closedChan is returned by LeadershipLost when there is no term.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// LeadershipLost returns a channel closed when the current controller term
// ends; if this broker is not the controller it is already closed. Call it
// right after Campaign returns.
func (z *ZK) LeadershipLost() <-chan struct{} {
	if t := z.currentTerm(); t != nil {
		return t.lost
	}
	return closedChan
}

// Resign gives up the controllership: the term ends and /controller is
// deleted (if still this session's) so another broker is elected at once.
// Resigning without a term does nothing.
func (z *ZK) Resign() error {
	t := z.currentTerm()
	if t == nil || !z.endTermIf(t, "resigned") {
		return nil
	}
	ctrl := z.abs(zkControllerPath)
	exists, stat, err := z.conn.Exists(ctrl)
	if err != nil {
		return fmt.Errorf("meta: resign: %w", err)
	}
	// Only this session can delete its own ephemeral node, so nobody can
	// replace it between the check and the delete.
	if exists && stat.EphemeralOwner == t.session {
		if err := z.conn.Delete(ctrl, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("meta: resign: %w", err)
		}
	}
	return nil
}

// fencingTerm returns the current term if it has controllerEpoch, so the
// caller's write can be made conditional on that term still being current.
func (z *ZK) fencingTerm(controllerEpoch int32) *controllerTerm {
	if t := z.currentTerm(); t != nil && t.epoch == controllerEpoch {
		return t
	}
	return nil
}

// releaseOrphanController deletes /controller if this session owns it but
// no term does. That happens when a term ended because the connection was
// gone for a session timeout and the same session then came back: left
// alone, the node would block every election while nobody acts as
// controller.
func (z *ZK) releaseOrphanController() error {
	if z.currentTerm() != nil {
		return nil
	}
	ctrl := z.abs(zkControllerPath)
	exists, stat, err := z.conn.Exists(ctrl)
	if err != nil {
		return fmt.Errorf("meta: check controller: %w", err)
	}
	if !exists || stat.EphemeralOwner != z.conn.SessionID() {
		return nil
	}
	z.log.Info("releasing controller node left by an ended term")
	if err := z.conn.Delete(ctrl, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("meta: release controller: %w", err)
	}
	return nil
}
