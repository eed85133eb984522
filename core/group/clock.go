package group

import (
	"sync"
	"time"
)

// Clock is the coordinator's time source: session and rebalance timeouts
// are armed through it, so tests drive them with ManualClock instead of
// sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f on its own goroutine once d has elapsed, unless
	// the returned timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is an armed AfterFunc; *time.Timer is one.
type Timer interface {
	// Stop prevents the call; false if it already ran or was stopped.
	Stop() bool
}

// realClock is the wall clock, the default.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// ManualClock is a Clock that only moves when Advance is called: timers
// fire on the goroutine calling Advance, in deadline order (ties in the
// order they were armed), with Now reading each timer's deadline while it
// runs. Tests of timeouts are deterministic with it and need no sleeps.
//
// Unlike time.AfterFunc, a timer armed with d <= 0 does not fire by
// itself: it fires on the next Advance (Advance(0) included). The
// coordinator arms timers with its group locked, so firing inside
// AfterFunc would deadlock.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers map[*manualTimer]struct{}
}

// NewManualClock returns a clock reading start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, timers: map[*manualTimer]struct{}{}}
}

type manualTimer struct {
	c   *ManualClock
	at  time.Time
	seq uint64
	f   func()
}

// Now is the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms f to run when the clock has advanced by d.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{c: c, at: c.now.Add(max(d, 0)), seq: c.seq, f: f}
	c.timers[t] = struct{}{}
	return t
}

// Stop disarms the timer.
func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, armed := t.c.timers[t]
	delete(t.c.timers, t)
	return armed
}

// Advance moves the clock forward by d, running every timer that falls
// due on the way (including ones armed by the timers it runs). It returns
// how many ran.
func (c *ManualClock) Advance(d time.Duration) int {
	c.mu.Lock()
	target := c.now.Add(max(d, 0))
	c.mu.Unlock()
	ran := 0
	for {
		c.mu.Lock()
		var next *manualTimer
		for t := range c.timers {
			if t.at.After(target) {
				continue
			}
			if next == nil || t.at.Before(next.at) || (t.at.Equal(next.at) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return ran
		}
		delete(c.timers, next)
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f() // unlocked: f may arm or stop timers
		ran++
	}
}

// Pending is how many timers are armed.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextDeadline is the earliest armed timer's deadline (false if none).
func (c *ManualClock) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	found := false
	for t := range c.timers {
		if !found || t.at.Before(at) {
			at, found = t.at, true
		}
	}
	return at, found
}
