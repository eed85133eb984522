package group

import (
	"slices"
	"testing"
	"time"
)

// TestManualClock: timers fire in deadline order (ties in arming order)
// on the Advance that reaches them, with Now at their deadline; stopped
// timers never fire; timers armed by a firing timer fire in the same
// Advance when they fall due within it; d <= 0 waits for the next Advance.
func TestManualClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManualClock(start)
	var fired []string
	at := func(name string) func() {
		return func() { fired = append(fired, name+"@"+c.Now().Sub(start).String()) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(time.Second, at("a"))
	c.AfterFunc(time.Second, at("a2"))
	stopped := c.AfterFunc(2*time.Second, at("stopped"))
	c.AfterFunc(2*time.Second, func() {
		at("b")()
		c.AfterFunc(500*time.Millisecond, at("b-child")) // due at 2.5s
		c.AfterFunc(5*time.Second, at("late-child"))     // due at 7s
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should report true once, then false")
	}
	if n := c.Advance(999 * time.Millisecond); n != 0 || len(fired) != 0 {
		t.Fatalf("fired %v early", fired)
	}
	if n := c.Advance(2001 * time.Millisecond); n != 5 {
		t.Fatalf("%d fired: %v", n, fired)
	}
	want := []string{"a@1s", "a2@1s", "b@2s", "b-child@2.5s", "c@3s"}
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if got := c.Now().Sub(start); got != 3*time.Second {
		t.Fatalf("now %v after advancing 3s", got)
	}
	if next, ok := c.NextDeadline(); !ok || next.Sub(start) != 7*time.Second || c.Pending() != 1 {
		t.Fatalf("next deadline %v %v, pending %d", next.Sub(start), ok, c.Pending())
	}
	fired = nil
	c.AfterFunc(-time.Second, at("now"))
	if len(fired) != 0 {
		t.Fatal("a timer fired inside AfterFunc")
	}
	if n := c.Advance(0); n != 1 || !slices.Equal(fired, []string{"now@3s"}) {
		t.Fatalf("Advance(0) fired %d: %v", n, fired)
	}
}
