package wasm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the engine-wide plugin budgets.
const (
	// DefaultMemoryBudgetBytes bounds the linear memory of all plugin
	// instances together. Without it each plugin could hold 2×GOMAXPROCS
	// instances of up to 64 MiB each.
	DefaultMemoryBudgetBytes = 512 << 20
	// DefaultBudgetWait is how long a call waits for budget to free up.
	DefaultBudgetWait = 500 * time.Millisecond
	// DefaultLogLinesPerSecond and DefaultLogBurst rate-limit each
	// plugin's output lines.
	DefaultLogLinesPerSecond = 10
	DefaultLogBurst          = 50
)

// ErrBudget is the failure kind of a call that found no plugin memory
// budget left to start an instance within BudgetWait.
var ErrBudget = errors.New("plugin memory budget exhausted")

// memoryBudget is a counting semaphore of bytes. Instances reserve their
// initial memory before they start (waiting briefly if need be) and every
// growth after that without waiting (a refused growth is the guest's
// out-of-memory); closing an instance returns all of it.
type memoryBudget struct {
	limit int64
	shed  func() // frees idle instances; called once per blocked reservation

	mu    sync.Mutex
	used  int64
	freed chan struct{} // closed (and replaced) whenever bytes are returned
}

func newMemoryBudget(limit int64, shed func()) *memoryBudget {
	return &memoryBudget{limit: limit, shed: shed, freed: make(chan struct{})}
}

func (b *memoryBudget) usedBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// tryReserve takes n bytes if they are free.
func (b *memoryBudget) tryReserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// reserve takes n bytes, shedding idle instances and then waiting up to
// wait for others to be returned.
func (b *memoryBudget) reserve(ctx context.Context, n int64, wait time.Duration) error {
	if n > b.limit {
		return fmt.Errorf("%w: an instance needs %s, the whole budget is %s", ErrBudget, sizeString(n), sizeString(b.limit))
	}
	if b.tryReserve(n) {
		return nil
	}
	if b.shed != nil {
		b.shed()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C:
			return fmt.Errorf("%w: %s of %s in use by plugin instances", ErrBudget, sizeString(b.usedBytes()), sizeString(b.limit))
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrBudget, ctx.Err())
		}
	}
}

func (b *memoryBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// reservation is one instance's share of the budget.
type reservation struct {
	budget *memoryBudget
	bytes  atomic.Int64
}

// grow reserves up to total bytes without waiting.
func (r *reservation) grow(total int64) bool {
	have := r.bytes.Load()
	if total <= have {
		return true
	}
	if !r.budget.tryReserve(total - have) {
		return false
	}
	r.bytes.Add(total - have)
	return true
}

// releaseAll returns everything reserved (idempotent).
func (r *reservation) releaseAll() { r.budget.release(r.bytes.Swap(0)) }

// logLimiter is a token bucket of output lines shared by a plugin's
// instances; what it refuses is counted, and the count reported in the
// log once lines flow again.
type logLimiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int64 // since the last report
	onDrop  func()
}

func newLogLimiter(rate float64, burst int, onDrop func()) *logLimiter {
	return &logLimiter{rate: rate, burst: float64(burst), tokens: float64(burst), onDrop: onDrop}
}

// allow takes a token; when it returns true, dropped is how many lines were
// refused since the last allowed one.
func (l *logLimiter) allow(now time.Time) (ok bool, dropped int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		if l.onDrop != nil {
			l.onDrop()
		}
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// sizeString writes n bytes in MiB, or KiB below one MiB.
func sizeString(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
