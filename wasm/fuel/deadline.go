package fuel

import (
	"context"
	"errors"
	"time"
)

// The deadline of a call is checked by the guest itself: the checks
// Instrument adds call sluice.yield, implemented by Yield, at least every
// Refill bytes of guest code. Returning to Go there is what lets a garbage
// collection stop the world while a plugin spins, and the check is a clock
// read and a comparison: no timer or goroutine per call, no lock.

// ErrTimeout and ErrCanceled are what Yield panics with to trap the guest;
// wazero returns them wrapped from the call (match them with errors.Is).
var (
	ErrTimeout  = errors.New("plugin call deadline exceeded")
	ErrCanceled = errors.New("plugin call canceled")
)

// clockBase anchors Now on the monotonic clock.
var clockBase = time.Now()

// Now is a monotonic clock reading in nanoseconds, the unit of deadlines.
func Now() int64 { return int64(time.Since(clockBase)) }

// Call is the context one call runs under: the caller's, plus the call's
// deadline as a Now value (Expires) and the caller's Done channel fetched
// once (Stop). A
// host keeps one per instance and reuses it (pass its address to the
// call), so starting a call allocates nothing.
type Call struct {
	context.Context
	Expires int64
	Stop    <-chan struct{}
}

// Start readies c for a call under ctx that may run for timeout.
func (c *Call) Start(ctx context.Context, timeout time.Duration) {
	c.Context, c.Expires, c.Stop = ctx, Now()+int64(timeout), ctx.Done()
}

// Finish drops c's references to the caller's context.
func (c *Call) Finish() { c.Context, c.Stop = nil, nil }

// Yield is sluice.yield: () -> i32, as a wazero api.GoFunc. It traps the
// guest when its call's deadline has passed or the caller gave up, and
// otherwise returns the fuel to run on. Under a *Call it checks the
// call's deadline; under any other context (an instance's _initialize,
// say) that context's own deadline and cancellation.
func Yield(ctx context.Context, stack []uint64) {
	var err error
	if c, ok := ctx.(*Call); ok {
		err = Expired(c.Context, c.Expires, c.Stop)
	} else {
		err = ContextErr(ctx)
	}
	if err != nil {
		panic(err)
	}
	stack[0] = Refill
}

// Expired is the check of a call with deadline (a Now value) and done
// (ctx's Done channel, nil when it has none) under ctx: ErrTimeout,
// ErrCanceled, or nil while the call may go on. Yield uses it; hosts with
// a call context of their own call it from their yield.
func Expired(ctx context.Context, deadline int64, done <-chan struct{}) error {
	if Now() >= deadline {
		return ErrTimeout
	}
	if done != nil {
		select {
		case <-done:
			return ContextErr(ctx)
		default:
		}
	}
	return nil
}

// ContextErr maps a finished context to the error that traps the guest
// (ErrTimeout when its deadline passed, ErrCanceled otherwise), and a
// live one to nil.
func ContextErr(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return ErrTimeout
	}
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case err != nil:
		return ErrCanceled
	}
	return nil
}
